// Helpers of the push daemon tests: a stack with cheap password hashing,
// users and conversations made over the REST API, message posting that
// retries with the same client_id, a resuming socket client that records
// every event it receives, and a second pushd process for multi-instance
// tests.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import WebSocket from 'ws';

import { signup } from '../lib/http.mjs';
import { freePorts, startStack } from '../lib/stack.mjs';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Argon2id at its minimum cost keeps registration fast under AddressSanitizer.
const CHEAP_HASH_ENV = {
  BLINKCHAT_PASSWORD_MEMLIMIT_KIB: '1024',
  BLINKCHAT_PASSWORD_OPSLIMIT: '1',
  // Many users register from one address in these tests.
  BLINKCHAT_LOGIN_MAX_FAILURES_PER_ADDRESS: '100000',
};

export async function startPushStack(options = {}) {
  return startStack({ ...options, env: { ...CHEAP_HASH_ENV, ...(options.env ?? {}) } });
}

/** Registers count users, a few at a time; resolves to logged-in Clients. */
export async function signupMany(stack, count, parallel = 4) {
  const clients = [];
  for (let i = 0; i < count; i += parallel) {
    const batch = Math.min(parallel, count - i);
    clients.push(...(await Promise.all(Array.from({ length: batch }, () => signup(stack)))));
  }
  return clients;
}

/** Creates a conversation of client with the other clients; resolves to its id. */
export async function createConversation(client, others, title) {
  const body = { member_ids: others.map((other) => other.user.id) };
  if (title !== undefined) body.title = title;
  const response = await client.post('/api/conversations', body);
  assert.ok(response.status === 201 || response.status === 200, `create conversation: ${response.status} ${response.text}`);
  return response.json.conversation.id;
}

/**
 * Posts a message and resolves to it. A failure that may be transient (a
 * 5xx, a refused connection while a service restarts) is retried with the
 * same client_id, which the API turns into the stored message, never a
 * second one.
 */
export async function postMessage(client, conversationId, body, { clientId = randomUUID(), attempts = 60 } = {}) {
  let last = '';
  for (let attempt = 0; attempt < attempts; attempt++) {
    try {
      const response = await client.post(`/api/conversations/${conversationId}/messages`, {
        client_id: clientId,
        body,
      });
      if (response.status === 201 || response.status === 200) return response.json.message;
      last = `HTTP ${response.status} ${response.text}`;
      if (response.status < 500) break;
    } catch (error) {
      last = error.message;
    }
    await sleep(100 + attempt * 50);
  }
  throw new Error(`posting to conversation ${conversationId} failed: ${last}`);
}

/** Runs worker(i) for i in [0, count) with at most `parallel` at a time. */
export async function runPool(count, parallel, worker) {
  let next = 0;
  const lanes = Array.from({ length: Math.min(parallel, count) }, async () => {
    while (next < count) {
      const i = next++;
      await worker(i);
    }
  });
  await Promise.all(lanes);
}

/** Orders two event_ids. Clients treat them as opaque; the tests check the order. */
export function compareEventIds(a, b) {
  const [ax, ai] = a.split('-').map(BigInt);
  const [bx, bi] = b.split('-').map(BigInt);
  if (ax !== bx) return ax < bx ? -1 : 1;
  if (ai !== bi) return ai < bi ? -1 : 1;
  return 0;
}

/**
 * One device of a user: a socket that reconnects after any close and
 * resumes from the last event it applied, like the web client. It records
 * every outbox event and counts the frames per message id, so a test can
 * check "exactly once" across reconnects.
 */
export class Receiver {
  constructor(url, client, { name = client.username, headers = {} } = {}) {
    this.url = url;
    this.client = client;
    this.name = name;
    this.headers = headers;
    this.lastEventId = null;
    this.events = [];          // every outbox frame, in arrival order
    this.messageCounts = new Map();
    this.frames = [];          // every frame, for debugging
    this.outOfOrder = [];
    this.hellos = 0;
    this.resyncs = 0;
    this.closes = [];
    this.refusals = 0;
    this.stopped = false;
    this.ws = null;
    this.waiters = [];
    this.ignored = [];
    this.badFrames = [];
    this.serial = 0;
  }

  /** Connects and resolves after the first hello. */
  async start() {
    Receiver.live.add(this);
    this.connect();
    await this.waitFor(() => this.hellos > 0, 15000, 'the first hello');
    return this;
  }

  connect() {
    if (this.stopped) return;
    const headers = { origin: this.client.origin, cookie: this.client.cookieHeader(), ...this.headers };
    const ws = new WebSocket(this.url, { headers, handshakeTimeout: 5000 });
    ws.serial = ++this.serial;
    this.ws = ws;
    ws.on('open', () => {
      if (this.lastEventId !== null) ws.send(JSON.stringify({ type: 'resume', last_event_id: this.lastEventId }));
    });
    // Like the web client, frames of a socket that was given up are ignored.
    ws.on('message', (data, isBinary) => {
      let frame;
      try {
        frame = JSON.parse(String(data));
      } catch {
        this.badFrames.push({ ws: ws.serial, binary: isBinary, text: String(data).slice(0, 200) });
        return;
      }
      if (this.ws === ws) this.onFrame(frame);
      else if (frame.type === 'message') this.ignored.push({ id: frame.message.id, ws: ws.serial, current: this.ws?.serial ?? null });
    });
    ws.on('unexpected-response', (request, response) => {
      this.refusals += 1;
      request.destroy();
      this.reconnectLater(ws);
    });
    ws.on('error', () => this.reconnectLater(ws));
    ws.on('close', (code) => {
      this.closes.push(code);
      this.reconnectLater(ws);
    });
  }

  reconnectLater(ws) {
    if (ws.reconnectScheduled || this.stopped) return;
    ws.reconnectScheduled = true;
    if (this.ws === ws) this.ws = null;
    else if (this.ws !== null) return; // a newer socket is already connecting
    // Unreferenced, so a failed test that never stops its receivers
    // does not keep node running.
    setTimeout(() => this.connect(), 100 + Math.random() * 200).unref();
  }

  onFrame(frame) {
    this.frames.push(frame);
    if (frame.type === 'hello') {
      this.hellos += 1;
      if (this.lastEventId === null) this.lastEventId = frame.last_event_id;
    } else if (frame.type === 'resync_required') {
      this.resyncs += 1;
    } else if (frame.event_id !== undefined) {
      if (this.lastEventId !== null && compareEventIds(frame.event_id, this.lastEventId) <= 0) {
        this.outOfOrder.push({ after: this.lastEventId, got: frame.event_id });
      }
      this.lastEventId = frame.event_id;
      this.events.push(frame);
      if (frame.type === 'message') {
        const id = frame.message.id;
        this.messageCounts.set(id, (this.messageCounts.get(id) ?? 0) + 1);
      }
    }
    for (const waiter of [...this.waiters]) {
      if (waiter.predicate()) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        clearTimeout(waiter.timer);
        waiter.resolve();
      }
    }
  }

  /** Resolves once predicate() holds, checked after every frame. */
  waitFor(predicate, timeoutMs = 10000, description = 'a condition') {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = { predicate, resolve };
      waiter.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`${this.name}: no ${description} within ${timeoutMs} ms ` +
          `(${this.messageCounts.size} messages, ${this.hellos} hellos, closes ${this.closes.join(',')})`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Resolves once every id of messageIds has arrived. */
  async waitForMessages(messageIds, timeoutMs = 30000) {
    try {
      await this.waitFor(() => messageIds.every((id) => this.messageCounts.has(id)), timeoutMs,
        `complete set of ${messageIds.length} messages`);
    } catch (error) {
      const missing = messageIds.filter((id) => !this.messageCounts.has(id));
      error.message += `; missing ids ${missing.slice(0, 20).join(', ')}; ignored ${JSON.stringify(this.ignored.filter((f) => missing.includes(f.id)).slice(0, 5))}; bad frames ${JSON.stringify(this.badFrames.slice(0, 3))}`;
      throw error;
    }
  }

  /** Drops the connection without a closing handshake; the client reconnects. */
  drop() {
    const ws = this.ws;
    this.ws = null;
    ws?.terminate();
  }

  /** Asserts that each of messageIds arrived exactly once and nothing else did. */
  assertExactlyOnce(messageIds) {
    const expected = new Set(messageIds);
    const missing = messageIds.filter((id) => !this.messageCounts.has(id));
    const duplicated = [...this.messageCounts].filter(([, count]) => count > 1).map(([id]) => id);
    const foreign = [...this.messageCounts.keys()].filter((id) => !expected.has(id));
    assert.deepEqual(missing, [], `${this.name}: ${missing.length} messages missing`);
    assert.deepEqual(duplicated, [], `${this.name}: ${duplicated.length} messages duplicated`);
    assert.deepEqual(foreign, [], `${this.name}: ${foreign.length} unexpected messages`);
    assert.deepEqual(this.outOfOrder, [], `${this.name}: events out of order`);
    assert.equal(this.resyncs, 0, `${this.name}: resync_required received`);
  }

  stop() {
    Receiver.live.delete(this);
    this.stopped = true;
    for (const waiter of this.waiters.splice(0)) clearTimeout(waiter.timer);
    this.ws?.terminate();
  }
}

/** Receivers started and not stopped yet. */
Receiver.live = new Set();

/** Stops every receiver; for after() hooks, so a failed test leaves none behind. */
export function stopReceivers() {
  for (const receiver of [...Receiver.live]) receiver.stop();
}

/** Reads the session secret of the stack's configuration file. */
export function jwtSecret(stack) {
  const line = readFileSync(stack.configPath, 'utf8').split('\n').find((l) => l.startsWith('BLINKCHAT_JWT_SECRET='));
  return line.slice('BLINKCHAT_JWT_SECRET='.length).trim();
}

/** Signs claims as an HS256 JWT with secret (RFC 7519). */
export function signToken(claims, secret) {
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const head = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(claims)}`;
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
}

/** Claims like the API's for user id, expiring in ttl seconds (negative: expired). */
export function sessionClaims(userId, ttl = 3600, version = 0) {
  const now = Math.floor(Date.now() / 1000);
  return { sub: String(userId), ver: version, jti: randomBytes(16).toString('hex'), iat: now, exp: now + ttl };
}

/**
 * Starts another blinkchat-pushd on a free port with the stack's
 * configuration. Resolves to { url, port, process, stop(), log() }.
 */
export async function startExtraPushd(stack, extraEnv = {}) {
  const [port] = await freePorts(1);
  const logChunks = [];
  const child = spawn(path.join(stack.env.BLINKCHAT_BUILD, 'blinkchat-pushd'), [], {
    env: {
      ...process.env,
      ASAN_OPTIONS: stack.env.ASAN_OPTIONS,
      UBSAN_OPTIONS: stack.env.UBSAN_OPTIONS,
      BLINKCHAT_CONFIG: stack.configPath,
      BLINKCHAT_PUSHD_PORT: String(port),
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (chunk) => logChunks.push(chunk));
  child.stderr.on('data', (chunk) => logChunks.push(chunk));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const log = () => Buffer.concat(logChunks).toString('utf8');

  // Ready once the outbox position is known and the port answers.
  const deadline = Date.now() + 20000;
  while (!/outbox: delivering events after/.test(log())) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`the extra pushd did not start:\n${log()}`);
    }
    await sleep(50);
  }
  return {
    port,
    url: `ws://127.0.0.1:${port}/ws`,
    process: child,
    log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const result = await exited;
      const text = log();
      assert.ok(!/ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:/.test(text),
        `sanitizer report from the extra pushd:\n${text}`);
      return result;
    },
  };
}
