// Sending messages: the message object, client_id idempotency under
// concurrency, body rules, request size and media type.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  API_TIME,
  MESSAGE_KEYS,
  SENDER_MESSAGE_KEYS,
  assertError,
  call,
  directConversation,
  groupConversation,
  newClient,
  newClientId,
  queryRows,
  queryValue,
  rawJson,
  registerUser,
  registerUsers,
  startApiStack,
} from './support.mjs';

let stack;
let alice;
let bob;
let conversation;

before(async () => {
  stack = await startApiStack();
  [alice, bob] = await registerUsers(stack, 2, 'sender');
  conversation = await directConversation(alice, bob);
});

after(async () => {
  await stack?.stop();
});

function post(account, conversationId, body) {
  return call(account.client, 'POST', `/api/conversations/${conversationId}/messages`, body);
}

async function storedCount(where) {
  return Number(await queryValue(stack, `SELECT count(*) FROM messages WHERE ${where}`));
}

describe('send', () => {
  test('send returns sender view', async () => {
    const clientId = newClientId();
    const res = await post(alice, conversation.id, { client_id: clientId, body: 'Hello, Bob 👋' });
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(Object.keys(res.json), ['message']);

    const message = res.json.message;
    assert.deepEqual(Object.keys(message).sort(), SENDER_MESSAGE_KEYS);
    assert.ok(Number.isInteger(message.id), `id ${message.id}`);
    assert.ok(message.id > 0, `id ${message.id}`);
    assert.equal(message.conversation_id, conversation.id);
    assert.equal(message.sender_id, alice.user.id);
    assert.equal(message.body, 'Hello, Bob 👋');
    assert.equal(message.image, null);
    assert.match(message.created_at, API_TIME);
    assert.ok(Math.abs(Date.parse(message.created_at) - Date.now()) < 60_000, 'created_at is not the server time');
    assert.equal(message.client_id, clientId);
    assert.deepEqual(message.reactions, {});
    assert.deepEqual(message.my_reactions, []);
    assert.deepEqual(message.seen_by, []);

    // The recipient sees it without client_id and seen_by.
    const history = await call(bob.client, 'GET', `/api/conversations/${conversation.id}/messages`);
    const seen = history.json.messages.find((m) => m.id === message.id);
    assert.deepEqual(Object.keys(seen).sort(), [...MESSAGE_KEYS].sort());
    const { client_id: _clientId, seen_by: _seenBy, ...asRecipient } = message;
    assert.deepEqual(seen, asRecipient);
  });

  test('client_id accepted in upper case', async () => {
    const clientId = newClientId().toUpperCase();
    const res = await post(alice, conversation.id, { client_id: clientId, body: 'upper' });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.json.message.client_id.toLowerCase(), clientId.toLowerCase());
  });

  test('server sets created_at', async () => {
    const res = await post(alice, conversation.id, {
      client_id: newClientId(),
      body: 'from the past',
      created_at: '2001-01-01T00:00:00.000Z',
    });
    assert.equal(res.status, 201, res.text);
    assert.notEqual(res.json.message.created_at, '2001-01-01T00:00:00.000Z');
  });

  test('send requires session', async () => {
    const res = await call(newClient(stack), 'POST', `/api/conversations/${conversation.id}/messages`, {
      client_id: newClientId(),
      body: 'anonymous',
    });
    assertError(res, 401, 'unauthenticated');
  });
});

describe('idempotency', () => {
  test('repeated client_id returns original', async () => {
    const clientId = newClientId();
    const first = await post(alice, conversation.id, { client_id: clientId, body: 'only once' });
    assert.equal(first.status, 201, first.text);

    const again = await post(alice, conversation.id, { client_id: clientId, body: 'only once' });
    assert.equal(again.status, 200, again.text);
    assert.deepEqual(again.json, first.json);

    // A retry with another body still returns the stored message.
    const changed = await post(alice, conversation.id, { client_id: clientId, body: 'something else' });
    assert.equal(changed.status, 200, changed.text);
    assert.deepEqual(changed.json, first.json);

    assert.equal(await storedCount(`client_id = '${clientId}'`), 1);
  });

  test('client_id is per sender', async () => {
    const clientId = newClientId();
    const mine = await post(alice, conversation.id, { client_id: clientId, body: 'alice' });
    const theirs = await post(bob, conversation.id, { client_id: clientId, body: 'bob' });
    assert.equal(mine.status, 201);
    assert.equal(theirs.status, 201);
    assert.notEqual(mine.json.message.id, theirs.json.message.id);
    assert.equal(theirs.json.message.body, 'bob');
    assert.equal(await storedCount(`client_id = '${clientId}'`), 2);
  });

  test('client_id reused elsewhere rejected', async () => {
    const carol = await registerUser(stack, 'carol');
    const other = await directConversation(alice, carol);
    const clientId = newClientId();
    assert.equal((await post(alice, conversation.id, { client_id: clientId, body: 'first' })).status, 201);

    const res = await post(alice, other.id, { client_id: clientId, body: 'second' });
    assertError(res, 409, 'client_id_conflict');
    assert.equal(await storedCount(`client_id = '${clientId}'`), 1);
  });

  test('concurrent retries store one message', async () => {
    const clientId = newClientId();
    const results = await Promise.all(
      Array.from({ length: 8 }, () => post(alice, conversation.id, { client_id: clientId, body: 'racing' })),
    );
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 200, 201], results.map((r) => r.text).join('\n'));
    assert.equal(new Set(results.map((r) => r.json.message.id)).size, 1);
    assert.equal(await storedCount(`client_id = '${clientId}'`), 1);
  });

  test('twenty concurrent senders', async () => {
    const owner = await registerUser(stack, 'host');
    const senders = await registerUsers(stack, 20, 'crowd');
    const group = await groupConversation(owner, senders, 'Crowd');
    const clientIds = senders.map(() => newClientId());

    // Each sender sends its message twice at once, as a client retrying
    // after a timeout would.
    const requests = [];
    senders.forEach((sender, i) => {
      const body = { client_id: clientIds[i], body: `from sender ${i}` };
      requests.push(post(sender, group.id, body), post(sender, group.id, body));
    });
    const results = await Promise.all(requests);

    senders.forEach((sender, i) => {
      const pair = results.slice(2 * i, 2 * i + 2);
      assert.deepEqual(pair.map((r) => r.status).sort(), [200, 201], `sender ${i}: ${pair.map((r) => r.text).join(' | ')}`);
      assert.equal(pair[0].json.message.id, pair[1].json.message.id);
      assert.equal(pair[0].json.message.body, `from sender ${i}`);
      assert.equal(pair[0].json.message.sender_id, sender.user.id);
    });

    const rows = await queryRows(
      stack,
      `SELECT sender_id, count(*)::int AS n FROM messages WHERE conversation_id = ${group.id} GROUP BY sender_id`,
    );
    assert.equal(rows.length, 20);
    for (const row of rows) assert.equal(row.n, 1, `sender ${row.sender_id} has ${row.n} messages`);

    // The conversation's last message is the newest of the history.
    const history = await call(owner.client, 'GET', `/api/conversations/${group.id}/messages`);
    assert.equal(history.json.messages.length, 20);
    const current = await call(owner.client, 'GET', `/api/conversations/${group.id}`);
    assert.equal(current.json.conversation.last_message.id, history.json.messages[0].id);
    assert.equal(current.json.conversation.unread_count, 20);
  });

  test('client_id must be a UUID', async () => {
    for (const clientId of [undefined, '', 'not-a-uuid', '123', 42, `${newClientId()}x`, newClientId().replace(/-/g, '')]) {
      const body = { body: 'hello' };
      if (clientId !== undefined) body.client_id = clientId;
      assertError(await post(alice, conversation.id, body), 400, 'invalid_body');
    }
  });
});

describe('body rules', () => {
  async function expectAccepted(body) {
    const clientId = newClientId();
    const res = await post(alice, conversation.id, { client_id: clientId, body });
    assert.equal(res.status, 201, `body of ${[...body].length} characters: ${res.text.slice(0, 300)}`);
    assert.equal(res.json.message.body, body);
    const stored = await queryValue(stack, `SELECT char_length(body) FROM messages WHERE client_id = '${clientId}'`);
    assert.equal(Number(stored), [...body].length);
  }

  async function expectRejected(body, label) {
    const clientId = newClientId();
    const res = await post(alice, conversation.id, { client_id: clientId, body });
    assert.equal(res.status, 400, `${label}: ${res.status} ${res.text.slice(0, 300)}`);
    assertError(res, 400);
    assert.equal(await storedCount(`client_id = '${clientId}'`), 0);
  }

  test('body length in characters', async () => {
    await expectAccepted('x');
    await expectAccepted('x'.repeat(4000));
    await expectAccepted('é'.repeat(4000));
    await expectAccepted('😀'.repeat(4000));
    await expectAccepted('a'.repeat(3999) + '😀');
    await expectRejected('', 'empty body');
    await expectRejected('x'.repeat(4001), '4001 ASCII characters');
    await expectRejected('😀'.repeat(4001), '4001 emoji');
    await expectRejected('é'.repeat(4001), '4001 two-byte characters');
  });

  test('white space only rejected', async () => {
    for (const body of [' ', '   ', '\n', '\t \r\n', '\u00a0', '\u3000', '\u2003 \u2009', '\u200b', '\u00a0\u200b\u3000', '\ufeff']) {
      await expectRejected(body, `white space ${JSON.stringify(body)}`);
    }
    await expectAccepted('  padded  ');
  });

  test('NUL in body rejected', async () => {
    await expectRejected('a\u0000b', 'escaped NUL');
    await expectRejected('\u0000', 'only NUL');
    const clientId = newClientId();
    const raw = Buffer.concat([
      Buffer.from(`{"client_id":"${clientId}","body":"a`),
      Buffer.from([0]),
      Buffer.from('b"}'),
    ]);
    const res = await rawJson(stack, alice.token, 'POST', `/api/conversations/${conversation.id}/messages`, raw);
    assertError(res, 400);
    assert.equal(await storedCount(`client_id = '${clientId}'`), 0);
  });

  test('invalid UTF-8 rejected', async () => {
    const sequences = [
      [0xc3, 0x28],
      [0xff],
      [0xe2, 0x82],
      [0xed, 0xa0, 0x80],
      [0xc0, 0xaf],
      [0xf4, 0x90, 0x80, 0x80],
    ];
    for (const bytes of sequences) {
      const clientId = newClientId();
      const raw = Buffer.concat([
        Buffer.from(`{"client_id":"${clientId}","body":"ok `),
        Buffer.from(bytes),
        Buffer.from(' ok"}'),
      ]);
      const res = await rawJson(stack, alice.token, 'POST', `/api/conversations/${conversation.id}/messages`, raw);
      assertError(res, 400);
      assert.equal(await storedCount(`client_id = '${clientId}'`), 0, `bytes ${bytes.map((b) => b.toString(16))}`);
    }
  });

  test('control characters rejected', async () => {
    for (const body of ['controls \u0001 end', 'escape \u001b[31m red', 'delete \u007f', 'c1 \u0085']) {
      const res = await post(alice, conversation.id, { client_id: newClientId(), body });
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.json.error.code, 'invalid_body');
    }
  });

  test('special characters round-trip', async () => {
    const bodies = [
      'quote " backslash \\ slash / done',
      'line one\nline two\r\nline three\ttabbed',
      'separators \u2028 and \u2029 end',
      'emoji 👩‍👩‍👧 ❤️ 🇫🇷 and combining é',
      '<script>alert("x")</script> & &amp;',
      'ends with backslash \\',
    ];
    for (const body of bodies) {
      const sent = await post(alice, conversation.id, { client_id: newClientId(), body });
      assert.equal(sent.status, 201, `${JSON.stringify(body)}: ${sent.text}`);
      assert.equal(sent.json.message.body, body);

      // The history, the single conversation and the list build the JSON
      // along different paths.
      const history = await call(bob.client, 'GET', `/api/conversations/${conversation.id}/messages?limit=1`);
      assert.equal(history.json.messages[0].body, body, 'history');
      const single = await call(bob.client, 'GET', `/api/conversations/${conversation.id}`);
      assert.equal(single.json.conversation.last_message.body, body, 'single conversation');
      const list = await call(bob.client, 'GET', '/api/conversations');
      const entry = list.json.conversations.find((c) => c.id === conversation.id);
      assert.equal(entry.last_message.body, body, 'conversation list');
    }
  });

  test('body or image required', async () => {
    assertError(await post(alice, conversation.id, { client_id: newClientId() }), 400, 'invalid_body');
    assertError(await post(alice, conversation.id, { client_id: newClientId(), body: null }), 400, 'invalid_body');
    assertError(await post(alice, conversation.id, { client_id: newClientId(), body: 5 }), 400, 'invalid_body');
    assertError(await post(alice, conversation.id, { client_id: newClientId(), body: ['x'] }), 400, 'invalid_body');
  });

  test('unknown image rejected', async () => {
    const res = await post(alice, conversation.id, { client_id: newClientId(), image_id: 987654321 });
    assertError(res, 404);
  });
});

describe('request format', () => {
  const path = () => `/api/conversations/${conversation.id}/messages`;

  test('body over 64 KiB is 413', async () => {
    const clientId = newClientId();
    const json = JSON.stringify({ client_id: clientId, body: 'x'.repeat(70 * 1024) });
    const res = await rawJson(stack, alice.token, 'POST', path(), json);
    assertError(res, 413, 'too_large');
    assert.equal(await storedCount(`client_id = '${clientId}'`), 0);
  });

  test('64 KiB boundary', async () => {
    // A body of exactly 65536 bytes is read and rejected for its too long
    // message. A body one byte longer is rejected for its size alone.
    const clientId = newClientId();
    const frame = JSON.stringify({ client_id: clientId, body: '' });
    const exact = JSON.stringify({ client_id: clientId, body: 'x'.repeat(65536 - frame.length) });
    assert.equal(Buffer.byteLength(exact), 65536);
    assertError(await rawJson(stack, alice.token, 'POST', path(), exact), 400, 'invalid_body');

    const over = JSON.stringify({ client_id: clientId, body: 'x'.repeat(65537 - frame.length) });
    assertError(await rawJson(stack, alice.token, 'POST', path(), over), 413, 'too_large');
  });

  test('non-JSON content type is 415', async () => {
    const body = JSON.stringify({ client_id: newClientId(), body: 'typed wrong' });
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonp']) {
      assertError(await rawJson(stack, alice.token, 'POST', path(), body, type), 415, 'unsupported_media_type');
    }
    const untyped = await rawJson(stack, alice.token, 'POST', path(), body, null);
    assert.ok(untyped.status === 415 || untyped.status === 400, `no content type: ${untyped.status}`);
    assertError(untyped, untyped.status);
  });

  test('JSON content type with charset accepted', async () => {
    const body = JSON.stringify({ client_id: newClientId(), body: 'charset' });
    const res = await rawJson(stack, alice.token, 'POST', path(), body, 'application/json; charset=utf-8');
    assert.equal(res.status, 201, res.text);
  });

  test('malformed JSON is 400', async () => {
    const clientId = newClientId();
    const bodies = [
      '',
      '{',
      `{"client_id":"${clientId}","body":"x"`,
      `{"client_id":"${clientId}","body":"x"} trailing`,
      `["${clientId}","x"]`,
      '"just a string"',
      'null',
      `{'client_id':'${clientId}','body':'x'}`,
      `{"client_id":"${clientId}","body":"x",}`,
    ];
    for (const body of bodies) {
      const res = await rawJson(stack, alice.token, 'POST', path(), body);
      assertError(res, 400);
    }
    assert.equal(await storedCount(`client_id = '${clientId}'`), 0);
  });
});
