// Access rules: 404 for every route of a conversation the caller is not in,
// the cross-site Origin check, unknown routes and wrong methods.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  assertError,
  call,
  directConversation,
  header,
  newClientId,
  queryValue,
  rawRequest,
  registerUser,
  registerUsers,
  sendMessage,
  sessionCookie,
  startApiStack,
  uniqueUsername,
} from './support.mjs';

const EVIL = 'http://evil.example';

let stack;
let alice;
let bob;
let outsider;
let conversation;
let message;

before(async () => {
  stack = await startApiStack();
  [alice, bob, outsider] = await registerUsers(stack, 3, 'access');
  conversation = await directConversation(alice, bob);
  message = await sendMessage(alice.client, conversation.id, 'members only');
});

after(async () => {
  await stack?.stop();
});

// Sends a request with the session token and the given Origin (none when
// origin is undefined).
function withOrigin(account, origin, method, urlPath, json) {
  const headers = { cookie: `blinkchat_session=${account.token}` };
  if (origin !== undefined) headers.origin = origin;
  if (json !== undefined) headers['content-type'] = 'application/json';
  return rawRequest(stack, method, urlPath, {
    headers,
    body: json === undefined ? undefined : JSON.stringify(json),
  });
}

async function count(sql) {
  return Number(await queryValue(stack, sql));
}

describe('non-member', () => {
  const fire = encodeURIComponent('🔥');
  const routes = (conversationId, messageId) => [
    ['GET', `/api/conversations/${conversationId}`],
    ['GET', `/api/conversations/${conversationId}/messages`],
    ['POST', `/api/conversations/${conversationId}/messages`, { client_id: newClientId(), body: 'intruder' }],
    ['POST', `/api/conversations/${conversationId}/read`, { up_to: messageId }],
    ['PUT', `/api/messages/${messageId}/reactions/${fire}`],
    ['DELETE', `/api/messages/${messageId}/reactions/${fire}`],
  ];

  test('every route is 404', async () => {
    const messagesBefore = await count('SELECT count(*) FROM messages');
    const existing = routes(conversation.id, message.id);
    const missing = routes(987654321, 987654322);
    for (let i = 0; i < existing.length; i++) {
      const [method, urlPath, json] = existing[i];
      const res = await call(outsider.client, method, urlPath, json);
      assertError(res, 404);
      // The response is the same as for ids that do not exist.
      const [, missingPath, missingJson] = missing[i];
      const absent = await call(outsider.client, method, missingPath, missingJson);
      assert.equal(res.status, absent.status, `${method} ${urlPath}`);
      assert.equal(res.text, absent.text, `${method} ${urlPath}`);
    }
    assert.equal(await count('SELECT count(*) FROM messages'), messagesBefore);
    assert.equal(await count(`SELECT count(*) FROM reactions WHERE message_id = ${message.id}`), 0);
  });

  test('member gets every route', async () => {
    for (const [method, urlPath, json] of routes(conversation.id, message.id)) {
      const res = await call(bob.client, method, urlPath, json);
      assert.ok(res.status >= 200, `${method} ${urlPath}: ${res.status} ${res.text}`);
      assert.ok(res.status < 300, `${method} ${urlPath}: ${res.status} ${res.text}`);
    }
  });
});

describe('cross-site requests', () => {
  test('foreign origin cannot send', async () => {
    const before = await count('SELECT count(*) FROM messages');
    const res = await withOrigin(alice, EVIL, 'POST', `/api/conversations/${conversation.id}/messages`, {
      client_id: newClientId(),
      body: 'forged',
    });
    assertError(res, 403, 'forbidden_origin');
    assert.equal(await count('SELECT count(*) FROM messages'), before);
  });

  test('same origin can send', async () => {
    const res = await withOrigin(alice, stack.origin, 'POST', `/api/conversations/${conversation.id}/messages`, {
      client_id: newClientId(),
      body: 'genuine',
    });
    assert.equal(res.status, 201, res.text);
  });

  test('absent origin can send', async () => {
    const res = await withOrigin(alice, undefined, 'POST', `/api/conversations/${conversation.id}/messages`, {
      client_id: newClientId(),
      body: 'from a script',
    });
    assert.equal(res.status, 201, res.text);
  });

  test('near-miss origins rejected', async () => {
    const origin = new URL(stack.origin);
    const otherScheme = `${origin.protocol === 'http:' ? 'https:' : 'http:'}//${origin.host}`;
    const otherPort = `${origin.protocol}//${origin.hostname}:${Number(origin.port || 80) + 1}`;
    for (const candidate of ['null', otherScheme, otherPort, `${stack.origin}.evil.example`, `http://evil.example/${origin.host}`]) {
      const res = await withOrigin(alice, candidate, 'POST', `/api/conversations/${conversation.id}/messages`, {
        client_id: newClientId(),
        body: 'almost',
      });
      assertError(res, 403, 'forbidden_origin');
    }
  });

  test('foreign origin changes nothing', async () => {
    const fire = encodeURIComponent('🔥');
    const reacted = await call(bob.client, 'PUT', `/api/messages/${message.id}/reactions/${encodeURIComponent('👍')}`);
    assert.equal(reacted.status, 200);
    const state = async () => ({
      users: await count('SELECT count(*) FROM users'),
      conversations: await count('SELECT count(*) FROM conversations'),
      reactions: await count('SELECT count(*) FROM reactions'),
      cursor: await queryValue(stack, `SELECT coalesce(last_read_message_id, 0) FROM conversation_members
                                       WHERE conversation_id = ${conversation.id} AND user_id = ${bob.user.id}`),
      version: await queryValue(stack, `SELECT token_version FROM users WHERE id = ${bob.user.id}`),
      revoked: await count('SELECT count(*) FROM revoked_sessions'),
    });
    const before = await state();

    const attempts = [
      ['POST', '/api/auth/register', { username: uniqueUsername('forged'), password: 'password1' }],
      ['POST', '/api/conversations', { member_ids: [outsider.user.id] }],
      ['POST', `/api/conversations/${conversation.id}/read`, { up_to: message.id }],
      ['PUT', `/api/messages/${message.id}/reactions/${fire}`],
      ['DELETE', `/api/messages/${message.id}/reactions/${encodeURIComponent('👍')}`],
      ['POST', '/api/auth/logout'],
      ['POST', '/api/auth/logout-all'],
    ];
    for (const [method, urlPath, json] of attempts) {
      const res = await withOrigin(bob, EVIL, method, urlPath, json);
      assertError(res, 403, 'forbidden_origin');
      assert.equal(sessionCookie(res), undefined, `${method} ${urlPath} set a cookie`);
    }
    assert.deepEqual(await state(), before);

    // Bob's session still works after the forged logouts.
    const me = await withOrigin(bob, undefined, 'GET', '/api/me');
    assert.equal(me.status, 200);
  });

  test('foreign origin cannot log in', async () => {
    const account = await registerUser(stack, 'victim');
    const res = await rawRequest(stack, 'POST', '/api/auth/login', {
      headers: { origin: EVIL, 'content-type': 'application/json' },
      body: JSON.stringify({ username: account.username, password: account.password }),
    });
    assertError(res, 403, 'forbidden_origin');
    assert.equal(sessionCookie(res), undefined);
  });

  test('foreign origin may read', async () => {
    const res = await withOrigin(alice, EVIL, 'GET', '/api/me');
    assert.equal(res.status, 200, res.text);
  });
});

describe('routing', () => {
  test('unknown route is JSON 404', async () => {
    for (const urlPath of ['/api/nope', '/api/conversations/1/nope', '/api/me/extra', '/api/messages/1', '/api/auth']) {
      const res = await call(alice.client, 'GET', urlPath);
      assert.equal(res.status, 404, `${urlPath}: ${res.status}`);
      assertError(res, 404);
    }
  });

  test('wrong method is 405 with Allow', async () => {
    const cases = [
      // PATCH /api/me changes the display name.
      ['DELETE', '/api/me', ['GET', 'PATCH']],
      ['POST', '/api/me', ['GET', 'PATCH']],
      ['PUT', '/api/conversations', ['GET', 'POST']],
      ['DELETE', `/api/conversations/${conversation.id}`, ['GET']],
      ['PUT', `/api/conversations/${conversation.id}/messages`, ['GET', 'POST']],
      ['GET', '/api/auth/login', ['POST']],
      ['GET', `/api/conversations/${conversation.id}/read`, ['POST']],
      ['POST', `/api/messages/${message.id}/reactions/${encodeURIComponent('🔥')}`, ['DELETE', 'PUT']],
    ];
    for (const [method, urlPath, allowed] of cases) {
      const res = await call(alice.client, method, urlPath, method === 'GET' ? undefined : {});
      assert.equal(res.status, 405, `${method} ${urlPath}: ${res.status}`);
      assertError(res, 405);
      const allow = header(res, 'allow');
      assert.ok(allow, `${method} ${urlPath} has no Allow header`);
      const methods = allow.split(',').map((m) => m.trim()).filter((m) => m !== 'HEAD' && m !== 'OPTIONS').sort();
      assert.deepEqual(methods, allowed, `${method} ${urlPath}: Allow ${allow}`);
    }
  });
});
