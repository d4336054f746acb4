// Ending a session closes its open sockets at once: logout closes the
// sockets of that session only, logout everywhere and a ban from psql close
// all of the user's sockets. Each closed socket gets 1008 and cannot
// connect again with the same cookie.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startStack } from '../lib/stack.mjs';
import { Client, connectSocket, signup } from '../lib/http.mjs';

const POLICY_VIOLATION = 1008;
let stack;

before(async () => {
  stack = await startStack();
});

after(async () => {
  await stack?.stop();
});

/* A second device of the same user: a new login, so a new session. */
async function secondDevice(user) {
  const device = new Client(stack.baseUrl, { origin: stack.origin });
  const res = await device.post('/api/auth/login', { username: user.username, password: user.password });
  assert.equal(res.status, 200, res.text);
  return device;
}

async function openSocket(client) {
  const socket = await connectSocket(stack.wsUrl, client);
  const hello = await socket.next((frame) => frame.type === 'hello');
  assert.equal(hello.type, 'hello');
  return socket;
}

async function closedWith(socket, code) {
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('socket still open after 3 s')), 3000));
  await Promise.race([socket.closed, timeout]);
  assert.equal(socket.closeCode, code);
}

test('logout closes that session only', async () => {
  const user = await signup(stack);
  const laptop = await openSocket(user);
  const phoneClient = await secondDevice(user);
  const phone = await openSocket(phoneClient);

  const res = await user.post('/api/auth/logout');
  assert.equal(res.status, 204, res.text);
  await closedWith(laptop, POLICY_VIOLATION);

  // The other session's socket stays open and replies to pings.
  phone.send({ type: 'ping' });
  const pong = await phone.next((frame) => frame.type === 'pong');
  assert.equal(pong.type, 'pong');
  await phone.close();
});

test('logout everywhere closes every socket', async () => {
  const user = await signup(stack);
  const phoneClient = await secondDevice(user);
  const laptop = await openSocket(user);
  const phone = await openSocket(phoneClient);

  const res = await user.post('/api/auth/logout-all');
  assert.equal(res.status, 204, res.text);
  await closedWith(laptop, POLICY_VIOLATION);
  await closedWith(phone, POLICY_VIOLATION);
  await assert.rejects(connectSocket(stack.wsUrl, phoneClient), /401/);
});

test('ban from psql closes every socket', async () => {
  const user = await signup(stack);
  const socket = await openSocket(user);

  const banned = await stack.psql(`SELECT admin_ban_user('${user.user.username}')`);
  assert.equal(banned, 't');
  await closedWith(socket, POLICY_VIOLATION);
  await assert.rejects(connectSocket(stack.wsUrl, user), /401/);
});
