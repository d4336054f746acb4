// Helpers shared by the REST API tests: stack start-up with cheap password
// hashing, user registration, raw HTTP for byte-exact bodies, session token
// crafting, psql queries returning JSON, and assertions on error bodies.

import assert from 'node:assert/strict';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import { Client } from '../lib/http.mjs';
import { startStack } from '../lib/stack.mjs';

// The reaction emoji that the API accepts.
export const EMOJI = ['🔥', '❤️', '👍', '😂', '😮', '😢'];

export const SESSION_COOKIE = 'blinkchat_session';

// Argon2id at its minimum cost keeps registration and login fast under
// AddressSanitizer. The auth tests that measure login timing start their
// stack with the production cost instead.
export const CHEAP_HASH_ENV = {
  BLINKCHAT_PASSWORD_MEMLIMIT_KIB: '1024',
  BLINKCHAT_PASSWORD_OPSLIMIT: '1',
};

// Starts a stack with cheap password hashing unless options.env sets other values.
export async function startApiStack(options = {}) {
  return startStack({ ...options, env: { ...CHEAP_HASH_ENV, ...(options.env ?? {}) } });
}

let userCounter = 0;

// Returns a username unique within one stack, at most 32 characters.
export function uniqueUsername(prefix = 'user') {
  userCounter += 1;
  const suffix = `${userCounter}${randomBytes(3).toString('hex')}`;
  return `${prefix.slice(0, 32 - suffix.length - 1)}_${suffix}`;
}

export function newClient(stack) {
  return new Client(stack.baseUrl, { origin: stack.origin });
}

// Sends a request with an optional JSON body through the client.
export function call(client, method, urlPath, json) {
  return client.request(method, urlPath, json === undefined ? {} : { json });
}

// Registers a new user and returns the logged-in client with the account.
export async function registerUser(stack, prefix = 'user', extra = {}) {
  const client = newClient(stack);
  const username = extra.username ?? uniqueUsername(prefix);
  const password = extra.password ?? `pw-${randomBytes(8).toString('hex')}`;
  const body = { username, password };
  if (extra.display_name !== undefined) body.display_name = extra.display_name;

  const res = await call(client, 'POST', '/api/auth/register', body);
  assert.equal(res.status, 201, `register ${username}: ${res.text}`);
  return { client, user: res.json.user, username, password, token: sessionToken(res) };
}

export async function registerUsers(stack, count, prefix = 'user') {
  const users = [];
  for (let i = 0; i < count; i++) users.push(await registerUser(stack, prefix));
  return users;
}

// Returns the value of a response header, whatever shape the client gives
// headers in (fetch Headers, or a plain object keyed in lower case).
export function header(res, name) {
  const headers = res.headers;
  if (headers == null) return undefined;
  if (typeof headers.get === 'function') return headers.get(name) ?? undefined;
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(', ') : value;
}

// Returns every Set-Cookie line of a response as an array.
export function setCookieLines(res) {
  const headers = res.headers;
  if (headers == null) return [];
  if (typeof headers.getSetCookie === 'function') return headers.getSetCookie();
  if (typeof headers.get === 'function') {
    const value = headers.get('set-cookie');
    return value ? [value] : [];
  }
  const value = headers['set-cookie'];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

// Parses one Set-Cookie line into its name, value and attributes; attribute
// names are lower-cased and flag attributes have the value true.
export function parseSetCookie(line) {
  const [pair, ...attributeParts] = line.split(';');
  const eq = pair.indexOf('=');
  const attributes = new Map();
  for (const part of attributeParts) {
    const trimmed = part.trim();
    if (trimmed === '') continue;
    const at = trimmed.indexOf('=');
    if (at < 0) attributes.set(trimmed.toLowerCase(), true);
    else attributes.set(trimmed.slice(0, at).trim().toLowerCase(), trimmed.slice(at + 1).trim());
  }
  return { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), attributes };
}

// Returns the parsed session Set-Cookie of a response, or undefined.
export function sessionCookie(res) {
  return setCookieLines(res)
    .map(parseSetCookie)
    .find((cookie) => cookie.name === SESSION_COOKIE);
}

export function sessionToken(res) {
  return sessionCookie(res)?.value;
}

// Sends one request with exactly the given headers and body bytes, so tests
// can send invalid UTF-8, wrong media types or a hand-made session cookie.
// With chunked set, the body goes in two chunks without a Content-Length.
export function rawRequest(stack, method, urlPath, { headers = {}, body, chunked = false } = {}) {
  const url = new URL(urlPath, stack.baseUrl);
  const payload = body === undefined ? undefined : Buffer.from(body);
  const allHeaders = Object.fromEntries(Object.entries(headers).filter(([, value]) => value !== undefined && value !== null));
  if (payload !== undefined && !chunked) allHeaders['content-length'] = String(payload.length);

  return new Promise((resolve, reject) => {
    const req = http.request(
      { method, hostname: url.hostname, port: url.port, path: url.pathname + url.search, headers: allHeaders },
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json;
          try {
            json = text === '' ? undefined : JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode, headers: res.headers, text, json });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${urlPath} timed out`)));
    req.on('error', reject);
    if (payload !== undefined && chunked) {
      const half = Math.floor(payload.length / 2);
      req.write(payload.subarray(0, half));
      req.write(payload.subarray(half));
    } else if (payload !== undefined) {
      req.write(payload);
    }
    req.end();
  });
}

// Headers of a request from the BlinkChat site itself carrying the token.
export function sessionHeaders(stack, token, extra = {}) {
  return { origin: stack.origin, cookie: `${SESSION_COOKIE}=${token}`, ...extra };
}

// Sends a JSON body given as raw bytes with the session of token; a null
// contentType sends no Content-Type header.
export function rawJson(stack, token, method, urlPath, bytes, contentType = 'application/json') {
  return rawRequest(stack, method, urlPath, {
    headers: sessionHeaders(stack, token, { 'content-type': contentType }),
    body: bytes,
  });
}

// Asserts an error response: the status, the error code and a non-empty
// message, with no other fields in the body.
export function assertError(res, status, code) {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${res.text}`);
  assert.equal(typeof res.json, 'object', `error body is not JSON: ${res.text}`);
  assert.notEqual(res.json, null, `error body is not JSON: ${res.text}`);
  assert.deepEqual(Object.keys(res.json), ['error']);
  assert.deepEqual(Object.keys(res.json.error).sort(), ['code', 'message']);
  if (code !== undefined) assert.equal(res.json.error.code, code);
  else assert.equal(typeof res.json.error.code, 'string');
  assert.equal(typeof res.json.error.message, 'string');
  assert.ok(res.json.error.message.length > 0, 'error message is empty');
  assertJsonContentType(res);
}

export function assertJsonContentType(res) {
  const type = header(res, 'content-type') ?? '';
  assert.match(type, /^application\/json\s*;\s*charset=utf-8$/i, `content-type is ${type}`);
}

// RFC 3339 UTC with milliseconds, as every time in the API.
export const API_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

// Asserts the exact fields of a user object as another user sees it.
export function assertUser(actual, expected) {
  assert.deepEqual(Object.keys(actual).sort(), ['display_name', 'id', 'last_seen_at', 'online', 'username']);
  assert.equal(actual.id, expected.id);
  assert.equal(actual.username, expected.username);
  assert.equal(actual.display_name, expected.display_name);
  assert.equal(typeof actual.online, 'boolean');
  assert.ok(actual.last_seen_at === null || API_TIME.test(actual.last_seen_at), `last_seen_at ${actual.last_seen_at}`);
}

export const MESSAGE_KEYS = ['body', 'conversation_id', 'created_at', 'id', 'image', 'my_reactions', 'reactions', 'sender_id'];
export const SENDER_MESSAGE_KEYS = [...MESSAGE_KEYS, 'client_id', 'seen_by'].sort();

export const CONVERSATION_KEYS = [
  'id', 'kind', 'last_message', 'last_read_message_id', 'members', 'title', 'unread_count', 'updated_at',
].sort();

export function newClientId() {
  return randomUUID();
}

// Sends a message and asserts that it was created; returns the message.
export async function sendMessage(client, conversationId, body, clientId = newClientId()) {
  const res = await call(client, 'POST', `/api/conversations/${conversationId}/messages`, { client_id: clientId, body });
  assert.equal(res.status, 201, `send to ${conversationId}: ${res.text}`);
  return res.json.message;
}

// Creates (or finds) the direct conversation of owner with other; returns it.
export async function directConversation(owner, other) {
  const res = await call(owner.client, 'POST', '/api/conversations', { member_ids: [other.user.id] });
  assert.ok(res.status === 201 || res.status === 200, `direct conversation: ${res.status} ${res.text}`);
  return res.json.conversation;
}

export async function groupConversation(owner, others, title = 'Group') {
  const res = await call(owner.client, 'POST', '/api/conversations', {
    member_ids: others.map((o) => o.user.id),
    title,
  });
  assert.equal(res.status, 201, `group conversation: ${res.text}`);
  return res.json.conversation;
}

// Runs a query through psql and returns its rows as an array of objects.
export async function queryRows(stack, sql) {
  const out = await stack.psql(`SELECT coalesce(json_agg(q), '[]'::json) FROM (${sql}) AS q`);
  return JSON.parse(out.trim());
}

// Runs a query through psql and returns the single value it selects, as text.
export async function queryValue(stack, sql) {
  const out = await stack.psql(sql);
  return out.trim();
}

// Starts a new generation of the API's Redis cache, as operators do after
// changing data with psql, so that every API process reads PostgreSQL again.
export async function resetCache(stack) {
  const reply = await stack.redis('SET', 'bc:epoch', randomBytes(8).toString('hex'));
  assert.equal(reply, 'OK', `Redis SET bc:epoch replied ${reply}`);
}

export async function maxEventId(stack) {
  return Number(await queryValue(stack, 'SELECT coalesce(max(id), 0) FROM events'));
}

// Returns the outbox rows appended after the event id `after`, oldest first.
export async function eventsAfter(stack, after) {
  return queryRows(stack, `SELECT id, xid::text AS xid, conversation_id, kind, payload
                           FROM events WHERE id > ${Number(after)} ORDER BY xid, id`);
}

// --- session tokens -----------------------------------------------------

function base64url(data) {
  return Buffer.from(data).toString('base64url');
}

// Builds a JWT from header and claims, signed with HMAC-SHA256 and secret
// (no signature when secret is null).
export function signToken(claims, secret, headerFields = { alg: 'HS256', typ: 'JWT' }) {
  const signingInput = `${base64url(JSON.stringify(headerFields))}.${base64url(JSON.stringify(claims))}`;
  if (secret === null) return `${signingInput}.`;
  const signature = createHmac('sha256', secret).update(signingInput).digest('base64url');
  return `${signingInput}.${signature}`;
}

// Returns the claims of a token without checking its signature.
export function decodeClaims(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}

// Returns the JWT secret that the stack's services use: the environment
// override when one is set, else the value in its generated configuration.
export function stackSecret(stack) {
  if (stack.env?.BLINKCHAT_JWT_SECRET) return stack.env.BLINKCHAT_JWT_SECRET;
  const text = readFileSync(stack.configPath ?? path.join(stack.dir, 'blinkchat.conf'), 'utf8');
  const match = /^\s*BLINKCHAT_JWT_SECRET\s*=\s*(.*?)\s*$/m.exec(text);
  if (!match || match[1] === '') throw new Error('BLINKCHAT_JWT_SECRET is missing from the configuration of the stack');
  return match[1];
}

export function newJti() {
  return randomBytes(16).toString('hex');
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
