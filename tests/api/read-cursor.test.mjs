// The read cursor: POST /api/conversations/{id}/read, unread counts and
// seen_by.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  assertError,
  call,
  directConversation,
  groupConversation,
  newClient,
  queryValue,
  registerUsers,
  sendMessage,
  startApiStack,
} from './support.mjs';

let stack;

before(async () => {
  stack = await startApiStack();
});

after(async () => {
  await stack?.stop();
});

function markRead(account, conversationId, upTo) {
  return call(account.client, 'POST', `/api/conversations/${conversationId}/read`, { up_to: upTo });
}

async function conversationOf(account, conversationId) {
  const res = await call(account.client, 'GET', `/api/conversations/${conversationId}`);
  assert.equal(res.status, 200, res.text);
  return res.json.conversation;
}

async function historyOf(account, conversationId) {
  const res = await call(account.client, 'GET', `/api/conversations/${conversationId}/messages?limit=100`);
  assert.equal(res.status, 200, res.text);
  return new Map(res.json.messages.map((m) => [m.id, m]));
}

async function storedCursor(conversationId, userId) {
  return queryValue(
    stack,
    `SELECT coalesce(last_read_message_id::text, 'null') FROM conversation_members
     WHERE conversation_id = ${conversationId} AND user_id = ${userId}`,
  );
}

describe('cursor moves', () => {
  let alice;
  let bob;
  let conversation;
  let messages;

  before(async () => {
    [alice, bob] = await registerUsers(stack, 2, 'reader');
    conversation = await directConversation(alice, bob);
    messages = [];
    for (const body of ['one', 'two', 'three', 'four']) messages.push(await sendMessage(alice.client, conversation.id, body));
  });

  test('unread before reading', async () => {
    const seen = await conversationOf(bob, conversation.id);
    assert.equal(seen.unread_count, 4);
    assert.equal(seen.last_read_message_id, null);
    // The sender's own messages are never unread for the sender.
    assert.equal((await conversationOf(alice, conversation.id)).unread_count, 0);
  });

  test('read moves cursor forward', async () => {
    const res = await markRead(bob, conversation.id, messages[1].id);
    assert.equal(res.status, 204, res.text);
    assert.equal(res.text, '');

    const seen = await conversationOf(bob, conversation.id);
    assert.equal(seen.unread_count, 2);
    assert.equal(seen.last_read_message_id, messages[1].id);
    assert.equal(await storedCursor(conversation.id, bob.user.id), String(messages[1].id));
  });

  test('smaller up_to changes nothing', async () => {
    const res = await markRead(bob, conversation.id, messages[0].id);
    assert.equal(res.status, 204, res.text);
    const seen = await conversationOf(bob, conversation.id);
    assert.equal(seen.unread_count, 2);
    assert.equal(seen.last_read_message_id, messages[1].id);
    assert.equal(await storedCursor(conversation.id, bob.user.id), String(messages[1].id));

    const same = await markRead(bob, conversation.id, messages[1].id);
    assert.equal(same.status, 204);
    assert.equal(await storedCursor(conversation.id, bob.user.id), String(messages[1].id));
  });

  test('seen_by shows readers to sender', async () => {
    const mine = await historyOf(alice, conversation.id);
    assert.deepEqual(mine.get(messages[0].id).seen_by, [bob.user.id]);
    assert.deepEqual(mine.get(messages[1].id).seen_by, [bob.user.id]);
    assert.deepEqual(mine.get(messages[2].id).seen_by, []);
    assert.deepEqual(mine.get(messages[3].id).seen_by, []);

    const theirs = await historyOf(bob, conversation.id);
    for (const message of theirs.values()) {
      assert.equal('seen_by' in message, false, 'seen_by is shown to a recipient');
    }
  });

  test('read to newest clears unread', async () => {
    assert.equal((await markRead(bob, conversation.id, messages[3].id)).status, 204);
    const seen = await conversationOf(bob, conversation.id);
    assert.equal(seen.unread_count, 0);
    assert.equal(seen.last_read_message_id, messages[3].id);
    const mine = await historyOf(alice, conversation.id);
    for (const message of messages) assert.deepEqual(mine.get(message.id).seen_by, [bob.user.id]);
    // The last message in the sender's list shows it too.
    const listed = (await conversationOf(alice, conversation.id)).last_message;
    assert.deepEqual(listed.seen_by, [bob.user.id]);
  });

  test('new message unread again', async () => {
    const fifth = await sendMessage(alice.client, conversation.id, 'five');
    assert.equal((await conversationOf(bob, conversation.id)).unread_count, 1);
    assert.deepEqual((await historyOf(alice, conversation.id)).get(fifth.id).seen_by, []);
  });
});

describe('unread counts', () => {
  test('counts per conversation exactly', async () => {
    const [me, ann, ben, cat] = await registerUsers(stack, 4, 'counter');
    const withAnn = await directConversation(me, ann);
    const withBen = await directConversation(me, ben);
    const group = await groupConversation(me, [ann, ben, cat], 'Counting');

    for (let i = 0; i < 3; i++) await sendMessage(ann.client, withAnn.id, `ann ${i}`);
    for (let i = 0; i < 5; i++) await sendMessage(ben.client, withBen.id, `ben ${i}`);
    const groupMessages = [];
    groupMessages.push(await sendMessage(ann.client, group.id, 'g1'));
    groupMessages.push(await sendMessage(me.client, group.id, 'g2 mine'));
    groupMessages.push(await sendMessage(cat.client, group.id, 'g3'));
    groupMessages.push(await sendMessage(ben.client, group.id, 'g4'));

    const list = await call(me.client, 'GET', '/api/conversations');
    const counts = Object.fromEntries(list.json.conversations.map((c) => [c.id, c.unread_count]));
    assert.deepEqual(counts, { [withAnn.id]: 3, [withBen.id]: 5, [group.id]: 3 });

    // Each member counts only the messages of others past their own cursor.
    assert.equal((await conversationOf(ann, group.id)).unread_count, 3);
    assert.equal((await conversationOf(cat, group.id)).unread_count, 3);

    assert.equal((await markRead(me, group.id, groupMessages[2].id)).status, 204);
    assert.equal((await conversationOf(me, group.id)).unread_count, 1);
    assert.equal((await conversationOf(me, withAnn.id)).unread_count, 3);
    assert.equal((await conversationOf(ann, group.id)).unread_count, 3);

    // seen_by lists every member whose cursor passed the message, by id.
    const annView = await historyOf(ann, group.id);
    assert.deepEqual(annView.get(groupMessages[0].id).seen_by, [me.user.id]);
    assert.equal((await markRead(cat, group.id, groupMessages[3].id)).status, 204);
    const annAgain = await historyOf(ann, group.id);
    assert.deepEqual(annAgain.get(groupMessages[0].id).seen_by, [me.user.id, cat.user.id].sort((a, b) => a - b));
    const benView = await historyOf(ben, group.id);
    assert.deepEqual(benView.get(groupMessages[3].id).seen_by, [cat.user.id]);
  });
});

describe('concurrent reads', () => {
  test('concurrent reads keep the newest', async () => {
    const [sender, reader] = await registerUsers(stack, 2, 'racer');
    const conversation = await directConversation(sender, reader);
    const messages = [];
    for (let i = 0; i < 12; i++) messages.push(await sendMessage(sender.client, conversation.id, `m${i}`));

    // Two devices of the reader report their positions at once, in any order.
    const shuffled = [...messages].sort(() => Math.random() - 0.5);
    const results = await Promise.all(shuffled.map((m) => markRead(reader, conversation.id, m.id)));
    assert.deepEqual([...new Set(results.map((r) => r.status))], [204]);

    const newest = messages[messages.length - 1].id;
    assert.equal(await storedCursor(conversation.id, reader.user.id), String(newest));
    const seen = await conversationOf(reader, conversation.id);
    assert.equal(seen.unread_count, 0);
    assert.equal(seen.last_read_message_id, newest);

    // Every seen event moved the cursor forward, and the last one is the newest.
    const events = JSON.parse(await queryValue(
      stack,
      `SELECT json_agg((payload->>'up_to')::bigint ORDER BY xid, id) FROM events
       WHERE kind = 'seen' AND conversation_id = ${conversation.id}`,
    ));
    for (let i = 1; i < events.length; i++) assert.ok(events[i] > events[i - 1], `seen events ${events}`);
    assert.equal(events[events.length - 1], newest);
  });
});

describe('bad requests', () => {
  let alice;
  let bob;
  let outsider;
  let conversation;
  let other;
  let message;
  let elsewhere;

  before(async () => {
    [alice, bob, outsider] = await registerUsers(stack, 3, 'badread');
    conversation = await directConversation(alice, bob);
    other = await directConversation(alice, outsider);
    message = await sendMessage(alice.client, conversation.id, 'here');
    elsewhere = await sendMessage(alice.client, other.id, 'there');
  });

  test('up_to from other conversation', async () => {
    assertError(await markRead(bob, conversation.id, elsewhere.id), 400);
    assertError(await markRead(bob, conversation.id, 987654321), 400);
    assert.equal(await storedCursor(conversation.id, bob.user.id), 'null');
  });

  test('up_to must be an id', async () => {
    for (const body of [{}, { up_to: null }, { up_to: String(message.id) }, { up_to: 0 }, { up_to: -1 }, { up_to: 1.5 }]) {
      const res = await call(bob.client, 'POST', `/api/conversations/${conversation.id}/read`, body);
      assertError(res, 400);
    }
    assert.equal(await storedCursor(conversation.id, bob.user.id), 'null');
  });

  test('non-member read is 404', async () => {
    const hidden = await markRead(outsider, conversation.id, message.id);
    const missing = await markRead(outsider, 987654321, message.id);
    assertError(hidden, 404);
    assertError(missing, 404);
    assert.equal(hidden.text, missing.text);
  });

  test('read requires session', async () => {
    const res = await call(newClient(stack), 'POST', `/api/conversations/${conversation.id}/read`, { up_to: message.id });
    assertError(res, 401, 'unauthenticated');
  });
});
