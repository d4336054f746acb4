// The core flow of the API behind nginx instead of lighttpd: accounts,
// search, a conversation, messages, read cursor, reactions, the Origin
// check, the size limit and logout.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  SESSION_COOKIE,
  assertError,
  call,
  header,
  newClient,
  newClientId,
  rawJson,
  rawRequest,
  registerUser,
  sessionCookie,
  sessionToken,
  startApiStack,
} from './support.mjs';

let stack;

before(async () => {
  stack = await startApiStack({ webServer: 'nginx' });
});

after(async () => {
  await stack?.stop();
});

test('core flow behind nginx', async () => {
  const alice = await registerUser(stack, 'nginx_alice', { display_name: 'Alice' });
  const bob = await registerUser(stack, 'nginx_bob');
  const cookie = sessionCookie(await loginResponse(bob));
  assert.equal(cookie.attributes.get('httponly'), true);
  assert.equal(String(cookie.attributes.get('samesite')).toLowerCase(), 'lax');
  assert.equal(cookie.attributes.get('path'), '/');

  const me = await call(alice.client, 'GET', '/api/me');
  assert.equal(me.status, 200, me.text);
  assert.deepEqual(me.json.user, alice.user);

  const search = await call(alice.client, 'GET', `/api/users?q=${encodeURIComponent(bob.username.slice(0, 8))}`);
  assert.equal(search.status, 200);
  assert.deepEqual(search.json.users.map((u) => u.id), [bob.user.id]);

  const created = await call(alice.client, 'POST', '/api/conversations', { member_ids: [bob.user.id] });
  assert.equal(created.status, 201, created.text);
  const conversationId = created.json.conversation.id;
  const again = await call(bob.client, 'POST', '/api/conversations', { member_ids: [alice.user.id] });
  assert.equal(again.status, 200);
  assert.equal(again.json.conversation.id, conversationId);

  const clientId = newClientId();
  const sent = await call(alice.client, 'POST', `/api/conversations/${conversationId}/messages`, { client_id: clientId, body: 'hi via nginx 👋' });
  assert.equal(sent.status, 201, sent.text);
  const retried = await call(alice.client, 'POST', `/api/conversations/${conversationId}/messages`, { client_id: clientId, body: 'hi via nginx 👋' });
  assert.equal(retried.status, 200);
  assert.deepEqual(retried.json, sent.json);

  const history = await call(bob.client, 'GET', `/api/conversations/${conversationId}/messages`);
  assert.equal(history.status, 200);
  assert.deepEqual(history.json.messages.map((m) => m.body), ['hi via nginx 👋']);
  assert.equal(history.json.next_cursor, null);

  const listed = await call(bob.client, 'GET', '/api/conversations');
  assert.equal(listed.json.conversations[0].unread_count, 1);
  const read = await call(bob.client, 'POST', `/api/conversations/${conversationId}/read`, { up_to: sent.json.message.id });
  assert.equal(read.status, 204);
  const seen = await call(alice.client, 'GET', `/api/conversations/${conversationId}/messages`);
  assert.deepEqual(seen.json.messages[0].seen_by, [bob.user.id]);

  const reacted = await call(bob.client, 'PUT', `/api/messages/${sent.json.message.id}/reactions/${encodeURIComponent('❤️')}`);
  assert.equal(reacted.status, 200, reacted.text);
  assert.deepEqual(reacted.json, { reactions: { '❤️': 1 }, my_reactions: ['❤️'] });
  const unreacted = await call(bob.client, 'DELETE', `/api/messages/${sent.json.message.id}/reactions/${encodeURIComponent('❤️')}`);
  assert.deepEqual(unreacted.json, { reactions: {}, my_reactions: [] });

  const forged = await rawRequest(stack, 'POST', `/api/conversations/${conversationId}/messages`, {
    headers: { origin: 'http://evil.example', cookie: `${SESSION_COOKIE}=${alice.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ client_id: newClientId(), body: 'forged' }),
  });
  assertError(forged, 403, 'forbidden_origin');

  const tooLarge = await rawJson(stack, alice.token, 'POST', `/api/conversations/${conversationId}/messages`,
    JSON.stringify({ client_id: newClientId(), body: 'x'.repeat(70 * 1024) }));
  assertError(tooLarge, 413, 'too_large');

  const wrongMethod = await call(alice.client, 'PUT', '/api/conversations', {});
  assertError(wrongMethod, 405);
  assert.deepEqual(header(wrongMethod, 'allow').split(',').map((m) => m.trim()).sort(), ['GET', 'POST']);
  assertError(await call(alice.client, 'GET', '/api/unknown'), 404);

  const logout = await call(alice.client, 'POST', '/api/auth/logout');
  assert.equal(logout.status, 204);
  const replay = await rawRequest(stack, 'GET', '/api/me', { headers: { cookie: `${SESSION_COOKIE}=${alice.token}` } });
  assertError(replay, 401, 'unauthenticated');
});

test('invalid login behind nginx', async () => {
  const account = await registerUser(stack, 'nginx_carol');
  const wrong = await call(newClient(stack), 'POST', '/api/auth/login', { username: account.username, password: 'wrong-password' });
  assertError(wrong, 401, 'invalid_credentials');
  const right = await loginResponse(account);
  assert.equal(right.status, 200);
  assert.ok(sessionToken(right));
});

function loginResponse(account) {
  return call(newClient(stack), 'POST', '/api/auth/login', { username: account.username, password: account.password });
}
