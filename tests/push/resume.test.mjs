// Resume: a client that reconnects and sends the last event_id it applied
// gets every later event once, in order, and then live events with no gap
// or duplicate at the seam. Also the send queue limit and the idle ping.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import WebSocket from 'ws';

import { connectSocket, signup } from '../lib/http.mjs';
import {
  Receiver,
  compareEventIds,
  createConversation,
  postMessage,
  runPool,
  sleep,
  startExtraPushd,
  startPushStack,
  stopReceivers,
} from './support.mjs';

let stack;
let alice;
let bob;
let direct;

before(async () => {
  stack = await startPushStack();
  [alice, bob] = [await signup(stack), await signup(stack)];
  direct = await createConversation(alice, [bob]);
});

after(async () => {
  stopReceivers();
  await stack?.stop();
});

/** Drops the receiver's socket once it has `first` messages and again at `second`. */
async function dropTwice(receiver, first, second) {
  await receiver.waitFor(() => receiver.messageCounts.size >= first, 60000, `${first} messages`);
  receiver.drop();
  await receiver.waitFor(() => receiver.hellos >= 2, 10000, 'the second hello');
  await receiver.waitFor(() => receiver.messageCounts.size >= second, 60000, `${second} messages`);
  receiver.drop();
  await receiver.waitFor(() => receiver.hellos >= 3, 10000, 'the third hello');
}

describe('resume', () => {
  test('dropped sockets during a burst of 500 lose nothing', async () => {
    const laptop = await new Receiver(stack.wsUrl, bob, { name: 'bob laptop' }).start();
    const phone = await new Receiver(stack.pushdUrl, bob, { name: 'bob phone' }).start();
    const sender = await new Receiver(stack.wsUrl, alice, { name: 'alice' }).start();
    const receivers = [laptop, phone, sender];

    // Drop each of bob's sockets twice while messages stream in.
    const drops = [dropTwice(laptop, 100, 300), dropTwice(phone, 200, 250)];
    const ids = [];
    await runPool(500, 8, async (i) => {
      ids.push((await postMessage(alice, direct, `burst ${i}`)).id);
    });
    await Promise.all(drops);

    for (const receiver of receivers) {
      await receiver.waitForMessages(ids, 60000);
      await sleep(200);
      receiver.assertExactlyOnce(ids);
    }
    for (const receiver of receivers) receiver.stop();
  });

  test('resume from the hello position misses nothing', async () => {
    const first = await connectSocket(stack.pushdUrl, bob);
    const hello = await first.next('hello');
    await first.close();

    const ids = [];
    for (let i = 0; i < 20; i++) ids.push((await postMessage(alice, direct, `while away ${i}`)).id);

    const second = await connectSocket(stack.pushdUrl, bob);
    second.send({ type: 'resume', last_event_id: hello.last_event_id });
    await second.next('hello');
    const received = [];
    while (received.length < ids.length) received.push(await second.next('message'));
    assert.deepEqual(received.map((frame) => frame.message.id), ids);
    for (let i = 1; i < received.length; i++) {
      assert.ok(compareEventIds(received[i - 1].event_id, received[i].event_id) < 0, 'in event order');
    }

    // Live after the replay, with nothing repeated.
    const live = await postMessage(alice, direct, 'live again');
    const next = await second.next('message');
    assert.equal(next.message.id, live.id);
    assert.deepEqual(await second.collect('message', 300), []);
    await second.close();
  });

  test('resume from a pruned position needs a resync', async () => {
    await postMessage(alice, direct, 'before pruning');
    const newest = await stack.psql('SELECT xid::text, id FROM events ORDER BY events.xid DESC, events.id DESC LIMIT 1');
    const [xid, id] = newest.split('|');
    await stack.psql(`UPDATE events_horizon SET xid = '${xid}', id = ${id}`);
    try {
      const socket = await connectSocket(stack.pushdUrl, bob);
      socket.send({ type: 'resume', last_event_id: '1-1' });
      await socket.next('resync_required');

      // The socket then goes live from the current position.
      const live = await postMessage(alice, direct, 'after the resync');
      assert.equal((await socket.next('message')).message.id, live.id);
      await socket.close();
    } finally {
      await stack.psql("UPDATE events_horizon SET xid = '0', id = 0");
    }
  });

  test('resume after live events were written needs a resync', async () => {
    const socket = await connectSocket(stack.pushdUrl, bob);
    const hello = await socket.next('hello');
    socket.send({ type: 'ping' });
    await socket.next('pong');
    await postMessage(alice, direct, 'written before the resume');
    await socket.next('message');

    // The client claims to have nothing after hello, but an event after it
    // was already written: replaying would reorder, so the client reloads.
    socket.send({ type: 'resume', last_event_id: hello.last_event_id });
    await socket.next('resync_required');
    await socket.close();
  });

  test('resume at the current position replays nothing', async () => {
    const socket = await connectSocket(stack.pushdUrl, bob);
    const hello = await socket.next('hello');
    socket.send({ type: 'resume', last_event_id: hello.last_event_id });
    const live = await postMessage(alice, direct, 'only this');
    assert.equal((await socket.next('message')).message.id, live.id);
    assert.deepEqual(await socket.collect('message', 300), []);
    await socket.close();
  });
});

describe('backpressure and idle sockets', () => {
  test('a client that stops reading is closed and resumes', async () => {
    const slow = await new Receiver(stack.pushdUrl, bob, { name: 'slow bob' }).start();
    // A bystander outside the conversation: its socket must not notice.
    const carol = await signup(stack);
    const carolConversation = await createConversation(carol, [alice]);
    const bystander = await new Receiver(stack.pushdUrl, carol, { name: 'carol' }).start();
    slow.ws.send(JSON.stringify({ type: 'ping' }));
    bystander.ws.send(JSON.stringify({ type: 'ping' }));
    await sleep(200);

    // 4,000 events of 4 KB fill the kernel buffers and then the 1 MiB queue.
    slow.ws._socket.pause();
    const count = 4000;
    const logBefore = stack.log('pushd').length;
    await stack.psql(`
      INSERT INTO events (conversation_id, kind, payload)
      SELECT ${direct}, 'message', jsonb_build_object('message', jsonb_build_object(
          'id', 1000000000 + g, 'conversation_id', ${direct}, 'sender_id', ${alice.user.id},
          'body', repeat('x', 4000)))
      FROM generate_series(1, ${count}) AS g;
      NOTIFY blinkchat_outbox`);
    const deadline = Date.now() + 30000;
    while (!/send queue over .*\n.*closing with 1008/.test(stack.log('pushd').slice(logBefore))) {
      assert.ok(Date.now() < deadline, 'pushd never closed the slow socket with 1008');
      await sleep(100);
    }
    // The close frame cannot pass the full buffers, so the client sees the
    // connection end, reconnects and resumes.
    slow.ws._socket.resume();

    const ids = Array.from({ length: count }, (_, i) => 1000000001 + i);
    await slow.waitFor(() => slow.closes.length > 0, 15000, 'the close');
    await slow.waitForMessages(ids, 120000);
    slow.assertExactlyOnce(ids);

    const later = await postMessage(alice, carolConversation, 'unaffected');
    await bystander.waitForMessages([later.id], 10000);
    bystander.assertExactlyOnce([later.id]);
    assert.deepEqual(bystander.closes, [], 'the bystander kept its socket');
    slow.stop();
    bystander.stop();
    await stack.psql("DELETE FROM events WHERE (payload->'message'->>'id')::bigint > 1000000000");
  });

  test('a socket that does not answer pings is dropped', async () => {
    const extra = await startExtraPushd(stack, { BLINKCHAT_PUSHD_PING_SECONDS: '1' });
    try {
      const headers = { cookie: alice.cookieHeader() };
      const silent = new WebSocket(extra.url, { headers, autoPong: false });
      const answering = new WebSocket(extra.url, { headers });
      const silentClosed = new Promise((resolve) => silent.on('close', resolve));
      let answeringClosed = false;
      answering.on('close', () => { answeringClosed = true; });

      const started = Date.now();
      await silentClosed;
      const elapsed = Date.now() - started;
      assert.ok(elapsed < 8000, `dropped after ${elapsed} ms`);
      assert.equal(answeringClosed, false, 'a socket that answers pings stays open');
      answering.close();
    } finally {
      const { code } = await extra.stop();
      assert.equal(code, 0, 'the extra pushd exits 0 on SIGTERM');
    }
  });
});
