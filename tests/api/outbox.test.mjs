// The events outbox: each write appends exactly the expected rows, written
// by the same transaction as the change, and reads or refused writes append
// none.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  call,
  directConversation,
  eventsAfter,
  maxEventId,
  newClient,
  newClientId,
  queryValue,
  registerUser,
  registerUsers,
  startApiStack,
  uniqueUsername,
} from './support.mjs';

let stack;
let alice;
let bob;
let carol;

before(async () => {
  stack = await startApiStack();
  [alice, bob, carol] = await registerUsers(stack, 3, 'outbox');
});

after(async () => {
  await stack?.stop();
});

// Runs action and returns the events it appended.
async function eventsOf(action) {
  const start = await maxEventId(stack);
  const result = await action();
  return { result, events: await eventsAfter(stack, start) };
}

// Asserts that the event was written by the transaction that last wrote
// the row selected by rowSql (a query of one row's xmin).
async function assertSameTransaction(event, xminSql) {
  const xmin = await queryValue(stack, xminSql);
  assert.ok(xmin !== '', `no row for ${xminSql}`);
  // xmin is the 32-bit transaction id; the event's xid8 adds the epoch.
  assert.equal(String(BigInt(event.xid) % 4294967296n), xmin, `event xid ${event.xid}, row xmin ${xmin}`);
}

function sortedIds(ids) {
  return [...ids].sort((a, b) => a - b);
}

describe('conversation events', () => {
  test('direct creation appends one event', async () => {
    const { result, events } = await eventsOf(() => call(alice.client, 'POST', '/api/conversations', { member_ids: [bob.user.id] }));
    assert.equal(result.status, 201, result.text);
    const conversation = result.json.conversation;

    assert.equal(events.length, 1, JSON.stringify(events));
    const [event] = events;
    assert.equal(event.kind, 'conversation');
    assert.equal(event.conversation_id, conversation.id);
    assert.deepEqual(Object.keys(event.payload).sort(), ['conversation', 'member_ids']);
    assert.deepEqual(event.payload.conversation, conversation);
    assert.deepEqual(sortedIds(event.payload.member_ids), sortedIds([alice.user.id, bob.user.id]));
    await assertSameTransaction(event, `SELECT xmin::text FROM conversations WHERE id = ${conversation.id}`);

    // Asking again for the same pair appends nothing.
    const again = await eventsOf(() => call(bob.client, 'POST', '/api/conversations', { member_ids: [alice.user.id] }));
    assert.equal(again.result.status, 200);
    assert.deepEqual(again.events, []);
  });

  test('group creation appends one event', async () => {
    const { result, events } = await eventsOf(() =>
      call(alice.client, 'POST', '/api/conversations', { member_ids: [bob.user.id, carol.user.id], title: 'Outbox' }),
    );
    assert.equal(result.status, 201, result.text);
    assert.equal(events.length, 1);
    const [event] = events;
    assert.equal(event.kind, 'conversation');
    assert.equal(event.conversation_id, result.json.conversation.id);
    assert.deepEqual(event.payload.conversation, result.json.conversation);
    assert.deepEqual(sortedIds(event.payload.member_ids), sortedIds([alice.user.id, bob.user.id, carol.user.id]));
  });
});

describe('message events', () => {
  let conversation;

  before(async () => {
    conversation = await directConversation(alice, bob);
  });

  test('send appends one message event', async () => {
    const clientId = newClientId();
    const send = () => call(alice.client, 'POST', `/api/conversations/${conversation.id}/messages`, { client_id: clientId, body: 'evented' });
    const { result, events } = await eventsOf(send);
    assert.equal(result.status, 201, result.text);

    assert.equal(events.length, 1);
    const [event] = events;
    assert.equal(event.kind, 'message');
    assert.equal(event.conversation_id, conversation.id);
    // The payload is the message as its sender sees it, client_id and
    // seen_by included.
    assert.deepEqual(event.payload, { message: result.json.message });
    assert.equal(event.payload.message.client_id, clientId);
    assert.deepEqual(event.payload.message.seen_by, []);
    await assertSameTransaction(event, `SELECT xmin::text FROM messages WHERE id = ${result.json.message.id}`);

    const retry = await eventsOf(send);
    assert.equal(retry.result.status, 200);
    assert.deepEqual(retry.events, []);
  });

  test('refused sends append nothing', async () => {
    const outsider = await registerUser(stack, 'outsider');
    const path = `/api/conversations/${conversation.id}/messages`;
    const { events } = await eventsOf(async () => {
      await call(outsider.client, 'POST', path, { client_id: newClientId(), body: 'not a member' });
      await call(alice.client, 'POST', path, { client_id: newClientId(), body: '' });
      await call(alice.client, 'POST', path, { client_id: 'bad', body: 'x' });
      await call(newClient(stack), 'POST', path, { client_id: newClientId(), body: 'anonymous' });
    });
    assert.deepEqual(events, []);
  });

  test('concurrent sends append one each', async () => {
    const clientIds = Array.from({ length: 10 }, () => newClientId());
    const { result, events } = await eventsOf(() =>
      Promise.all(
        clientIds.flatMap((clientId, i) => {
          const body = { client_id: clientId, body: `burst ${i}` };
          const path = `/api/conversations/${conversation.id}/messages`;
          return [call(alice.client, 'POST', path, body), call(alice.client, 'POST', path, body)];
        }),
      ),
    );
    const created = result.filter((r) => r.status === 201).map((r) => r.json.message.id);
    assert.equal(created.length, 10, result.map((r) => r.status).join(','));
    assert.equal(events.length, 10);
    assert.deepEqual(sortedIds(events.map((e) => e.payload.message.id)), sortedIds(created));
    assert.ok(events.every((e) => e.kind === 'message'));
  });
});

describe('read and reaction events', () => {
  let conversation;
  let first;
  let second;

  before(async () => {
    conversation = await directConversation(alice, carol);
    const send = async (body) => {
      const res = await call(alice.client, 'POST', `/api/conversations/${conversation.id}/messages`, { client_id: newClientId(), body });
      return res.json.message;
    };
    first = await send('first');
    second = await send('second');
  });

  function markRead(upTo) {
    return call(carol.client, 'POST', `/api/conversations/${conversation.id}/read`, { up_to: upTo });
  }

  test('read appends one seen event', async () => {
    const { result, events } = await eventsOf(() => markRead(second.id));
    assert.equal(result.status, 204);
    assert.equal(events.length, 1);
    const [event] = events;
    assert.equal(event.kind, 'seen');
    assert.equal(event.conversation_id, conversation.id);
    assert.deepEqual(event.payload, { conversation_id: conversation.id, user_id: carol.user.id, up_to: second.id });
    await assertSameTransaction(
      event,
      `SELECT xmin::text FROM conversation_members WHERE conversation_id = ${conversation.id} AND user_id = ${carol.user.id}`,
    );
  });

  test('unchanged read appends nothing', async () => {
    const same = await eventsOf(() => markRead(second.id));
    assert.equal(same.result.status, 204);
    assert.deepEqual(same.events, []);

    const older = await eventsOf(() => markRead(first.id));
    assert.equal(older.result.status, 204);
    assert.deepEqual(older.events, []);
  });

  test('reaction appends one event per change', async () => {
    const path = `/api/messages/${first.id}/reactions/${encodeURIComponent('😮')}`;
    const on = await eventsOf(() => call(carol.client, 'PUT', path));
    assert.equal(on.result.status, 200);
    assert.equal(on.events.length, 1);
    assert.equal(on.events[0].kind, 'reaction');
    assert.equal(on.events[0].conversation_id, conversation.id);
    assert.deepEqual(on.events[0].payload, {
      conversation_id: conversation.id,
      message_id: first.id,
      user_id: carol.user.id,
      emoji: '😮',
      on: true,
      reactions: { '😮': 1 },
    });
    await assertSameTransaction(
      on.events[0],
      `SELECT xmin::text FROM reactions WHERE message_id = ${first.id} AND user_id = ${carol.user.id}`,
    );

    const twice = await eventsOf(() => call(carol.client, 'PUT', path));
    assert.equal(twice.result.status, 200);
    assert.deepEqual(twice.events, []);

    const off = await eventsOf(() => call(carol.client, 'DELETE', path));
    assert.equal(off.result.status, 200);
    assert.equal(off.events.length, 1);
    assert.deepEqual(off.events[0].payload, {
      conversation_id: conversation.id,
      message_id: first.id,
      user_id: carol.user.id,
      emoji: '😮',
      on: false,
      reactions: {},
    });

    const offTwice = await eventsOf(() => call(carol.client, 'DELETE', path));
    assert.equal(offTwice.result.status, 200);
    assert.deepEqual(offTwice.events, []);
  });

  test('concurrent same reaction appends one', async () => {
    const path = `/api/messages/${second.id}/reactions/${encodeURIComponent('👍')}`;
    const { result, events } = await eventsOf(() => Promise.all(Array.from({ length: 8 }, () => call(carol.client, 'PUT', path))));
    assert.deepEqual([...new Set(result.map((r) => r.status))], [200]);
    for (const res of result) assert.deepEqual(res.json, { reactions: { '👍': 1 }, my_reactions: ['👍'] });
    assert.equal(events.length, 1, JSON.stringify(events));
    assert.equal(events[0].payload.on, true);
  });

  test('refused reactions append nothing', async () => {
    const outsider = await registerUser(stack, 'stranger');
    const { events } = await eventsOf(async () => {
      await call(outsider.client, 'PUT', `/api/messages/${first.id}/reactions/${encodeURIComponent('🔥')}`);
      await call(carol.client, 'PUT', `/api/messages/${first.id}/reactions/${encodeURIComponent('😀')}`);
      await call(carol.client, 'PUT', `/api/messages/987654321/reactions/${encodeURIComponent('🔥')}`);
    });
    assert.deepEqual(events, []);
  });
});

describe('other requests', () => {
  test('auth and reads append nothing', async () => {
    const { events } = await eventsOf(async () => {
      const account = await registerUser(stack, 'quiet');
      await call(newClient(stack), 'POST', '/api/auth/login', { username: account.username, password: account.password });
      await call(newClient(stack), 'POST', '/api/auth/login', { username: uniqueUsername('nobody'), password: 'password1' });
      await call(account.client, 'GET', '/api/me');
      await call(account.client, 'GET', '/api/conversations');
      await call(account.client, 'GET', `/api/users?q=${account.username.slice(0, 3)}`);
      await call(account.client, 'POST', '/api/auth/logout');
    });
    assert.deepEqual(events, []);
  });
});
