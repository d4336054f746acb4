// User search: GET /api/users?q=PREFIX.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';

import { connectSocket } from '../lib/http.mjs';

import {
  assertError,
  assertUser,
  call,
  directConversation,
  newClient,
  registerUser,
  sleep,
  startApiStack,
} from './support.mjs';

let stack;
let caller;

before(async () => {
  stack = await startApiStack();
  caller = await registerUser(stack, 'caller');
});

after(async () => {
  await stack?.stop();
});

// A lower-case prefix that no other test in this file uses.
function freshPrefix() {
  return `s${randomBytes(3).toString('hex')}`;
}

function search(client, q) {
  return call(client, 'GET', `/api/users?q=${encodeURIComponent(q)}`);
}

function usernames(res) {
  return res.json.users.map((user) => user.username).sort();
}

async function registerNamed(username) {
  return registerUser(stack, 'unused', { username });
}

test('search matches prefix only', async () => {
  const prefix = freshPrefix();
  const alpha = await registerNamed(`${prefix}alpha`);
  const beta = await registerNamed(`${prefix}beta`);
  await registerNamed(`x${prefix}alpha`);

  const res = await search(caller.client, prefix);
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(Object.keys(res.json), ['users']);
  assert.deepEqual(usernames(res), [`${prefix}alpha`, `${prefix}beta`]);
  const byName = Object.fromEntries(res.json.users.map((user) => [user.username, user]));
  assertUser(byName[`${prefix}alpha`], alpha.user);
  assertUser(byName[`${prefix}beta`], beta.user);

  const narrow = await search(caller.client, `${prefix}al`);
  assert.deepEqual(usernames(narrow), [`${prefix}alpha`]);

  const whole = await search(caller.client, `${prefix}alpha`);
  assert.deepEqual(usernames(whole), [`${prefix}alpha`]);
});

test('search ignores case', async () => {
  const prefix = freshPrefix();
  await registerNamed(`${prefix}carol`);

  for (const q of [prefix.toUpperCase(), `${prefix}CaR`, `${prefix}carol`.toUpperCase()]) {
    const res = await search(caller.client, q);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(usernames(res), [`${prefix}carol`], `q=${q}`);
  }
});

test('search returns at most 20', async () => {
  const prefix = freshPrefix();
  for (let i = 0; i < 23; i++) await registerNamed(`${prefix}m${String(i).padStart(2, '0')}`);

  const res = await search(caller.client, prefix);
  assert.equal(res.status, 200);
  assert.equal(res.json.users.length, 20);
  assert.equal(new Set(usernames(res)).size, 20);
  for (const name of usernames(res)) assert.ok(name.startsWith(prefix), name);
});

test('search never returns caller', async () => {
  const prefix = freshPrefix();
  const self = await registerNamed(`${prefix}self`);
  await registerNamed(`${prefix}selfie`);

  const res = await search(self.client, prefix);
  assert.equal(res.status, 200);
  assert.deepEqual(usernames(res), [`${prefix}selfie`]);

  const exact = await search(self.client, `${prefix}self`);
  assert.deepEqual(usernames(exact), [`${prefix}selfie`]);
});

test('search never returns caller among 20', async () => {
  const prefix = freshPrefix();
  const self = await registerNamed(`${prefix}a00`);
  for (let i = 1; i <= 20; i++) await registerNamed(`${prefix}a${String(i).padStart(2, '0')}`);

  const res = await search(self.client, prefix);
  assert.equal(res.json.users.length, 20);
  assert.ok(!res.json.users.some((user) => user.id === self.user.id), 'the caller is in the results');
});

test('search treats underscore literally', async () => {
  const prefix = freshPrefix();
  await registerNamed(`${prefix}_under`);
  await registerNamed(`${prefix}xunder`);

  const res = await search(caller.client, `${prefix}_`);
  assert.equal(res.status, 200);
  assert.deepEqual(usernames(res), [`${prefix}_under`]);
});

test('search treats percent literally', async () => {
  const prefix = freshPrefix();
  await registerNamed(`${prefix}pct`);

  for (const q of ['%', `${prefix}%`, `%${prefix}`, '%%', '_%']) {
    const res = await search(caller.client, q);
    assert.equal(res.status, 200, `q=${q}: ${res.text}`);
    assert.deepEqual(res.json.users, [], `q=${q}`);
  }
});

test('search treats backslash literally', async () => {
  const prefix = freshPrefix();
  await registerNamed(`${prefix}back`);

  for (const q of ['\\', `${prefix}\\`, `\\${prefix}`]) {
    const res = await search(caller.client, q);
    assert.equal(res.status, 200, `q=${q}: ${res.text}`);
    assert.deepEqual(res.json.users, [], `q=${q}`);
  }
});

test('search with no match', async () => {
  const res = await search(caller.client, freshPrefix());
  assert.equal(res.status, 200);
  assert.deepEqual(res.json, { users: [] });
});

test('search hides banned users', async () => {
  const prefix = freshPrefix();
  const banned = await registerNamed(`${prefix}gone`);
  await registerNamed(`${prefix}here`);
  await stack.psql(`SELECT admin_ban_user('${banned.username}')`);

  const res = await search(caller.client, prefix);
  assert.deepEqual(usernames(res), [`${prefix}here`]);
});

test('search requires session', async () => {
  assertError(await search(newClient(stack), 'abc'), 401, 'unauthenticated');
});

test('search without q rejected', async () => {
  const missing = await call(caller.client, 'GET', '/api/users');
  assertError(missing, 400);
  const empty = await call(caller.client, 'GET', '/api/users?q=');
  assertError(empty, 400);
});

// PATCH /api/me is an addition to the contract: it changes the caller's
// display name.
test('rename changes display name', async () => {
  const account = await registerUser(stack, 'renamer');
  const friend = await registerUser(stack, 'watcher');
  const conversation = await directConversation(friend, account);
  // The friend's list is read once before the change, as a client would.
  assert.equal((await call(friend.client, 'GET', '/api/conversations')).status, 200);

  const res = await call(account.client, 'PATCH', '/api/me', { display_name: 'Ünï "code" \\ Name 🔥' });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json, { user: { ...account.user, display_name: 'Ünï "code" \\ Name 🔥' } });

  const me = await call(account.client, 'GET', '/api/me');
  assert.equal(me.json.user.display_name, 'Ünï "code" \\ Name 🔥');

  const listed = await call(friend.client, 'GET', '/api/conversations');
  const entry = listed.json.conversations.find((c) => c.id === conversation.id);
  const member = entry.members.find((m) => m.id === account.user.id);
  assert.equal(member.display_name, 'Ünï "code" \\ Name 🔥');

  const found = await call(friend.client, 'GET', `/api/users?q=${account.username}`);
  assert.equal(found.json.users[0].display_name, 'Ünï "code" \\ Name 🔥');
});

test('rename rejects invalid names', async () => {
  const account = await registerUser(stack, 'badname');
  for (const body of [{}, { display_name: '' }, { display_name: 'x'.repeat(65) }, { display_name: 5 }, { display_name: null }]) {
    assertError(await call(account.client, 'PATCH', '/api/me', body), 400, 'invalid_body');
  }
  const me = await call(account.client, 'GET', '/api/me');
  assert.equal(me.json.user.display_name, account.username);
});

test('rename requires session and origin', async () => {
  assertError(await call(newClient(stack), 'PATCH', '/api/me', { display_name: 'Nobody' }), 401, 'unauthenticated');
  const account = await registerUser(stack, 'forged');
  const res = await account.client.request('PATCH', '/api/me', {
    json: { display_name: 'Forged' },
    headers: { origin: 'http://evil.example' },
  });
  assertError(res, 403, 'forbidden_origin');
  const me = await call(account.client, 'GET', '/api/me');
  assert.equal(me.json.user.display_name, account.username);
});

// Polls fetch() until check() accepts its result or timeoutMs passes.
async function eventually(fetchValue, check, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  let value = await fetchValue();
  while (!check(value) && Date.now() < deadline) {
    await sleep(100);
    value = await fetchValue();
  }
  return value;
}

test('online while a socket is open', async () => {
  const prefix = freshPrefix();
  const alice = await registerNamed(`${prefix}alice`);
  const bob = await registerNamed(`${prefix}bob`);
  const conversation = await directConversation(bob, alice);

  const memberAlice = async () => {
    const res = await call(bob.client, 'GET', `/api/conversations/${conversation.id}`);
    return res.json.conversation.members.find((m) => m.id === alice.user.id);
  };
  const before = await memberAlice();
  assert.equal(before.online, false);
  assert.equal(before.last_seen_at, null);

  const socket = await connectSocket(stack.wsUrl, alice.client);
  try {
    await socket.next('hello');
    const online = await eventually(memberAlice, (member) => member.online === true);
    assert.equal(online.online, true, 'alice is not online with an open socket');

    const found = await call(bob.client, 'GET', `/api/users?q=${prefix}alice`);
    assert.equal(found.json.users[0].online, true);
    const listed = await call(bob.client, 'GET', '/api/conversations');
    const entry = listed.json.conversations.find((c) => c.id === conversation.id);
    assert.equal(entry.members.find((m) => m.id === alice.user.id).online, true);
    assert.equal(entry.members.find((m) => m.id === bob.user.id).online, false);
  } finally {
    await socket.close();
  }

  const offline = await eventually(memberAlice, (member) => member.online === false && member.last_seen_at !== null);
  assert.equal(offline.online, false, 'alice is still online after closing her socket');
  assert.match(String(offline.last_seen_at), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  assert.ok(Math.abs(Date.parse(offline.last_seen_at) - Date.now()) < 60_000, `last_seen_at ${offline.last_seen_at}`);
});
