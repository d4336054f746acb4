// A small HTTP client for the black-box tests, with a cookie jar, and a
// WebSocket helper built on the npm package ws.
//
//   const alice = await signup(stack);              // logged-in Client
//   const r = await alice.get('/api/me');           // { status, headers, json, text }
//   const socket = await connectSocket(stack.wsUrl, alice);
//   const frame = await socket.next((m) => m.type === 'message');

import { randomBytes } from 'node:crypto';

export const SESSION_COOKIE = 'blinkchat_session';
export const DEFAULT_PASSWORD = 'correct horse battery staple';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function setCookieHeaders(headers) {
  if (typeof headers.getSetCookie === 'function') return headers.getSetCookie();
  const joined = headers.get('set-cookie');
  return joined ? joined.split(/,(?=\s*[^;=\s]+=)/) : [];
}

export class Client {
  /**
   * baseUrl: the stack's http://127.0.0.1:PORT. options.origin is sent as
   * the Origin header of state-changing requests, as a browser does; it
   * defaults to baseUrl.
   */
  constructor(baseUrl, { origin = baseUrl } = {}) {
    this.baseUrl = baseUrl.replace(/\/$/, '');
    this.origin = origin;
    this.cookies = new Map();
    this.user = null;
  }

  /** The raw value of the session cookie, or null without a session. */
  get cookie() {
    return this.cookies.get(SESSION_COOKIE) ?? null;
  }

  set cookie(value) {
    if (value === null || value === undefined) this.cookies.delete(SESSION_COOKIE);
    else this.cookies.set(SESSION_COOKIE, value);
  }

  /** Returns the Cookie header this client sends, or '' with an empty jar. */
  cookieHeader() {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  storeCookies(response) {
    for (const header of setCookieHeaders(response.headers)) {
      const [pair, ...attributes] = header.split(';');
      const separator = pair.indexOf('=');
      if (separator <= 0) continue;
      const name = pair.slice(0, separator).trim();
      const value = pair.slice(separator + 1).trim();
      const expired = attributes.some((attribute) => {
        const [key, val = ''] = attribute.split('=').map((part) => part.trim());
        if (key.toLowerCase() === 'max-age') return Number(val) <= 0;
        if (key.toLowerCase() === 'expires') return Date.parse(val) <= Date.now();
        return false;
      });
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  /**
   * Sends a request and resolves to { status, headers, json, text }; json
   * is the parsed body when the response is JSON, otherwise undefined.
   *
   * options.json     a value sent as a JSON body
   * options.body     a raw body (string, Buffer, FormData, ...)
   * options.headers  extra headers; a header set to null is not sent, so
   *                  { origin: null } sends no Origin header
   */
  async request(method, path, { json, body, headers = {} } = {}) {
    method = method.toUpperCase();
    const sent = {};
    if (json !== undefined) {
      body = JSON.stringify(json);
      sent['content-type'] = 'application/json';
    }
    if (!SAFE_METHODS.has(method) && this.origin) sent.origin = this.origin;
    const cookie = this.cookieHeader();
    if (cookie) sent.cookie = cookie;
    for (const [name, value] of Object.entries(headers)) {
      const key = name.toLowerCase();
      if (value === null || value === undefined) delete sent[key];
      else sent[key] = String(value);
    }

    const response = await fetch(this.baseUrl + path, { method, headers: sent, body, redirect: 'manual' });
    this.storeCookies(response);
    const text = await response.text();
    let parsed;
    if (/\bjson\b/i.test(response.headers.get('content-type') ?? '') && text !== '') {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    return { status: response.status, headers: response.headers, json: parsed, text };
  }

  get(path, options) {
    return this.request('GET', path, options);
  }

  /** Sends json (unless undefined) as the body. */
  post(path, json, options = {}) {
    return this.request('POST', path, json === undefined ? options : { ...options, json });
  }

  /** Sends json (unless undefined) as the body. */
  put(path, json, options = {}) {
    return this.request('PUT', path, json === undefined ? options : { ...options, json });
  }

  delete(path, options) {
    return this.request('DELETE', path, options);
  }
}

let signupCount = 0;

/** Returns a fresh valid username: "u" and 12 hex digits and a counter. */
export function uniqueUsername(prefix = 'u') {
  signupCount += 1;
  return `${prefix}${randomBytes(6).toString('hex')}${signupCount}`.slice(0, 32);
}

/**
 * Registers a user on the stack and resolves to a logged-in Client with
 * .user (the user object), .username and .password.
 */
export async function signup(stack, username = uniqueUsername(), password = DEFAULT_PASSWORD, displayName) {
  const client = new Client(stack.baseUrl, { origin: stack.origin });
  const body = { username, password };
  if (displayName !== undefined) body.display_name = displayName;
  const response = await client.post('/api/auth/register', body);
  if (response.status !== 201 || !response.json?.user) {
    throw new Error(`registering ${username} failed: HTTP ${response.status} ${response.text}`);
  }
  client.user = response.json.user;
  client.username = username;
  client.password = password;
  return client;
}

/**
 * A WebSocket with a queue of received JSON frames. next() takes the
 * first queued frame that matches, or waits for one.
 */
export class Socket {
  constructor(ws) {
    this.ws = ws;
    this.queue = [];
    this.waiters = [];
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeCode = code;
        for (const waiter of this.waiters.splice(0)) {
          clearTimeout(waiter.timer);
          waiter.reject(new Error(`socket closed (code ${code} ${reason}) while waiting for ${waiter.description}`));
        }
        resolve({ code, reason: String(reason) });
      });
    });
    ws.on('message', (data, isBinary) => {
      let frame;
      try {
        frame = isBinary ? { binary: data } : JSON.parse(String(data));
      } catch {
        frame = { unparsed: String(data) };
      }
      const index = this.waiters.findIndex((waiter) => waiter.predicate(frame));
      if (index === -1) {
        this.queue.push(frame);
        return;
      }
      const [waiter] = this.waiters.splice(index, 1);
      clearTimeout(waiter.timer);
      waiter.resolve(frame);
    });
  }

  /** Resolves to the next frame that matches predicate (a function or a frame type). */
  next(predicate = () => true, timeoutMs = 5000) {
    const test = typeof predicate === 'string' ? (frame) => frame.type === predicate : predicate;
    const description = typeof predicate === 'string' ? `a '${predicate}' frame` : 'a matching frame';
    const index = this.queue.findIndex(test);
    if (index !== -1) return Promise.resolve(this.queue.splice(index, 1)[0]);
    if (this.closeCode !== undefined) {
      return Promise.reject(new Error(`socket closed (code ${this.closeCode}) before ${description} arrived`));
    }
    return new Promise((resolve, reject) => {
      const waiter = { predicate: test, resolve, reject, description };
      waiter.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        const seen = this.queue.map((frame) => JSON.stringify(frame)).join('\n  ');
        reject(new Error(`no ${description} within ${timeoutMs} ms; queued frames:\n  ${seen || '(none)'}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Waits waitMs and returns the queued frames that match, removing them. */
  async collect(predicate = () => true, waitMs = 300) {
    const test = typeof predicate === 'string' ? (frame) => frame.type === predicate : predicate;
    await new Promise((resolve) => setTimeout(resolve, waitMs));
    const matched = this.queue.filter(test);
    this.queue = this.queue.filter((frame) => !test(frame));
    return matched;
  }

  send(frame) {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  close() {
    if (this.ws.readyState === this.ws.CLOSED) return this.closed;
    this.ws.close();
    return this.closed;
  }

  /** Drops the TCP connection without a closing handshake. */
  terminate() {
    this.ws.terminate();
    return this.closed;
  }
}

/**
 * Opens a WebSocket with the client's cookies and Origin and resolves once
 * it is open. A refused upgrade rejects with an Error whose .status is the
 * HTTP status of the response.
 */
export async function connectSocket(url, client = null, { origin = client?.origin, headers = {}, timeoutMs = 5000 } = {}) {
  const { default: WebSocket } = await import('ws');
  const sent = {};
  if (origin) sent.origin = origin;
  const cookie = client?.cookieHeader();
  if (cookie) sent.cookie = cookie;
  Object.assign(sent, headers);

  const ws = new WebSocket(url, { headers: sent, handshakeTimeout: timeoutMs });
  return new Promise((resolve, reject) => {
    // The Socket is made before the upgrade completes so that no frame sent
    // right after it (hello) is missed.
    const socket = new Socket(ws);
    ws.once('open', () => resolve(socket));
    ws.once('unexpected-response', (request, response) => {
      const error = new Error(`WebSocket upgrade of ${url} was refused with HTTP ${response.statusCode}`);
      error.status = response.statusCode;
      request.destroy();
      reject(error);
    });
    // Kept after the upgrade too: an 'error' event without a listener
    // would end the test process.
    ws.on('error', (error) => {
      socket.error = error;
      reject(error);
    });
  });
}
