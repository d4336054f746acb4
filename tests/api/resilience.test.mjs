// Faults of the services behind the API: PostgreSQL stopped, restarted or
// killed, and Redis stopped. The API responds 503 `unavailable` while the
// database is away and recovers on the next request once it is back.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  assertError,
  call,
  directConversation,
  newClient,
  newClientId,
  queryValue,
  registerUsers,
  sendMessage,
  sleep,
  startApiStack,
  uniqueUsername,
} from './support.mjs';

let stack;
let alice;
let bob;
let conversation;

before(async () => {
  stack = await startApiStack();
  [alice, bob] = await registerUsers(stack, 2, 'resilient');
  conversation = await directConversation(alice, bob);
  await sendMessage(alice.client, conversation.id, 'before the outage');
});

after(async () => {
  await stack?.stop();
});

function send(account, body, clientId = newClientId()) {
  return call(account.client, 'POST', `/api/conversations/${conversation.id}/messages`, { client_id: clientId, body });
}

// Sends a few requests of each kind, so that every API process behind the
// web server has served one on its current connection.
async function assertServing(label) {
  for (let i = 0; i < 4; i++) {
    const me = await call(alice.client, 'GET', '/api/me');
    assert.equal(me.status, 200, `${label}: GET /api/me ${me.status} ${me.text}`);
  }
  const sent = await send(alice, `${label}: message`);
  assert.equal(sent.status, 201, `${label}: send ${sent.status} ${sent.text}`);
  const history = await call(bob.client, 'GET', `/api/conversations/${conversation.id}/messages`);
  assert.equal(history.status, 200, `${label}: history ${history.status}`);
  assert.equal(history.json.messages[0].id, sent.json.message.id);
}

describe('database stopped', () => {
  test('stopped database gives 503', async () => {
    await assertServing('before stop');
    await stack.stopService('postgres');
    try {
      assertError(await call(alice.client, 'GET', '/api/me'), 503, 'unavailable');
      assertError(await send(alice, 'during the outage'), 503, 'unavailable');
      assertError(await call(alice.client, 'GET', '/api/conversations'), 503, 'unavailable');
      assertError(
        await call(newClient(stack), 'POST', '/api/auth/login', { username: alice.username, password: alice.password }),
        503,
        'unavailable',
      );
      assertError(
        await call(newClient(stack), 'POST', '/api/auth/register', { username: uniqueUsername('late'), password: 'password1' }),
        503,
        'unavailable',
      );
      // Every API process responds the same, not only the first one asked.
      for (let i = 0; i < 6; i++) {
        assertError(await call(bob.client, 'GET', '/api/me'), 503, 'unavailable');
      }
    } finally {
      await stack.startService('postgres');
    }

    const me = await call(alice.client, 'GET', '/api/me');
    assert.equal(me.status, 200, `first request after start: ${me.status} ${me.text}`);
    await assertServing('after start');
    const lost = await queryValue(stack, `SELECT count(*) FROM messages WHERE body = 'during the outage'`);
    assert.equal(lost, '0');
  });

  test('restarted database is transparent', async () => {
    await assertServing('before restart');
    await stack.restartService('postgres');
    // The connections of the API processes broke during the restart; the
    // next request reconnects instead of failing.
    const me = await call(alice.client, 'GET', '/api/me');
    assert.equal(me.status, 200, `first request after restart: ${me.status} ${me.text}`);
    await assertServing('after restart');
  });

  test('killed database recovers', async () => {
    await assertServing('before kill');
    await stack.killService('postgres');
    try {
      const res = await call(alice.client, 'GET', '/api/me');
      assertError(res, 503, 'unavailable');
    } finally {
      await stack.startService('postgres');
    }
    await assertServing('after kill');
  });

  test('idempotent retry after outage', async () => {
    const clientId = newClientId();
    await stack.stopService('postgres');
    try {
      assertError(await send(alice, 'retried', clientId), 503, 'unavailable');
    } finally {
      await stack.startService('postgres');
    }
    const first = await send(alice, 'retried', clientId);
    assert.equal(first.status, 201, first.text);
    const second = await send(alice, 'retried', clientId);
    assert.equal(second.status, 200, second.text);
    assert.equal(await queryValue(stack, `SELECT count(*) FROM messages WHERE client_id = '${clientId}'`), '1');
  });
});

describe('redis stopped', () => {
  test('API works without Redis', async () => {
    await stack.stopService('redis');
    try {
      // Give a cache client time to notice the closed connection.
      await sleep(200);
      await assertServing('without redis');
      const list = await call(alice.client, 'GET', '/api/conversations');
      assert.equal(list.status, 200, list.text);
      assert.equal(list.json.conversations[0].id, conversation.id);
      const unread = await call(bob.client, 'GET', `/api/conversations/${conversation.id}`);
      assert.equal(unread.status, 200);
    } finally {
      await stack.startService('redis');
    }
    await assertServing('redis back');
  });
});

describe('list paging across a Redis outage', () => {
  test('cursor works with and without Redis', async () => {
    const [owner, ...peers] = await registerUsers(stack, 6, 'pager');
    const created = [];
    for (const peer of peers) created.push((await directConversation(owner, peer)).id);
    const expected = [...created].reverse();
    const page = (cursor) =>
      call(owner.client, 'GET', `/api/conversations?limit=2${cursor ? `&before=${encodeURIComponent(cursor)}` : ''}`);

    // The first page comes with Redis, the rest without.
    const first = await page(null);
    assert.equal(first.status, 200, first.text);
    const seen = first.json.conversations.map((c) => c.id);
    let cursor = first.json.next_cursor;
    await stack.stopService('redis');
    try {
      while (cursor !== null && seen.length < 20) {
        const res = await page(cursor);
        assert.equal(res.status, 200, res.text);
        seen.push(...res.json.conversations.map((c) => c.id));
        cursor = res.json.next_cursor;
      }
      assert.deepEqual(seen, expected, 'pages after Redis stopped');

      // And the other way round: the first page without Redis.
      const firstWithout = await page(null);
      assert.deepEqual(firstWithout.json.conversations.map((c) => c.id), expected.slice(0, 2));
      cursor = firstWithout.json.next_cursor;
    } finally {
      await stack.startService('redis');
    }
    const rest = [];
    while (cursor !== null && rest.length < 20) {
      const res = await page(cursor);
      assert.equal(res.status, 200, res.text);
      rest.push(...res.json.conversations.map((c) => c.id));
      cursor = res.json.next_cursor;
    }
    assert.deepEqual(rest, expected.slice(2), 'pages after Redis started');
  });
});

describe('web server', () => {
  test('restarted web server serves', async () => {
    await stack.restartService('web');
    await assertServing('after web restart');
  });
});
