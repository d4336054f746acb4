// The push daemon's live delivery: who receives outbox events, typing and
// presence, how the upgrade is authorized, and what bad frames get.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import WebSocket from 'ws';

import { connectSocket, signup } from '../lib/http.mjs';
import {
  createConversation,
  jwtSecret,
  postMessage,
  sessionClaims,
  signToken,
  sleep,
  startPushStack,
} from './support.mjs';

let stack;
let alice;
let bob;
let carol;
let dave; // in no conversation with the others
let group;
let direct;

/** Opens a socket, waits for hello and ends the resume hold with a ping. */
async function openLive(client, url = stack.wsUrl) {
  const socket = await connectSocket(url, client);
  socket.hello = await socket.next('hello');
  socket.send({ type: 'ping' });
  await socket.next('pong');
  return socket;
}

async function closeAll(sockets) {
  await Promise.all(sockets.map((socket) => socket.close()));
}

before(async () => {
  stack = await startPushStack({ env: { BLINKCHAT_PRESENCE_GROUP_LIMIT: '3' } });
  [alice, bob, carol, dave] = [await signup(stack), await signup(stack), await signup(stack), await signup(stack)];
  group = await createConversation(alice, [bob, carol], 'Push group');
  direct = await createConversation(alice, [bob]);
});

after(async () => {
  await stack?.stop();
});

describe('outbox events', () => {
  test('message reaches every member socket once', async () => {
    const aliceLaptop = await openLive(alice);
    const alicePhone = await openLive(alice, stack.pushdUrl);
    const bobLaptop = await openLive(bob);
    const bobPhone = await openLive(bob, stack.pushdUrl);
    const carolLaptop = await openLive(carol);
    const daveLaptop = await openLive(dave);
    const sockets = [aliceLaptop, alicePhone, bobLaptop, bobPhone, carolLaptop, daveLaptop];

    const clientId = randomUUID();
    const sent = await postMessage(alice, group, 'hello group', { clientId });

    for (const socket of [aliceLaptop, alicePhone]) {
      const frame = await socket.next((f) => f.type === 'message' && f.message.id === sent.id);
      assert.equal(frame.message.client_id, clientId, 'the sender sees its client_id');
      assert.deepEqual(frame.message.seen_by, []);
      assert.match(frame.event_id, /^\d+-\d+$/);
    }
    for (const socket of [bobLaptop, bobPhone, carolLaptop]) {
      const frame = await socket.next((f) => f.type === 'message' && f.message.id === sent.id);
      assert.equal(frame.message.body, 'hello group');
      assert.equal(frame.message.conversation_id, group);
      assert.equal('client_id' in frame.message, false, 'recipients do not see client_id');
      assert.equal('seen_by' in frame.message, false, 'recipients do not see seen_by');
    }

    // Nothing more: no duplicate, and nothing at all for a non-member.
    for (const socket of sockets) {
      const extra = await socket.collect((f) => f.type === 'message', 300);
      assert.deepEqual(extra, []);
    }
    await closeAll(sockets);
  });

  test('direct message skips other group members', async () => {
    const bobLaptop = await openLive(bob);
    const carolLaptop = await openLive(carol);
    const sent = await postMessage(alice, direct, 'just for bob');

    await bobLaptop.next((f) => f.type === 'message' && f.message.id === sent.id);
    assert.deepEqual(await carolLaptop.collect('message', 500), []);
    await closeAll([bobLaptop, carolLaptop]);
  });

  test('seen and reaction events', async () => {
    const aliceLaptop = await openLive(alice);
    const carolLaptop = await openLive(carol);
    const sent = await postMessage(alice, group, 'react to this');
    await aliceLaptop.next((f) => f.type === 'message' && f.message.id === sent.id);

    const read = await bob.post(`/api/conversations/${group}/read`, { up_to: sent.id });
    assert.equal(read.status, 204, read.text);
    for (const socket of [aliceLaptop, carolLaptop]) {
      const seen = await socket.next('seen');
      assert.deepEqual({ conversation_id: seen.conversation_id, user_id: seen.user_id, up_to: seen.up_to },
        { conversation_id: group, user_id: bob.user.id, up_to: sent.id });
    }

    const reacted = await carol.put(`/api/messages/${sent.id}/reactions/${encodeURIComponent('🔥')}`);
    assert.equal(reacted.status, 200, reacted.text);
    for (const socket of [aliceLaptop, carolLaptop]) {
      const reaction = await socket.next('reaction');
      assert.equal(reaction.message_id, sent.id);
      assert.equal(reaction.user_id, carol.user.id);
      assert.equal(reaction.emoji, '🔥');
      assert.equal(reaction.on, true);
      assert.deepEqual(reaction.reactions, { '🔥': 1 });
    }
    await closeAll([aliceLaptop, carolLaptop]);
  });

  test('new conversation reaches its members', async () => {
    const erin = await signup(stack);
    const erinLaptop = await openLive(erin);
    const daveLaptop = await openLive(dave);
    const created = await createConversation(dave, [erin]);

    const frame = await erinLaptop.next('conversation');
    assert.equal(frame.conversation.id, created);
    await daveLaptop.next('conversation');

    // The membership learned from the event routes the next message.
    const sent = await postMessage(dave, created, 'hi erin');
    await erinLaptop.next((f) => f.type === 'message' && f.message.id === sent.id);
    await closeAll([erinLaptop, daveLaptop]);
  });
});

describe('typing', () => {
  test('typing reaches others and ends by itself', async () => {
    const aliceLaptop = await openLive(alice);
    const bobLaptop = await openLive(bob);
    const bobPhone = await openLive(bob);
    const carolLaptop = await openLive(carol);

    bobLaptop.send({ type: 'typing', conversation_id: group, typing: true });
    for (const socket of [aliceLaptop, carolLaptop]) {
      const frame = await socket.next('typing');
      assert.deepEqual(frame, { type: 'typing', conversation_id: group, user_id: bob.user.id, typing: true });
    }
    assert.deepEqual(await bobPhone.collect('typing', 200), [], "the typist's own sockets get nothing");

    // Without a refresh the daemon sends typing:false after 6 s.
    const started = Date.now();
    const stopped = await aliceLaptop.next('typing', 9000);
    assert.equal(stopped.typing, false);
    assert.ok(Date.now() - started >= 5000, `typing:false after ${Date.now() - started} ms`);
    await carolLaptop.next((f) => f.type === 'typing' && f.typing === false, 3000);
    await closeAll([aliceLaptop, bobLaptop, bobPhone, carolLaptop]);
  });

  test('explicit typing false', async () => {
    const aliceLaptop = await openLive(alice);
    const bobLaptop = await openLive(bob);
    bobLaptop.send({ type: 'typing', conversation_id: direct, typing: true });
    assert.equal((await aliceLaptop.next('typing')).typing, true);
    bobLaptop.send({ type: 'typing', conversation_id: direct, typing: false });
    assert.equal((await aliceLaptop.next('typing')).typing, false);
    await closeAll([aliceLaptop, bobLaptop]);
  });

  test('typing is rate limited per socket', async () => {
    const aliceLaptop = await openLive(alice);
    const bobLaptop = await openLive(bob);
    for (let i = 0; i < 20; i++) bobLaptop.send({ type: 'typing', conversation_id: direct, typing: true });
    const received = await aliceLaptop.collect('typing', 800);
    assert.ok(received.length >= 1 && received.length <= 5, `${received.length} typing frames passed`);
    await closeAll([aliceLaptop, bobLaptop]);
  });

  test('typing outside the conversation is an error', async () => {
    const daveLaptop = await openLive(dave);
    const aliceLaptop = await openLive(alice);
    daveLaptop.send({ type: 'typing', conversation_id: group, typing: true });
    const error = await daveLaptop.next('error');
    assert.equal(error.code, 'conversation_not_found');
    assert.deepEqual(await aliceLaptop.collect('typing', 300), []);
    await closeAll([daveLaptop, aliceLaptop]);
  });
});

describe('presence', () => {
  test('online, then offline with last_seen_at', async () => {
    const frank = await signup(stack);
    const gina = await signup(stack);
    await createConversation(frank, [gina]);
    const ginaLaptop = await openLive(gina);

    const frankLaptop = await openLive(frank);
    const online = await ginaLaptop.next('presence');
    assert.deepEqual(online, { type: 'presence', user_id: frank.user.id, online: true });
    const members = await stack.redis('ZRANGE', `blinkchat:online:${frank.user.id}`, 0, -1);
    assert.equal(members.split('\n').length, 1, 'one daemon entry in the presence set');

    await frankLaptop.close();
    const offline = await ginaLaptop.next('presence', 6000);
    assert.equal(offline.user_id, frank.user.id);
    assert.equal(offline.online, false);
    assert.match(offline.last_seen_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);

    const stored = await stack.psql(
      `SELECT to_char(last_seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') FROM users WHERE id = ${frank.user.id}`);
    assert.equal(stored, offline.last_seen_at);
    assert.equal(await stack.redis('EXISTS', `blinkchat:online:${frank.user.id}`), '0');
    await ginaLaptop.close();
  });

  test('quick reconnect announces nothing', async () => {
    const hana = await signup(stack);
    const ivan = await signup(stack);
    await createConversation(hana, [ivan]);
    const ivanLaptop = await openLive(ivan);
    const hanaLaptop = await openLive(hana);
    await ivanLaptop.next('presence');

    // A flapping connection: closed and back within the grace period.
    await hanaLaptop.close();
    const again = await openLive(hana);
    assert.deepEqual(await ivanLaptop.collect('presence', 3000), []);
    await again.close();
    await ivanLaptop.close();
  });

  test('groups over the limit get no live presence', async () => {
    // This stack's limit is 3 members: the group of three gets presence,
    // the group of four does not.
    const members = [await signup(stack), await signup(stack), await signup(stack), await signup(stack)];
    await createConversation(members[0], members.slice(1), 'Four');
    await createConversation(members[1], members.slice(2), 'Three');
    const small = await openLive(members[2]);
    const large = await openLive(members[3]);
    await small.collect('presence', 500); // each other's, through "Three"
    await large.collect('presence', 0);

    const joining = await openLive(members[0]);
    assert.deepEqual(await large.collect('presence', 1000), []);
    assert.deepEqual(await small.collect('presence', 0), []);

    const smallMember = await openLive(members[1]);
    assert.equal((await small.next('presence')).user_id, members[1].user.id);
    assert.equal((await large.next('presence')).user_id, members[1].user.id);
    assert.deepEqual(await joining.collect('presence', 300), []);
    await closeAll([small, large, joining, smallMember]);
  });
});

describe('upgrade authorization', () => {
  async function upgradeStatus(url, headers) {
    const ws = new WebSocket(url, { headers, handshakeTimeout: 5000 });
    return new Promise((resolve, reject) => {
      ws.on('unexpected-response', (request, response) => {
        request.destroy();
        resolve(response.statusCode);
      });
      ws.on('open', () => {
        ws.terminate();
        resolve(101);
      });
      ws.on('error', reject);
    });
  }

  for (const [name, url] of [['through the proxy', () => stack.wsUrl], ['direct', () => stack.pushdUrl]]) {
    test(`no cookie is 401 ${name}`, async () => {
      assert.equal(await upgradeStatus(url(), { origin: stack.origin }), 401);
    });

    test(`forged token is 401 ${name}`, async () => {
      const forged = signToken(sessionClaims(alice.user.id), 'not-the-secret-of-this-stack-0123456789');
      assert.equal(await upgradeStatus(url(), { cookie: `blinkchat_session=${forged}` }), 401);
    });

    test(`expired token is 401 ${name}`, async () => {
      const expired = signToken(sessionClaims(alice.user.id, -60), jwtSecret(stack));
      assert.equal(await upgradeStatus(url(), { cookie: `blinkchat_session=${expired}` }), 401);
    });

    test(`foreign Origin is 403 ${name}`, async () => {
      assert.equal(await upgradeStatus(url(), { cookie: alice.cookieHeader(), origin: 'http://evil.example' }), 403);
    });

    test(`valid session is accepted ${name}`, async () => {
      assert.equal(await upgradeStatus(url(), { cookie: alice.cookieHeader(), origin: stack.origin }), 101);
      assert.equal(await upgradeStatus(url(), { cookie: alice.cookieHeader() }), 101, 'no Origin is not a browser');
    });
  }

  test('stale token version is 401', async () => {
    const token = signToken(sessionClaims(alice.user.id, 3600, 41), jwtSecret(stack));
    assert.equal(await upgradeStatus(stack.pushdUrl, { cookie: `blinkchat_session=${token}` }), 401);
  });

  test('logged out session is 401', async () => {
    const leaving = await signup(stack);
    const cookie = leaving.cookieHeader();
    const out = await leaving.post('/api/auth/logout');
    assert.equal(out.status, 204, out.text);
    assert.equal(await upgradeStatus(stack.pushdUrl, { cookie }), 401);
  });

  test('other paths are 404', async () => {
    const url = stack.pushdUrl.replace('/ws', '/other');
    assert.equal(await upgradeStatus(url, { cookie: alice.cookieHeader() }), 404);
  });
});

describe('bad input', () => {
  test('malformed JSON and unknown types get error frames', async () => {
    const socket = await openLive(alice);
    socket.send('{"type": "ping"');
    assert.equal((await socket.next('error')).code, 'invalid_json');
    socket.send('[1, 2]');
    assert.equal((await socket.next('error')).code, 'invalid_json');
    socket.send({ type: 'dance' });
    assert.equal((await socket.next('error')).code, 'unknown_type');
    socket.send({ kind: 'ping' });
    assert.equal((await socket.next('error')).code, 'invalid_frame');
    socket.send({ type: 'typing', conversation_id: 'five' });
    assert.equal((await socket.next('error')).code, 'invalid_frame');
    socket.send({ type: 'resume', last_event_id: 'not-a-position' });
    assert.equal((await socket.next('error')).code, 'invalid_event_id');
    socket.send({ type: 'resume', last_event_id: 12 });
    assert.equal((await socket.next('error')).code, 'invalid_event_id');

    // The socket still works.
    socket.send({ type: 'ping' });
    await socket.next('pong');
    await socket.close();
  });

  test('binary frame closes with 1003', async () => {
    const socket = await openLive(alice);
    const bystander = await openLive(bob);
    socket.ws.send(Buffer.from([1, 2, 3]));
    assert.equal((await socket.closed).code, 1003);

    const sent = await postMessage(alice, direct, 'still delivered');
    await bystander.next((f) => f.type === 'message' && f.message.id === sent.id);
    await bystander.close();
  });

  test('frame over 64 KiB closes with 1009', async () => {
    const socket = await openLive(alice);
    const bystander = await openLive(bob);
    socket.send(JSON.stringify({ type: 'ping', pad: 'x'.repeat(70 * 1024) }));
    assert.equal((await socket.closed).code, 1009);

    bystander.send({ type: 'ping' });
    await bystander.next('pong');
    await bystander.close();
  });

  test('large frame under 64 KiB is accepted', async () => {
    const socket = await openLive(alice);
    socket.send(JSON.stringify({ type: 'ping', pad: 'x'.repeat(60 * 1024) }));
    await socket.next('pong');
    await socket.close();
  });

  test('fragmented message is reassembled', async () => {
    const socket = await openLive(alice);
    const text = JSON.stringify({ type: 'ping' });
    socket.ws.send(text.slice(0, 5), { fin: false });
    socket.ws.send(text.slice(5), { fin: true });
    await socket.next('pong');
    await socket.close();
  });

  test('invalid UTF-8 closes with 1007', async () => {
    const socket = await openLive(alice);
    // A text frame with a lone continuation byte (RFC 6455 section 8.1);
    // ws does not check the text it sends.
    socket.ws.send(Buffer.from([0x7b, 0x80, 0x7d]), { binary: false });
    assert.equal((await socket.closed).code, 1007);
  });
});
