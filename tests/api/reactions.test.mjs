// Reactions: PUT and DELETE /api/messages/{id}/reactions/{emoji}.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  EMOJI,
  assertError,
  call,
  directConversation,
  newClient,
  queryValue,
  registerUsers,
  sendMessage,
  startApiStack,
} from './support.mjs';

let stack;
let alice;
let bob;
let outsider;
let conversation;

before(async () => {
  stack = await startApiStack();
  [alice, bob, outsider] = await registerUsers(stack, 3, 'reactor');
  conversation = await directConversation(alice, bob);
});

after(async () => {
  await stack?.stop();
});

function reactionPath(messageId, emoji) {
  return `/api/messages/${messageId}/reactions/${encodeURIComponent(emoji)}`;
}

function react(account, messageId, emoji) {
  return call(account.client, 'PUT', reactionPath(messageId, emoji));
}

function unreact(account, messageId, emoji) {
  return call(account.client, 'DELETE', reactionPath(messageId, emoji));
}

async function rowCount(messageId) {
  return Number(await queryValue(stack, `SELECT count(*) FROM reactions WHERE message_id = ${messageId}`));
}

async function viewOf(account, messageId) {
  const res = await call(account.client, 'GET', `/api/conversations/${conversation.id}/messages?limit=100`);
  return res.json.messages.find((m) => m.id === messageId);
}

describe('each emoji', () => {
  for (const emoji of EMOJI) {
    test(`react and unreact ${emoji}`, async () => {
      const message = await sendMessage(alice.client, conversation.id, `react with ${emoji}`);

      const on = await react(bob, message.id, emoji);
      assert.equal(on.status, 200, on.text);
      assert.deepEqual(on.json, { reactions: { [emoji]: 1 }, my_reactions: [emoji] });

      // Twice changes nothing.
      const again = await react(bob, message.id, emoji);
      assert.equal(again.status, 200, again.text);
      assert.deepEqual(again.json, on.json);
      assert.equal(await rowCount(message.id), 1);

      const mine = await viewOf(alice, message.id);
      assert.deepEqual(mine.reactions, { [emoji]: 1 });
      assert.deepEqual(mine.my_reactions, []);
      const theirs = await viewOf(bob, message.id);
      assert.deepEqual(theirs.reactions, { [emoji]: 1 });
      assert.deepEqual(theirs.my_reactions, [emoji]);

      const off = await unreact(bob, message.id, emoji);
      assert.equal(off.status, 200, off.text);
      assert.deepEqual(off.json, { reactions: {}, my_reactions: [] });

      const offAgain = await unreact(bob, message.id, emoji);
      assert.equal(offAgain.status, 200, offAgain.text);
      assert.deepEqual(offAgain.json, { reactions: {}, my_reactions: [] });
      assert.equal(await rowCount(message.id), 0);
    });
  }
});

describe('counts', () => {
  test('counts from several users', async () => {
    const message = await sendMessage(alice.client, conversation.id, 'popular');
    assert.deepEqual((await react(alice, message.id, '🔥')).json, { reactions: { '🔥': 1 }, my_reactions: ['🔥'] });

    const both = await react(bob, message.id, '🔥');
    assert.deepEqual(both.json, { reactions: { '🔥': 2 }, my_reactions: ['🔥'] });

    const heart = await react(bob, message.id, '❤️');
    assert.deepEqual(heart.json.reactions, { '🔥': 2, '❤️': 1 });
    assert.deepEqual([...heart.json.my_reactions].sort(), ['❤️', '🔥'].sort());

    const mine = await viewOf(alice, message.id);
    assert.deepEqual(mine.reactions, { '🔥': 2, '❤️': 1 });
    assert.deepEqual(mine.my_reactions, ['🔥']);

    const removed = await unreact(alice, message.id, '🔥');
    assert.deepEqual(removed.json, { reactions: { '🔥': 1, '❤️': 1 }, my_reactions: [] });
    assert.equal(await rowCount(message.id), 2);
  });

  test('reaction on own message', async () => {
    const message = await sendMessage(alice.client, conversation.id, 'self');
    const res = await react(alice, message.id, '👍');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { reactions: { '👍': 1 }, my_reactions: ['👍'] });
  });

  test('reactions appear in conversation list', async () => {
    const message = await sendMessage(alice.client, conversation.id, 'latest');
    await react(bob, message.id, '😂');
    const res = await call(alice.client, 'GET', `/api/conversations/${conversation.id}`);
    assert.equal(res.json.conversation.last_message.id, message.id);
    assert.deepEqual(res.json.conversation.last_message.reactions, { '😂': 1 });
  });
});

describe('rejections', () => {
  test('invalid emoji rejected', async () => {
    const message = await sendMessage(alice.client, conversation.id, 'picky');
    for (const emoji of ['😀', 'fire', '🔥🔥', '👎', '❤️❤️', ' ', '%']) {
      assertError(await react(bob, message.id, emoji), 400, 'invalid_emoji');
    }
    assert.equal(await rowCount(message.id), 0);
  });

  test('unknown message is 404', async () => {
    assertError(await react(bob, 987654321, '🔥'), 404);
    assertError(await unreact(bob, 987654321, '🔥'), 404);
  });

  test('non-member message is 404', async () => {
    const message = await sendMessage(alice.client, conversation.id, 'private');
    const hidden = await react(outsider, message.id, '🔥');
    const missing = await react(outsider, 987654321, '🔥');
    assertError(hidden, 404);
    assert.equal(hidden.text, missing.text);
    assertError(await unreact(outsider, message.id, '🔥'), 404);
    assert.equal(await rowCount(message.id), 0);
  });

  test('reaction requires session', async () => {
    const message = await sendMessage(alice.client, conversation.id, 'anonymous');
    assertError(await call(newClient(stack), 'PUT', reactionPath(message.id, '🔥')), 401, 'unauthenticated');
    assertError(await call(newClient(stack), 'DELETE', reactionPath(message.id, '🔥')), 401, 'unauthenticated');
  });
});
