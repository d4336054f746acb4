// Malformed requests: odd path ids, broken percent-encoding, hostile JSON
// and out-of-range numbers. Each gets a 4xx JSON error, never a 5xx, and
// the API keeps serving afterwards.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  assertError,
  directConversation,
  newClientId,
  rawJson,
  rawRequest,
  registerUsers,
  sendMessage,
  sessionHeaders,
  startApiStack,
} from './support.mjs';

let stack;
let alice;
let bob;
let conversation;
let message;

before(async () => {
  stack = await startApiStack();
  [alice, bob] = await registerUsers(stack, 2, 'bad');
  conversation = await directConversation(alice, bob);
  message = await sendMessage(alice.client, conversation.id, 'target');
});

after(async () => {
  await stack?.stop();
});

function get(urlPath) {
  return rawRequest(stack, 'GET', urlPath, { headers: sessionHeaders(stack, alice.token) });
}

function postJson(urlPath, bytes) {
  return rawJson(stack, alice.token, 'POST', urlPath, bytes);
}

// Asserts a 4xx JSON error, optionally with the exact status.
function assertClientError(res, label, status) {
  assert.ok(res.status >= 400, `${label}: ${res.status} ${res.text.slice(0, 200)}`);
  assert.ok(res.status < 500, `${label}: ${res.status} ${res.text.slice(0, 200)}`);
  if (status !== undefined) assert.equal(res.status, status, label);
  assertError(res, res.status);
}

test('odd conversation ids are 404', async () => {
  const ids = ['0', '-1', 'abc', '1.5', '1e3', '0x10', '99999999999999999999', '9223372036854775808', '%31', ' 1', '1;2'];
  for (const id of ids) {
    const res = await get(`/api/conversations/${encodeURI(id)}`);
    assertClientError(res, `id ${id}`, 404);
    const messages = await get(`/api/conversations/${encodeURI(id)}/messages`);
    assertClientError(messages, `id ${id} messages`, 404);
  }
});

test('largest id is not found', async () => {
  assertClientError(await get('/api/conversations/9223372036854775807'), 'max bigint', 404);
  assertClientError(await get('/api/conversations/999999999999999999'), '18 digits', 404);
});

test('odd message ids are 404', async () => {
  const fire = encodeURIComponent('🔥');
  for (const id of ['0', '-5', 'x', '99999999999999999999']) {
    const res = await rawRequest(stack, 'PUT', `/api/messages/${id}/reactions/${fire}`, {
      headers: sessionHeaders(stack, alice.token),
    });
    assertClientError(res, `message id ${id}`, 404);
  }
});

test('broken percent-encoding rejected', async () => {
  for (const emoji of ['%', '%F0%9F', '%F0%9F%94', '%ZZ', '%F0%9F%94%A5%2']) {
    const res = await rawRequest(stack, 'PUT', `/api/messages/${message.id}/reactions/${emoji}`, {
      headers: sessionHeaders(stack, alice.token),
    });
    assertClientError(res, `emoji ${emoji}`);
  }
  for (const query of ['q=%', 'q=%Z1', 'q=%2', 'q=%C3%28']) {
    assertClientError(await get(`/api/users?${query}`), `search ${query}`, 400);
  }
  for (const query of ['limit=%', 'limit=%3', 'before=%zz', 'before=%2']) {
    assertClientError(await get(`/api/conversations/${conversation.id}/messages?${query}`), `history ${query}`, 400);
  }
});

test('NUL and bad UTF-8 in URL rejected', async () => {
  // The web server may refuse these URLs itself, before the API sees them,
  // with a page of its own; either way the answer is 400.
  const urls = [
    `/api/messages/${message.id}/reactions/%00`,
    `/api/messages/${message.id}/reactions/%F0%9F%94%A5%00`,
    '/api/users?q=%00',
    '/api/users?q=a%00b',
    '/api/users?q=%FF%FE',
    `/api/conversations/${conversation.id}/messages?before=%00`,
  ];
  for (const url of urls) {
    const method = url.includes('/reactions/') ? 'PUT' : 'GET';
    const res = await rawRequest(stack, method, url, { headers: sessionHeaders(stack, alice.token) });
    assert.equal(res.status, 400, `${method} ${url}: ${res.status} ${res.text.slice(0, 200)}`);
  }
});

test('long query values rejected', async () => {
  assertClientError(await get(`/api/users?q=${'a'.repeat(33)}`), 'q of 33 characters', 400);
  assertClientError(await get(`/api/users?q=${'a'.repeat(5000)}`), 'q of 5000 characters', 400);
  assertClientError(await get(`/api/conversations?limit=${'9'.repeat(40)}`), 'huge limit', 400);
  assertClientError(await get(`/api/conversations?before=${'A'.repeat(5000)}`), 'huge cursor', 400);
});

test('long path is 404', async () => {
  assertClientError(await get(`/api/${'a'.repeat(3000)}`), 'long path', 404);
  assertClientError(await get(`/api/conversations/${'1'.repeat(600)}`), 'long id', 404);
});

test('deeply nested JSON rejected', async () => {
  const path = `/api/conversations/${conversation.id}/messages`;
  const depth = 5000;
  assertClientError(await postJson(path, '['.repeat(depth) + ']'.repeat(depth)), 'nested arrays', 400);
  assertClientError(await postJson(path, '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)), 'nested objects', 400);
  const nestedBody = `{"client_id":"${newClientId()}","body":${'['.repeat(100)}${']'.repeat(100)}}`;
  assertClientError(await postJson(path, nestedBody), 'nested body field', 400);
});

test('out-of-range numbers rejected', async () => {
  const cases = [
    ['/api/conversations', '{"member_ids":[9223372036854775807]}', 404],
    ['/api/conversations', '{"member_ids":[9223372036854775808]}'],
    ['/api/conversations', '{"member_ids":[1e400]}'],
    ['/api/conversations', '{"member_ids":[-0]}'],
    [`/api/conversations/${conversation.id}/read`, '{"up_to":9223372036854775807}', 400],
    [`/api/conversations/${conversation.id}/read`, '{"up_to":18446744073709551616}'],
    [`/api/conversations/${conversation.id}/read`, '{"up_to":1e20}'],
    [`/api/conversations/${conversation.id}/messages`, `{"client_id":"${newClientId()}","image_id":9223372036854775807}`, 404],
    [`/api/conversations/${conversation.id}/messages`, `{"client_id":"${newClientId()}","body":"x","image_id":-1}`, 400],
  ];
  for (const [path, body, status] of cases) {
    assertClientError(await postJson(path, body), `${path} ${body}`, status);
  }
});

test('many member ids rejected', async () => {
  const ids = Array.from({ length: 501 }, (_, i) => i + 1);
  const res = await postJson('/api/conversations', JSON.stringify({ member_ids: ids, title: 'Crowd' }));
  assertClientError(res, '501 member ids', 400);
});

test('chunked request bodies', async () => {
  const path = `/api/conversations/${conversation.id}/messages`;
  const headers = sessionHeaders(stack, alice.token, { 'content-type': 'application/json' });
  const body = JSON.stringify({ client_id: newClientId(), body: 'sent in chunks' });
  const small = await rawRequest(stack, 'POST', path, { headers, body, chunked: true });
  assert.equal(small.status, 201, small.text);
  assert.equal(small.json.message.body, 'sent in chunks');

  const large = JSON.stringify({ client_id: newClientId(), body: 'x'.repeat(70 * 1024) });
  const res = await rawRequest(stack, 'POST', path, { headers, body: large, chunked: true });
  assertError(res, 413, 'too_large');
});

test('unknown fields ignored', async () => {
  const path = `/api/conversations/${conversation.id}/messages`;
  const res = await postJson(path, JSON.stringify({ client_id: newClientId(), body: 'extra', colour: 'blue' }));
  assert.equal(res.status, 201, res.text);
  assert.equal('colour' in res.json.message, false);
});

test('unicode escapes decoded', async () => {
  const path = `/api/conversations/${conversation.id}/messages`;
  const res = await postJson(path, `{"client_id":"${newClientId()}","body":"caf\\u00e9 \\ud83d\\udd25"}`);
  assert.equal(res.status, 201, res.text);
  assert.equal(res.json.message.body, 'café 🔥');
});

test('API still serves afterwards', async () => {
  const res = await get('/api/me');
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.user.id, alice.user.id);
  const history = await get(`/api/conversations/${conversation.id}/messages`);
  assert.equal(history.status, 200);
});
