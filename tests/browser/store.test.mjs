// Unit tests of the client's store, socket backoff and typing sender. They
// run in node without a browser.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { backoffDelay, BACKOFF_MAX_MS, createSocket } from '../../www/js/socket.js';
import { createStore, TYPING_TIMEOUT_MS } from '../../www/js/store.js';
import { createTypingSender } from '../../www/js/typing.js';

const ME = { id: 1, username: 'alice', display_name: 'Alice', online: true, last_seen_at: null };
const BOB = { id: 2, username: 'bob', display_name: 'Bob', online: false, last_seen_at: '2026-12-01T10:00:00.000Z' };

function message(id, senderId, extra = {}) {
  return {
    id,
    conversation_id: 5,
    sender_id: senderId,
    body: `message ${id}`,
    image: null,
    created_at: `2026-12-01T10:00:${String(id).padStart(2, '0')}.000Z`,
    reactions: {},
    my_reactions: [],
    ...extra,
  };
}

function conversation(extra = {}) {
  return {
    id: 5,
    kind: 'direct',
    title: null,
    members: [ME, BOB],
    last_message: null,
    unread_count: 0,
    last_read_message_id: null,
    updated_at: '2026-12-01T09:00:00.000Z',
    ...extra,
  };
}

function storeWithConversation(extra = {}) {
  const store = createStore();
  store.setMe(ME);
  store.upsertConversation(conversation(extra));
  return store;
}

test('pending message replaced by REST reply', () => {
  const store = storeWithConversation();
  store.addPending(5, { clientId: 'c-1', body: 'hi' });
  assert.equal(store.messages(5).length, 1);
  assert.equal(store.deliveryState(store.messages(5)[0]), 'pending');

  store.upsertMessage(message(10, 1, { client_id: 'c-1', body: 'hi' }));
  const list = store.messages(5);
  assert.equal(list.length, 1);
  assert.equal(list[0].id, 10);
  assert.equal(store.deliveryState(list[0]), 'sent');
});

test('socket echo then REST reply shows once', () => {
  const store = storeWithConversation();
  store.addPending(5, { clientId: 'c-1', body: 'hi' });
  store.applyEvent({ type: 'message', event_id: 'e1', message: message(10, 1, { client_id: 'c-1', body: 'hi' }) });
  store.upsertMessage(message(10, 1, { client_id: 'c-1', body: 'hi' }));
  assert.deepEqual(store.messages(5).map((item) => item.id), [10]);
  assert.equal(store.conversation(5).unread_count, 0);
});

test('failure after socket echo keeps sent', () => {
  const store = storeWithConversation();
  store.addPending(5, { clientId: 'c-1', body: 'hi' });
  store.applyEvent({ type: 'message', event_id: 'e1', message: message(10, 1, { client_id: 'c-1' }) });
  store.markSendFailed(5, 'c-1', new Error('timeout'));
  assert.equal(store.messages(5)[0].status, 'sent');
});

test('failed message retried and discarded', () => {
  const store = storeWithConversation();
  store.addPending(5, { clientId: 'c-1', body: 'hi' });
  store.markSendFailed(5, 'c-1', new Error('offline'));
  assert.equal(store.deliveryState(store.messages(5)[0]), 'failed');
  assert.equal(store.messages(5)[0].error, 'offline');

  store.markSending(5, 'c-1');
  assert.equal(store.deliveryState(store.messages(5)[0]), 'pending');
  store.markSendFailed(5, 'c-1', new Error('offline'));
  store.discardPending(5, 'c-1');
  assert.equal(store.messages(5).length, 0);
});

test('pending messages sort after stored ones', () => {
  const store = storeWithConversation();
  store.addPending(5, { clientId: 'c-1', body: 'first' });
  store.addPending(5, { clientId: 'c-2', body: 'second' });
  store.upsertMessage(message(3, 2));
  assert.deepEqual(store.messages(5).map((item) => item.body), ['message 3', 'first', 'second']);
});

test('history pages merge without duplicates', () => {
  const store = storeWithConversation();
  store.addMessagesPage(5, { messages: [message(4, 2), message(3, 1)], next_cursor: 'c3' });
  assert.deepEqual(store.history(5), { loaded: true, hasMore: true, cursor: 'c3' });
  store.addMessagesPage(5, { messages: [message(3, 1), message(2, 2), message(1, 1)], next_cursor: null }, { older: true });
  assert.deepEqual(store.messages(5).map((item) => item.id), [1, 2, 3, 4]);
  assert.equal(store.history(5).hasMore, false);
});

test('same created_at ordered by id', () => {
  const store = storeWithConversation();
  const at = '2026-12-01T10:00:00.000Z';
  store.addMessagesPage(5, { messages: [message(9, 2, { created_at: at }), message(7, 2, { created_at: at })], next_cursor: null });
  store.upsertMessage(message(8, 2, { created_at: at }));
  assert.deepEqual(store.messages(5).map((item) => item.id), [7, 8, 9]);
});

test('message event counts unread once', () => {
  const store = storeWithConversation();
  const event = { type: 'message', event_id: 'e1', message: message(10, 2) };
  store.applyEvent(event);
  store.applyEvent(event);
  assert.equal(store.conversation(5).unread_count, 1);
  assert.equal(store.lastEventId, 'e1');
});

test('own message event adds no unread', () => {
  const store = storeWithConversation();
  store.applyEvent({ type: 'message', event_id: 'e1', message: message(10, 1, { client_id: 'x' }) });
  assert.equal(store.conversation(5).unread_count, 0);
});

test('replayed message already in snapshot not counted', () => {
  const store = storeWithConversation({ last_message: message(10, 2), unread_count: 1 });
  store.applyEvent({ type: 'message', event_id: 'e1', message: message(10, 2) });
  assert.equal(store.conversation(5).unread_count, 1);
});

test('message for unknown conversation asks fetch', () => {
  const store = storeWithConversation();
  const result = store.applyEvent({ type: 'message', event_id: 'e1', message: { ...message(1, 2), conversation_id: 99 } });
  assert.equal(result.fetchConversation, 99);
});

test('conversation list newest activity first', () => {
  const store = createStore();
  store.setMe(ME);
  store.upsertConversation(conversation({ id: 1, updated_at: '2026-12-01T09:00:00.000Z' }));
  store.upsertConversation(conversation({ id: 2, updated_at: '2026-12-01T08:00:00.000Z' }));
  assert.deepEqual(store.conversationList().map((item) => item.id), [1, 2]);
  store.applyEvent({ type: 'message', event_id: 'e1', message: { ...message(1, 2), conversation_id: 2 } });
  assert.deepEqual(store.conversationList().map((item) => item.id), [2, 1]);
});

test('markRead lowers unread count', () => {
  const store = storeWithConversation({ unread_count: 3 });
  store.addMessagesPage(5, { messages: [message(3, 2), message(2, 2), message(1, 2)], next_cursor: null });
  assert.equal(store.markRead(5, 2), true);
  assert.equal(store.conversation(5).unread_count, 1);
  assert.equal(store.markRead(5, 1), false);
  assert.equal(store.conversation(5).last_read_message_id, 2);
  store.markRead(5, 3);
  assert.equal(store.conversation(5).unread_count, 0);
});

test('seen event from other marks seen', () => {
  const store = storeWithConversation();
  store.upsertMessage(message(10, 1, { client_id: 'a', seen_by: [] }));
  store.upsertMessage(message(11, 1, { client_id: 'b', seen_by: [] }));
  store.applyEvent({ type: 'seen', event_id: 'e2', conversation_id: 5, user_id: 2, up_to: 10 });
  const [first, second] = store.messages(5);
  assert.equal(store.deliveryState(first), 'seen');
  assert.equal(store.deliveryState(second), 'sent');
});

test('seen event from me moves my cursor', () => {
  const store = storeWithConversation({ unread_count: 1 });
  store.applyEvent({ type: 'message', event_id: 'e1', message: message(10, 2) });
  store.applyEvent({ type: 'seen', event_id: 'e2', conversation_id: 5, user_id: 1, up_to: 10 });
  assert.equal(store.conversation(5).unread_count, 0);
  assert.equal(store.deliveryState(store.messages(5)[0]), null);
});

test('seen_by in REST marks seen', () => {
  const store = storeWithConversation();
  store.addMessagesPage(5, { messages: [message(10, 1, { client_id: 'a', seen_by: [2] })], next_cursor: null });
  assert.equal(store.deliveryState(store.messages(5)[0]), 'seen');
});

test('reaction event updates counts and mine', () => {
  const store = storeWithConversation();
  store.upsertMessage(message(10, 2));
  store.applyEvent({ type: 'reaction', event_id: 'e3', conversation_id: 5, message_id: 10, user_id: 1, emoji: '🔥', on: true, reactions: { '🔥': 2 } });
  assert.deepEqual(store.messages(5)[0].reactions, { '🔥': 2 });
  assert.deepEqual(store.messages(5)[0].my_reactions, ['🔥']);
  store.applyEvent({ type: 'reaction', event_id: 'e4', conversation_id: 5, message_id: 10, user_id: 2, emoji: '🔥', on: false, reactions: { '🔥': 1 } });
  assert.deepEqual(store.messages(5)[0].my_reactions, ['🔥']);
  assert.deepEqual(store.messages(5)[0].reactions, { '🔥': 1 });
});

test('typing expires after timeout', () => {
  const store = storeWithConversation();
  store.applyEvent({ type: 'typing', conversation_id: 5, user_id: 2, typing: true }, 1000);
  assert.deepEqual(store.typingUserIds(5, 1000 + TYPING_TIMEOUT_MS - 1), [2]);
  assert.deepEqual(store.typingUserIds(5, 1000 + TYPING_TIMEOUT_MS), []);
  store.applyEvent({ type: 'typing', conversation_id: 5, user_id: 2, typing: true }, 1000);
  store.applyEvent({ type: 'typing', conversation_id: 5, user_id: 2, typing: false }, 1500);
  assert.deepEqual(store.typingUserIds(5, 1500), []);
  assert.equal(store.lastEventId, null);
});

test('message from typist clears typing', () => {
  const store = storeWithConversation();
  store.applyEvent({ type: 'typing', conversation_id: 5, user_id: 2, typing: true }, Date.now());
  store.applyEvent({ type: 'message', event_id: 'e1', message: message(10, 2) });
  assert.deepEqual(store.typingUserIds(5), []);
});

test('presence updates user', () => {
  const store = storeWithConversation();
  store.applyEvent({ type: 'presence', user_id: 2, online: true });
  assert.equal(store.user(2).online, true);
  assert.equal(store.user(2).last_seen_at, BOB.last_seen_at);
  store.applyEvent({ type: 'presence', user_id: 2, online: false, last_seen_at: '2026-12-02T00:00:00.000Z' });
  assert.equal(store.user(2).last_seen_at, '2026-12-02T00:00:00.000Z');
});

test('conversation event without me removes it', () => {
  const store = storeWithConversation();
  store.applyEvent({ type: 'conversation', event_id: 'e5', conversation: conversation({ kind: 'group', title: 'x', members: [BOB, { ...BOB, id: 3 }] }) });
  assert.equal(store.conversation(5), null);
});

test('conversation event keeps live presence', () => {
  const store = createStore();
  store.setMe(ME);
  store.upsertUsers([{ ...BOB, online: true }]);
  const result = store.applyEvent({ type: 'conversation', event_id: 'e5', conversation: conversation({ members: [ME, BOB] }) });
  assert.equal(store.user(2).online, true);
  assert.equal(result.fetchConversation, 5);
  const again = store.applyEvent({ type: 'conversation', event_id: 'e6', conversation: conversation({ members: [ME, BOB] }) });
  assert.equal(again.fetchConversation, undefined);
});

test('unknown event type ignored', () => {
  const store = storeWithConversation();
  store.applyEvent({ type: 'future_thing', event_id: 'e9' });
  assert.equal(store.lastEventId, null);
});

test('backoff doubles and caps', () => {
  assert.equal(backoffDelay(0, () => 1), 500);
  assert.equal(backoffDelay(0, () => 0), 250);
  assert.equal(backoffDelay(3, () => 1), 4000);
  assert.equal(backoffDelay(30, () => 1), BACKOFF_MAX_MS);
  assert.equal(backoffDelay(30, () => 0), BACKOFF_MAX_MS / 2);
});

class FakeWebSocket {
  static instances = [];

  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    FakeWebSocket.instances.push(this);
  }

  send(data) {
    this.sent.push(JSON.parse(data));
  }

  close() {
    this.readyState = 3;
    this.onclose?.();
  }

  open() {
    this.readyState = 1;
    this.onopen?.();
  }

  receive(frame) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
}

test('socket resumes from last event', (context) => {
  context.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  FakeWebSocket.instances = [];
  let resumePoint = null;
  const hellos = [];
  const events = [];
  const socket = createSocket({
    url: 'ws://test/ws',
    getResumePoint: () => resumePoint,
    onHello: (frame, info) => hellos.push(info.resumed),
    onEvent: (frame) => {
      events.push(frame);
      resumePoint = frame.event_id;
    },
    WebSocketImpl: FakeWebSocket,
    random: () => 1,
  });
  socket.start();

  const first = FakeWebSocket.instances[0];
  first.open();
  assert.deepEqual(first.sent, []);
  first.receive({ type: 'hello', user_id: 1, last_event_id: 'p0' });
  assert.deepEqual(first.sent, [{ type: 'ping' }], 'a socket that does not resume pings after hello');
  first.receive({ type: 'message', event_id: 'p1', message: {} });
  first.close();

  context.mock.timers.tick(500);
  const second = FakeWebSocket.instances[1];
  assert.ok(second, 'reconnects after the first backoff');
  second.open();
  assert.deepEqual(second.sent, [{ type: 'resume', last_event_id: 'p1' }]);
  second.receive({ type: 'hello', user_id: 1, last_event_id: 'p9' });
  assert.deepEqual(second.sent, [{ type: 'resume', last_event_id: 'p1' }], 'no ping after a resume');
  assert.deepEqual(hellos, [false, true]);
  assert.equal(events.length, 1);
  socket.stop();
});

test('socket pings and drops silent link', (context) => {
  context.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  FakeWebSocket.instances = [];
  const socket = createSocket({
    url: 'ws://test/ws',
    getResumePoint: () => null,
    onHello: () => {},
    onEvent: () => {},
    WebSocketImpl: FakeWebSocket,
    random: () => 1,
  });
  socket.start();
  const first = FakeWebSocket.instances[0];
  first.open();
  first.receive({ type: 'hello', user_id: 1, last_event_id: 'p0' });
  assert.deepEqual(first.sent, [{ type: 'ping' }]);
  first.receive({ type: 'pong' });
  context.mock.timers.tick(25000);
  assert.deepEqual(first.sent, [{ type: 'ping' }, { type: 'ping' }]);
  context.mock.timers.tick(10000);
  assert.equal(first.readyState, 3);
  context.mock.timers.tick(500);
  assert.equal(FakeWebSocket.instances.length, 2);
  socket.stop();
});

test('typing sender refreshes and stops', (context) => {
  context.mock.timers.enable({ apis: ['setTimeout'] });
  let clock = 0;
  const frames = [];
  const typing = createTypingSender({ send: (frame) => frames.push(frame), now: () => clock });
  typing.input(5, 'h');
  clock = 1000;
  typing.input(5, 'he');
  clock = 3000;
  typing.input(5, 'hel');
  typing.input(5, '');
  assert.deepEqual(frames.map((frame) => frame.typing), [true, true, false]);
  typing.input(5, 'again');
  typing.input(6, 'other');
  assert.deepEqual(frames.slice(3), [
    { type: 'typing', conversation_id: 5, typing: true },
    { type: 'typing', conversation_id: 5, typing: false },
    { type: 'typing', conversation_id: 6, typing: true },
  ]);
  context.mock.timers.tick(5000);
  assert.deepEqual(frames[frames.length - 1], { type: 'typing', conversation_id: 6, typing: false });
});
