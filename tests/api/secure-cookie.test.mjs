// An install whose public origin is https: the session cookie is Secure,
// and only that origin may change state.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  assertError,
  call,
  newClient,
  rawRequest,
  registerUser,
  sessionCookie,
  startApiStack,
  uniqueUsername,
} from './support.mjs';

const PUBLIC_ORIGIN = 'https://chat.example.test';

let stack;

before(async () => {
  // TLS ends in front of the web server, which the test client talks to
  // over plain HTTP on loopback.
  stack = await startApiStack({ env: { BLINKCHAT_PUBLIC_ORIGIN: PUBLIC_ORIGIN } });
});

after(async () => {
  await stack?.stop();
});

test('https install sets Secure cookie', async () => {
  assert.equal(stack.origin, PUBLIC_ORIGIN);
  const client = newClient(stack);
  const username = uniqueUsername('secure');
  const register = await call(client, 'POST', '/api/auth/register', { username, password: 'password1' });
  assert.equal(register.status, 201, register.text);
  const login = await call(client, 'POST', '/api/auth/login', { username, password: 'password1' });
  assert.equal(login.status, 200, login.text);

  for (const [label, res] of [['register', register], ['login', login]]) {
    const cookie = sessionCookie(res);
    assert.equal(cookie.attributes.get('secure'), true, `${label}: Secure`);
    assert.equal(cookie.attributes.get('httponly'), true, `${label}: HttpOnly`);
    assert.equal(String(cookie.attributes.get('samesite')).toLowerCase(), 'lax', `${label}: SameSite`);
    assert.equal(cookie.attributes.get('path'), '/', `${label}: Path`);
  }

  const logout = await call(client, 'POST', '/api/auth/logout');
  assert.equal(logout.status, 204);
  assert.equal(sessionCookie(logout).attributes.get('secure'), true);
});

test('plain http origin rejected', async () => {
  const account = await registerUser(stack, 'origin');
  const res = await rawRequest(stack, 'POST', '/api/auth/logout', {
    headers: { origin: PUBLIC_ORIGIN.replace('https:', 'http:'), cookie: `blinkchat_session=${account.token}` },
  });
  assertError(res, 403, 'forbidden_origin');
  const local = await rawRequest(stack, 'POST', '/api/auth/logout', {
    headers: { origin: stack.baseUrl, cookie: `blinkchat_session=${account.token}` },
  });
  assertError(local, 403, 'forbidden_origin');
});
