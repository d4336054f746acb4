// Accounts and sessions: register, login, logout, logout-all, /api/me, the
// session cookie, login throttling and rejection of forged tokens.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { after, before, beforeEach, describe, test } from 'node:test';

import {
  API_TIME,
  SESSION_COOKIE,
  assertError,
  assertJsonContentType,
  call,
  decodeClaims,
  header,
  newClient,
  newJti,
  queryValue,
  rawRequest,
  registerUser,
  sessionCookie,
  sessionToken,
  signToken,
  stackSecret,
  startApiStack,
  uniqueUsername,
} from './support.mjs';

const MAX_FAILURES_PER_USER = 3;
const MAX_FAILURES_PER_ADDRESS = 6;
const LOGIN_WINDOW_SECONDS = 900;

let stack;

before(async () => {
  stack = await startApiStack({
    env: {
      // A hashing cost well above the cost of the rest of a login, so that
      // the time of a login for an unknown user can be compared with a
      // wrong password (production uses 65536 KiB).
      BLINKCHAT_PASSWORD_MEMLIMIT_KIB: '16384',
      BLINKCHAT_PASSWORD_OPSLIMIT: '2',
      BLINKCHAT_LOGIN_MAX_FAILURES_PER_USER: String(MAX_FAILURES_PER_USER),
      BLINKCHAT_LOGIN_MAX_FAILURES_PER_ADDRESS: String(MAX_FAILURES_PER_ADDRESS),
      BLINKCHAT_LOGIN_WINDOW_SECONDS: String(LOGIN_WINDOW_SECONDS),
    },
  });
});

after(async () => {
  await stack?.stop();
});

// Every test starts with no recorded login failures, so the address limit
// only trips where a test means it to.
beforeEach(async () => {
  await stack.psql('DELETE FROM login_failures');
});

function register(client, body) {
  return call(client, 'POST', '/api/auth/register', body);
}

function login(client, username, password) {
  return call(client, 'POST', '/api/auth/login', { username, password });
}

// Sends GET /api/me with exactly this cookie value and nothing else.
function meWithToken(token) {
  return rawRequest(stack, 'GET', '/api/me', { headers: { cookie: `${SESSION_COOKIE}=${token}` } });
}

function assertSessionCookie(res) {
  const cookie = sessionCookie(res);
  assert.ok(cookie, `no ${SESSION_COOKIE} cookie in ${JSON.stringify(res.headers)}`);
  assert.ok(cookie.value.length > 0, 'the session cookie is empty');
  assert.equal(cookie.attributes.get('httponly'), true);
  assert.equal(String(cookie.attributes.get('samesite')).toLowerCase(), 'lax');
  assert.equal(cookie.attributes.get('path'), '/');
  assert.equal(cookie.attributes.has('secure'), false, 'Secure is set although the install serves plain HTTP');
  return cookie;
}

function assertClearedCookie(res) {
  const cookie = sessionCookie(res);
  assert.ok(cookie, 'the response does not clear the session cookie');
  assert.equal(cookie.value, '');
  const maxAge = cookie.attributes.get('max-age');
  const expires = cookie.attributes.get('expires');
  assert.ok(
    maxAge === '0' || (typeof expires === 'string' && Date.parse(expires) < Date.now()),
    `the cleared cookie neither has Max-Age=0 nor a past Expires: ${JSON.stringify([...cookie.attributes])}`,
  );
  assert.equal(cookie.attributes.get('path'), '/');
}

describe('register', () => {
  test('register returns user and cookie', async () => {
    const client = newClient(stack);
    const username = uniqueUsername('reg');
    const res = await register(client, { username, password: 'correct horse', display_name: 'Régine ✨' });

    assert.equal(res.status, 201, res.text);
    assertJsonContentType(res);
    assert.deepEqual(Object.keys(res.json), ['user']);
    const { user } = res.json;
    assert.deepEqual(Object.keys(user).sort(), ['display_name', 'id', 'last_seen_at', 'online', 'username']);
    assert.ok(Number.isInteger(user.id), `id ${user.id}`);
    assert.ok(user.id > 0, `id ${user.id}`);
    assert.equal(user.username, username);
    assert.equal(user.display_name, 'Régine ✨');
    assert.equal(user.online, false);
    assert.equal(user.last_seen_at, null);
    assertSessionCookie(res);

    const me = await call(client, 'GET', '/api/me');
    assert.equal(me.status, 200, me.text);
    assert.deepEqual(me.json, { user });
  });

  test('display name defaults to username', async () => {
    const username = uniqueUsername('dflt');
    const res = await register(newClient(stack), { username, password: 'password1' });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.json.user.display_name, username);
  });

  test('username length limits', async () => {
    const base = uniqueUsername('len').replace(/_/g, '');
    const three = `z${randomBytes(1).toString('hex')}`;
    const thirtyTwo = base.padEnd(32, 'x');
    const thirtyThree = base.padEnd(33, 'y');

    assert.equal((await register(newClient(stack), { username: three, password: 'password1' })).status, 201);
    assertError(await register(newClient(stack), { username: 'ab', password: 'password1' }), 400, 'invalid_body');
    assert.equal((await register(newClient(stack), { username: thirtyTwo, password: 'password1' })).status, 201);
    assertError(await register(newClient(stack), { username: thirtyThree, password: 'password1' }), 400, 'invalid_body');
  });

  test('username character set', async () => {
    const good = uniqueUsername('ok.name-9');
    assert.equal((await register(newClient(stack), { username: good, password: 'password1' })).status, 201);

    for (const username of ['with space', 'at@sign', 'slash/name', 'émile', 'tab\tname', 'plus+name', 'null\u0000x', '']) {
      const res = await register(newClient(stack), { username, password: 'password1' });
      assertError(res, 400, 'invalid_body');
    }
  });

  test('username missing or not a string', async () => {
    assertError(await register(newClient(stack), { password: 'password1' }), 400, 'invalid_body');
    assertError(await register(newClient(stack), { username: 12345, password: 'password1' }), 400, 'invalid_body');
    assertError(await register(newClient(stack), { username: null, password: 'password1' }), 400, 'invalid_body');
  });

  test('username taken ignoring case', async () => {
    const username = uniqueUsername('dup');
    assert.equal((await register(newClient(stack), { username, password: 'password1' })).status, 201);

    const same = await register(newClient(stack), { username, password: 'password2' });
    assertError(same, 409, 'username_taken');
    assert.equal(sessionCookie(same), undefined, 'a refused registration set a session cookie');

    const upper = await register(newClient(stack), { username: username.toUpperCase(), password: 'password2' });
    assertError(upper, 409, 'username_taken');

    const count = await queryValue(stack, `SELECT count(*) FROM users WHERE lower(username) = '${username}'`);
    assert.equal(count, '1');
  });

  test('concurrent registrations one wins', async () => {
    const username = uniqueUsername('race');
    const spellings = [username, username.toUpperCase(), username, username.toUpperCase()];
    const results = await Promise.all(
      spellings.map((name) => register(newClient(stack), { username: name, password: 'password1' })),
    );
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [201, 409, 409, 409], results.map((r) => r.text).join('\n'));
    for (const res of results.filter((r) => r.status === 409)) assertError(res, 409, 'username_taken');
    const count = await queryValue(stack, `SELECT count(*) FROM users WHERE lower(username) = '${username}'`);
    assert.equal(count, '1');
  });

  test('password length in bytes', async () => {
    const cases = [
      ['1234567', 400],
      ['12345678', 201],
      // Four two-byte characters are eight bytes.
      ['éééé', 201],
      // Three two-byte characters and one ASCII letter are seven bytes.
      ['ééé1', 400],
      ['p'.repeat(1024), 201],
      ['p'.repeat(1025), 400],
      ['é'.repeat(512), 201],
      ['é'.repeat(512) + 'x', 400],
    ];
    for (const [password, status] of cases) {
      const res = await register(newClient(stack), { username: uniqueUsername('pw'), password });
      if (status === 400) assertError(res, 400, 'invalid_body');
      else assert.equal(res.status, 201, `password of ${Buffer.byteLength(password)} bytes: ${res.text}`);
    }
  });

  test('password missing or not a string', async () => {
    assertError(await register(newClient(stack), { username: uniqueUsername('pw') }), 400, 'invalid_body');
    assertError(await register(newClient(stack), { username: uniqueUsername('pw'), password: 12345678 }), 400, 'invalid_body');
  });

  test('display name length in characters', async () => {
    const ok = [['x', 'x'], ['é'.repeat(64), 'é'.repeat(64)], ['🔥'.repeat(64), '🔥'.repeat(64)]];
    for (const [displayName, expected] of ok) {
      const res = await register(newClient(stack), {
        username: uniqueUsername('dn'),
        password: 'password1',
        display_name: displayName,
      });
      assert.equal(res.status, 201, res.text);
      assert.equal(res.json.user.display_name, expected);
    }
    for (const displayName of ['', 'd'.repeat(65), '🔥'.repeat(65), 42]) {
      const res = await register(newClient(stack), {
        username: uniqueUsername('dn'),
        password: 'password1',
        display_name: displayName,
      });
      assertError(res, 400, 'invalid_body');
    }
  });

  test('display name rejects control characters', async () => {
    for (const displayName of ['a\u202egnp.exe', 'bell\u0007', 'two\nlines', 'iso\u2066late', '\u200b']) {
      const res = await register(newClient(stack), {
        username: uniqueUsername('dn'),
        password: 'password1',
        display_name: displayName,
      });
      assertError(res, 400, 'invalid_body');
    }
  });

  test('register rejects non-JSON body', async () => {
    const res = await rawRequest(stack, 'POST', '/api/auth/register', {
      headers: { 'content-type': 'text/plain', origin: stack.origin },
      body: JSON.stringify({ username: uniqueUsername('txt'), password: 'password1' }),
    });
    assertError(res, 415, 'unsupported_media_type');
  });
});

describe('login', () => {
  test('login returns user and cookie', async () => {
    const account = await registerUser(stack, 'login');
    const client = newClient(stack);
    const res = await login(client, account.username, account.password);

    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { user: account.user });
    const cookie = assertSessionCookie(res);
    assert.notEqual(cookie.value, account.token, 'login reused the token of registration');

    const me = await call(client, 'GET', '/api/me');
    assert.equal(me.status, 200, me.text);
    assert.equal(me.json.user.id, account.user.id);
  });

  test('login ignores username case', async () => {
    const account = await registerUser(stack, 'case');
    const res = await login(newClient(stack), account.username.toUpperCase(), account.password);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.user.id, account.user.id);
  });

  test('wrong password equals unknown user', async () => {
    const account = await registerUser(stack, 'same');
    const wrong = await login(newClient(stack), account.username, account.password + 'x');
    const unknown = await login(newClient(stack), uniqueUsername('nobody'), account.password);

    assertError(wrong, 401, 'invalid_credentials');
    assertError(unknown, 401, 'invalid_credentials');
    assert.equal(wrong.text, unknown.text);
    assert.equal(sessionCookie(wrong), undefined);
    assert.equal(sessionCookie(unknown), undefined);
  });

  test('unknown user takes similar time', async () => {
    const account = await registerUser(stack, 'timing');
    const samples = { wrong: [], unknown: [] };
    for (let i = 0; i < 4; i++) {
      await stack.psql('DELETE FROM login_failures');
      let start = performance.now();
      assert.equal((await login(newClient(stack), account.username, 'not-the-password')).status, 401);
      samples.wrong.push(performance.now() - start);

      start = performance.now();
      assert.equal((await login(newClient(stack), uniqueUsername('ghost'), 'not-the-password')).status, 401);
      samples.unknown.push(performance.now() - start);
    }
    const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
    const wrong = median(samples.wrong);
    const unknown = median(samples.unknown);
    // A login that skips the password hash for an unknown user responds
    // several times faster than one that verifies a wrong password.
    assert.ok(unknown > wrong * 0.5, `unknown user ${unknown.toFixed(1)} ms, wrong password ${wrong.toFixed(1)} ms`);
  });

  test('login requires both fields', async () => {
    const account = await registerUser(stack, 'fields');
    assertError(await call(newClient(stack), 'POST', '/api/auth/login', { username: account.username }), 400, 'invalid_body');
    assertError(await call(newClient(stack), 'POST', '/api/auth/login', { password: account.password }), 400, 'invalid_body');
    assertError(
      await call(newClient(stack), 'POST', '/api/auth/login', { username: account.username, password: 5 }),
      400,
      'invalid_body',
    );
  });
});

describe('login rate limit', () => {
  function assertRateLimited(res) {
    assertError(res, 429, 'rate_limited');
    const retryAfter = header(res, 'retry-after');
    assert.match(String(retryAfter), /^\d+$/, `Retry-After is ${retryAfter}`);
    assert.ok(Number(retryAfter) >= 1, `Retry-After ${retryAfter}`);
    assert.ok(Number(retryAfter) <= LOGIN_WINDOW_SECONDS, `Retry-After ${retryAfter}`);
    assert.equal(sessionCookie(res), undefined);
  }

  test('per-user limit blocks correct password', async () => {
    const account = await registerUser(stack, 'limited');
    for (let i = 0; i < MAX_FAILURES_PER_USER; i++) {
      assertError(await login(newClient(stack), account.username, 'wrong-password'), 401, 'invalid_credentials');
    }
    assertRateLimited(await login(newClient(stack), account.username, account.password));
    assertRateLimited(await login(newClient(stack), account.username.toUpperCase(), account.password));

    // Another user from the same address is still below the address limit.
    const other = await registerUser(stack, 'free');
    assert.equal((await login(newClient(stack), other.username, other.password)).status, 200);
  });

  test('per-user limit counts any case', async () => {
    const account = await registerUser(stack, 'mixed');
    const spellings = [account.username.toUpperCase(), account.username, account.username.toUpperCase()];
    for (const spelling of spellings.slice(0, MAX_FAILURES_PER_USER)) {
      assertError(await login(newClient(stack), spelling, 'wrong-password'), 401, 'invalid_credentials');
    }
    assertRateLimited(await login(newClient(stack), account.username, account.password));
  });

  test('limit ends with its window', async () => {
    const account = await registerUser(stack, 'window');
    for (let i = 0; i < MAX_FAILURES_PER_USER; i++) {
      assertError(await login(newClient(stack), account.username, 'wrong-password'), 401, 'invalid_credentials');
    }
    assertRateLimited(await login(newClient(stack), account.username, account.password));

    // Move the window's start back past its length instead of waiting.
    await stack.psql(`UPDATE login_failures
                      SET window_start = window_start - interval '${LOGIN_WINDOW_SECONDS + 1} seconds'`);
    const res = await login(newClient(stack), account.username, account.password);
    assert.equal(res.status, 200, res.text);
  });

  // Logs in over a connection from another loopback address, as a second
  // client machine would.
  function loginFrom(localAddress, username, password) {
    const body = JSON.stringify({ username, password });
    const url = new URL('/api/auth/login', stack.baseUrl);
    return new Promise((resolve, reject) => {
      const req = http.request(url, {
        method: 'POST', localAddress,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => { text += chunk; });
        res.on('end', () => resolve({ status: res.statusCode, text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  test('lockout does not reach other addresses', async () => {
    const account = await registerUser(stack, 'target');
    for (let i = 0; i < MAX_FAILURES_PER_USER; i++) {
      assertError(await login(newClient(stack), account.username, 'wrong-password'), 401, 'invalid_credentials');
    }
    assertRateLimited(await login(newClient(stack), account.username, account.password));

    const elsewhere = await loginFrom('127.0.0.2', account.username, account.password);
    assert.equal(elsewhere.status, 200, elsewhere.text);
  });

  test('per-address limit blocks new users', async () => {
    const account = await registerUser(stack, 'victim');
    for (let i = 0; i < MAX_FAILURES_PER_ADDRESS; i++) {
      const res = await login(newClient(stack), uniqueUsername('spray'), 'wrong-password');
      assertError(res, 401, 'invalid_credentials');
    }
    assertRateLimited(await login(newClient(stack), account.username, account.password));
  });
});

describe('logout', () => {
  test('logout clears cookie and revokes token', async () => {
    const account = await registerUser(stack, 'logout');
    assert.equal((await meWithToken(account.token)).status, 200);

    const res = await call(account.client, 'POST', '/api/auth/logout');
    assert.equal(res.status, 204, res.text);
    assert.equal(res.text, '');
    assertClearedCookie(res);

    assertError(await call(account.client, 'GET', '/api/me'), 401, 'unauthenticated');
    // The old token, replayed by hand, stays refused.
    assertError(await meWithToken(account.token), 401, 'unauthenticated');
  });

  test('logout keeps other sessions', async () => {
    const account = await registerUser(stack, 'devices');
    const phone = newClient(stack);
    const phoneLogin = await login(phone, account.username, account.password);
    assert.equal(phoneLogin.status, 200);

    assert.equal((await call(account.client, 'POST', '/api/auth/logout')).status, 204);
    assert.equal((await call(phone, 'GET', '/api/me')).status, 200);
    assert.equal((await meWithToken(sessionToken(phoneLogin))).status, 200);
  });

  test('logout without session', async () => {
    assertError(await call(newClient(stack), 'POST', '/api/auth/logout'), 401, 'unauthenticated');
  });

  test('logout-all revokes every device', async () => {
    const account = await registerUser(stack, 'everywhere');
    const laptop = newClient(stack);
    const laptopLogin = await login(laptop, account.username, account.password);
    assert.equal(laptopLogin.status, 200);

    const res = await call(account.client, 'POST', '/api/auth/logout-all');
    assert.equal(res.status, 204, res.text);
    assertClearedCookie(res);

    assertError(await meWithToken(account.token), 401, 'unauthenticated');
    assertError(await meWithToken(sessionToken(laptopLogin)), 401, 'unauthenticated');
    assertError(await call(laptop, 'GET', '/api/me'), 401, 'unauthenticated');

    // A new login after that works.
    const again = await login(newClient(stack), account.username, account.password);
    assert.equal(again.status, 200);
    assert.equal((await meWithToken(sessionToken(again))).status, 200);
  });

  test('logout-all without session', async () => {
    assertError(await call(newClient(stack), 'POST', '/api/auth/logout-all'), 401, 'unauthenticated');
  });
});

describe('session token', () => {
  let account;
  let secret;

  before(async () => {
    account = await registerUser(stack, 'token');
    secret = stackSecret(stack);
  });

  function claims(extra = {}) {
    const now = Math.floor(Date.now() / 1000);
    return { sub: String(account.user.id), ver: 0, jti: newJti(), iat: now, exp: now + 3600, ...extra };
  }

  test('issued token has contract claims', () => {
    const payload = decodeClaims(account.token);
    assert.equal(payload.sub, String(account.user.id));
    assert.equal(payload.ver, 0);
    assert.match(payload.jti, /^[0-9a-f]{32}$/);
    assert.ok(Number.isInteger(payload.iat));
    assert.ok(payload.exp > payload.iat);
    const header = JSON.parse(Buffer.from(account.token.split('.')[0], 'base64url').toString('utf8'));
    assert.equal(header.alg, 'HS256');
  });

  test('cookie lasts as long as token', async () => {
    const res = await login(newClient(stack), account.username, account.password);
    const cookie = sessionCookie(res);
    const payload = decodeClaims(cookie.value);
    assert.equal(Number(cookie.attributes.get('max-age')), payload.exp - payload.iat);
    assert.ok(Math.abs(payload.iat - Date.now() / 1000) < 60, `iat ${payload.iat}`);
  });

  test('crafted valid token accepted', async () => {
    // The control for the forgeries below: a token made here with the
    // stack's secret and correct claims is a valid session.
    const res = await meWithToken(signToken(claims(), secret));
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.user.id, account.user.id);
  });

  test('missing or empty cookie', async () => {
    assertError(await call(newClient(stack), 'GET', '/api/me'), 401, 'unauthenticated');
    assertError(await meWithToken(''), 401, 'unauthenticated');
    assertError(await meWithToken('not-a-jwt'), 401, 'unauthenticated');
  });

  test('tampered token rejected', async () => {
    const [head, body, signature] = account.token.split('.');
    const otherUser = Buffer.from(
      JSON.stringify({ ...decodeClaims(account.token), sub: String(account.user.id + 1) }),
    ).toString('base64url');
    assertError(await meWithToken(`${head}.${otherUser}.${signature}`), 401, 'unauthenticated');

    const flipped = signature[0] === 'A' ? 'B' + signature.slice(1) : 'A' + signature.slice(1);
    assertError(await meWithToken(`${head}.${body}.${flipped}`), 401, 'unauthenticated');
    assertError(await meWithToken(`${head}.${body}.`), 401, 'unauthenticated');
    assertError(await meWithToken(`${head}.${body}`), 401, 'unauthenticated');
  });

  test('token of another secret rejected', async () => {
    const res = await meWithToken(signToken(claims(), 'another-secret-of-at-least-32-characters!!'));
    assertError(res, 401, 'unauthenticated');
  });

  test('expired token rejected', async () => {
    const now = Math.floor(Date.now() / 1000);
    const res = await meWithToken(signToken(claims({ iat: now - 7200, exp: now - 60 }), secret));
    assertError(res, 401, 'unauthenticated');
  });

  test('alg none token rejected', async () => {
    for (const alg of ['none', 'None', 'NONE']) {
      const token = signToken(claims(), null, { alg, typ: 'JWT' });
      assertError(await meWithToken(token), 401, 'unauthenticated');
      // The same with a signature part that is not empty.
      const signed = signToken(claims(), secret, { alg, typ: 'JWT' });
      assertError(await meWithToken(signed), 401, 'unauthenticated');
    }
  });

  test('old token version rejected', async () => {
    const user = await registerUser(stack, 'version');
    const token = signToken({ ...claims(), sub: String(user.user.id), ver: 0 }, secret);
    assert.equal((await meWithToken(token)).status, 200);

    assert.equal((await call(user.client, 'POST', '/api/auth/logout-all')).status, 204);
    assertError(await meWithToken(token), 401, 'unauthenticated');
    const current = signToken({ ...claims(), sub: String(user.user.id), ver: 1 }, secret);
    assert.equal((await meWithToken(current)).status, 200);
  });

  test('token of unknown user rejected', async () => {
    const res = await meWithToken(signToken(claims({ sub: '987654321' }), secret));
    assertError(res, 401, 'unauthenticated');
  });

  test('banned user token rejected', async () => {
    const user = await registerUser(stack, 'banned');
    assert.equal((await meWithToken(user.token)).status, 200);
    await stack.psql(`SELECT admin_ban_user('${user.username}')`);
    assertError(await meWithToken(user.token), 401, 'unauthenticated');
  });
});

describe('me', () => {
  test('me returns own user', async () => {
    const account = await registerUser(stack, 'me', { display_name: 'Me Myself' });
    const res = await call(account.client, 'GET', '/api/me');
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, {
      user: { id: account.user.id, username: account.username, display_name: 'Me Myself', online: false, last_seen_at: null },
    });
  });

  test('me shows last seen time', async () => {
    const account = await registerUser(stack, 'seen');
    await stack.psql(`UPDATE users SET last_seen_at = '2026-12-04 10:00:00.123+00' WHERE id = ${account.user.id}`);
    const res = await call(account.client, 'GET', '/api/me');
    assert.equal(res.status, 200);
    assert.match(res.json.user.last_seen_at, API_TIME);
    assert.equal(res.json.user.last_seen_at, '2026-12-04T10:00:00.123Z');
  });
});
