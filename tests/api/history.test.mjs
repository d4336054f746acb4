// Message history: limits, newest-first order, keyset paging through many
// messages with one created_at, cursor validation, and the query plan at
// 100,000 messages.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import {
  MESSAGE_KEYS,
  assertError,
  assertJsonContentType,
  call,
  directConversation,
  newClient,
  queryRows,
  queryValue,
  registerUser,
  registerUsers,
  startApiStack,
} from './support.mjs';

let stack;
let alice;
let bob;

before(async () => {
  stack = await startApiStack();
  [alice, bob] = await registerUsers(stack, 2, 'history');
});

after(async () => {
  await stack?.stop();
});

// Creates a direct conversation of alice with a new user, so that each test
// pages through messages of its own.
async function freshConversation() {
  const other = await registerUser(stack, 'peer');
  return { conversation: await directConversation(alice, other), other };
}

// Inserts count messages from sender in one statement. createdAt is an SQL
// expression that may use g, the row number from 1 to count.
async function insertMessages(conversationId, senderId, count, createdAt) {
  await stack.psql(`INSERT INTO messages (conversation_id, sender_id, client_id, body, created_at)
                    SELECT ${conversationId}, ${senderId}, gen_random_uuid(), 'bulk ' || g, ${createdAt}
                    FROM generate_series(1, ${count}) AS g`);
}

// Returns the message ids of a conversation in history order.
async function expectedOrder(conversationId) {
  const rows = await queryRows(
    stack,
    `SELECT id FROM messages WHERE conversation_id = ${conversationId} ORDER BY created_at DESC, id DESC`,
  );
  return rows.map((row) => row.id);
}

function page(account, conversationId, query = '') {
  return call(account.client, 'GET', `/api/conversations/${conversationId}/messages${query}`);
}

// Follows next_cursor from the first page to the last; returns each page.
async function allPages(account, conversationId, limit, maxPages) {
  const pages = [];
  let cursor = null;
  do {
    const params = [];
    if (limit !== undefined) params.push(`limit=${limit}`);
    if (cursor !== null) params.push(`before=${encodeURIComponent(cursor)}`);
    const res = await page(account, conversationId, params.length ? `?${params.join('&')}` : '');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.json).sort(), ['messages', 'next_cursor']);
    pages.push(res.json);
    cursor = res.json.next_cursor;
    assert.ok(cursor === null || (typeof cursor === 'string' && cursor.length > 0), `next_cursor ${cursor}`);
  } while (cursor !== null && pages.length < maxPages);
  assert.equal(cursor, null, `more than ${maxPages} pages`);
  return pages;
}

describe('limits and order', () => {
  test('default limit is 30', async () => {
    const { conversation } = await freshConversation();
    await insertMessages(conversation.id, alice.user.id, 35, `timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second'`);
    const expected = await expectedOrder(conversation.id);

    const first = await page(alice, conversation.id);
    assert.equal(first.status, 200, first.text);
    assertJsonContentType(first);
    assert.equal(first.json.messages.length, 30);
    assert.deepEqual(first.json.messages.map((m) => m.id), expected.slice(0, 30));
    assert.equal(first.json.messages[0].body, 'bulk 35');
    assert.equal(first.json.messages[0].created_at, '2026-01-01T00:00:35.000Z');
    assert.equal(typeof first.json.next_cursor, 'string');

    const second = await page(alice, conversation.id, `?before=${encodeURIComponent(first.json.next_cursor)}`);
    assert.equal(second.status, 200);
    assert.deepEqual(second.json.messages.map((m) => m.id), expected.slice(30));
    assert.equal(second.json.next_cursor, null);
  });

  test('exact page has null cursor', async () => {
    const { conversation } = await freshConversation();
    await insertMessages(conversation.id, alice.user.id, 30, `timestamptz '2026-01-02 00:00:00+00' + g * interval '1 second'`);
    const res = await page(alice, conversation.id);
    assert.equal(res.json.messages.length, 30);
    assert.equal(res.json.next_cursor, null);
  });

  test('maximum limit is 100', async () => {
    const { conversation } = await freshConversation();
    await insertMessages(conversation.id, alice.user.id, 120, `timestamptz '2026-01-03 00:00:00+00' + g * interval '1 ms'`);
    const expected = await expectedOrder(conversation.id);

    const res = await page(alice, conversation.id, '?limit=100');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.messages.map((m) => m.id), expected.slice(0, 100));
    assert.equal(typeof res.json.next_cursor, 'string');

    const one = await page(alice, conversation.id, '?limit=1');
    assert.deepEqual(one.json.messages.map((m) => m.id), expected.slice(0, 1));

    for (const limit of ['101', '1000', '0', '-1', 'ten', '1.5', '']) {
      assertError(await page(alice, conversation.id, `?limit=${limit}`), 400);
    }
  });

  test('empty conversation has no messages', async () => {
    const { conversation } = await freshConversation();
    const res = await page(alice, conversation.id);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { messages: [], next_cursor: null });
  });

  test('messages shown per viewer', async () => {
    const { conversation, other } = await freshConversation();
    await insertMessages(conversation.id, alice.user.id, 2, `clock_timestamp()`);
    const mine = await page(alice, conversation.id);
    const theirs = await page(other, conversation.id);
    for (const message of mine.json.messages) {
      assert.deepEqual(Object.keys(message).sort(), [...MESSAGE_KEYS, 'client_id', 'seen_by'].sort());
    }
    for (const message of theirs.json.messages) {
      assert.deepEqual(Object.keys(message).sort(), [...MESSAGE_KEYS].sort());
    }
  });
});

describe('keyset paging', () => {
  test('250 messages with one created_at', async () => {
    const { conversation } = await freshConversation();
    const shared = `timestamptz '2026-03-01 12:34:56.789123+00'`;
    await insertMessages(conversation.id, alice.user.id, 250, shared);
    // A few neighbours on either side of the shared time.
    await insertMessages(conversation.id, alice.user.id, 3, `${shared} + g * interval '1 microsecond'`);
    await insertMessages(conversation.id, alice.user.id, 3, `${shared} - g * interval '1 microsecond'`);
    const expected = await expectedOrder(conversation.id);
    assert.equal(expected.length, 256);

    const pages = await allPages(alice, conversation.id, 7, 60);
    assert.equal(pages.length, Math.ceil(256 / 7));
    pages.slice(0, -1).forEach((p) => assert.equal(p.messages.length, 7));
    const ids = pages.flatMap((p) => p.messages.map((m) => m.id));
    assert.equal(new Set(ids).size, ids.length, 'a message was repeated');
    assert.deepEqual(ids, expected);

    const sharedTimes = pages.flatMap((p) => p.messages).filter((m) => m.created_at === '2026-03-01T12:34:56.789Z');
    assert.equal(sharedTimes.length, 256, 'every message shows the time to the millisecond');
  });

  test('paging ignores newer messages', async () => {
    const { conversation } = await freshConversation();
    await insertMessages(conversation.id, alice.user.id, 20, `timestamptz '2026-04-01 00:00:00+00' + g * interval '1 second'`);
    const expected = await expectedOrder(conversation.id);

    const first = await page(alice, conversation.id, '?limit=8');
    // New messages arrive while the client scrolls back.
    await insertMessages(conversation.id, alice.user.id, 5, `clock_timestamp()`);
    const rest = [];
    let cursor = first.json.next_cursor;
    while (cursor !== null) {
      const res = await page(alice, conversation.id, `?limit=8&before=${encodeURIComponent(cursor)}`);
      rest.push(...res.json.messages.map((m) => m.id));
      cursor = res.json.next_cursor;
    }
    assert.deepEqual([...first.json.messages.map((m) => m.id), ...rest], expected);
  });

  test('invalid cursor rejected', async () => {
    const { conversation } = await freshConversation();
    const encode = (text) => Buffer.from(text).toString('base64url');
    const cursors = [
      'garbage!',
      '',
      encode('v1:1:0'),
      encode('v1:-5:3'),
      encode('v1:abc:3'),
      encode('v2:1700000000000000:3'),
      encode('v1:1700000000000000'),
      encode('v1:1700000000000000:3:4'),
      'A'.repeat(2000),
      '%ZZ',
    ];
    for (const cursor of cursors) {
      const res = await page(alice, conversation.id, `?before=${cursor.startsWith('%') ? cursor : encodeURIComponent(cursor)}`);
      assertError(res, 400, 'invalid_cursor');
    }
  });
});

describe('access', () => {
  test('non-member gets 404', async () => {
    const { conversation } = await freshConversation();
    const outsider = await registerUser(stack, 'outsider');
    const hidden = await page(outsider, conversation.id);
    const missing = await page(outsider, 987654321);
    assertError(hidden, 404);
    assertError(missing, 404);
    assert.equal(hidden.text, missing.text);
  });

  test('history requires session', async () => {
    const { conversation } = await freshConversation();
    assertError(await call(newClient(stack), 'GET', `/api/conversations/${conversation.id}/messages`), 401, 'unauthenticated');
  });
});

// Returns the SQL of a statement in the API's statement table, read from
// its source so the plan below is the plan of the query the API runs.
function statementSql(name) {
  const source = readFileSync(new URL('../../fcgi/db.c', import.meta.url), 'utf8');
  const start = source.indexOf(`[${name}]`);
  assert.ok(start >= 0, `${name} not found in the API's statement table`);
  const end = source.indexOf('},', start);
  const entry = source.slice(start, end);
  const literals = [...entry.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]);
  // The first literal is the statement's name; the rest is its SQL.
  return literals.slice(1).join('').replace(/\\\\/g, '\\');
}

describe('query plan', () => {
  test('history uses messages_history at 100k', async () => {
    const { conversation } = await freshConversation();
    await insertMessages(conversation.id, alice.user.id, 100_000,
      `timestamptz '2025-01-01 00:00:00+00' + (g / 3) * interval '1 second'`);
    await stack.psql('ANALYZE messages');

    const middle = (await queryRows(
      stack,
      `SELECT time_us(created_at) AS time_us, id FROM messages WHERE conversation_id = ${conversation.id}
       ORDER BY created_at DESC, id DESC OFFSET 50000 LIMIT 1`,
    ))[0];

    const before = statementSql('STMT_HISTORY_BEFORE');
    assert.match(before, /\$5/);
    const beforeSql = before
      .replace(/\$1::bigint/g, `${conversation.id}::bigint`)
      .replace(/\$2::bigint/g, `${alice.user.id}::bigint`)
      .replace(/\$3::bigint/g, `${middle.time_us}::bigint`)
      .replace(/\$4::bigint/g, `${middle.id}::bigint`)
      .replace(/\$5::int/g, '31::int');
    assert.doesNotMatch(beforeSql, /\$\d/, `a parameter was left in ${beforeSql}`);
    const beforePlan = await queryValue(stack, `EXPLAIN ${beforeSql}`);
    assert.match(beforePlan, /messages_history/, beforePlan);
    assert.doesNotMatch(beforePlan, /Seq Scan on messages/, beforePlan);
    assert.doesNotMatch(beforePlan, /\bSort\b/, beforePlan);

    const first = statementSql('STMT_HISTORY_FIRST')
      .replace(/\$1::bigint/g, `${conversation.id}::bigint`)
      .replace(/\$2::bigint/g, `${alice.user.id}::bigint`)
      .replace(/\$3::int/g, '31::int');
    assert.doesNotMatch(first, /\$\d/, `a parameter was left in ${first}`);
    const firstPlan = await queryValue(stack, `EXPLAIN ${first}`);
    assert.match(firstPlan, /messages_history/, firstPlan);
    assert.doesNotMatch(firstPlan, /\bSort\b/, firstPlan);

    // The page through the API returns the rows that follow the cursor.
    const res = await page(alice, conversation.id, '?limit=100');
    assert.equal(res.status, 200);
    assert.equal(res.json.messages.length, 100);
  });
});
