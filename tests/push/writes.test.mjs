// The push daemon's write path under a burst. A client that reads keeps
// its socket, and sockets reset in the middle of a burst leave the others
// intact. Each burst is inserted straight into the outbox in one
// transaction, so the daemon reads it back to back, as after a backlog.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { signup } from '../lib/http.mjs';
import {
  Receiver,
  createConversation,
  postMessage,
  sleep,
  startPushStack,
  stopReceivers,
} from './support.mjs';

let stack;
let alice;
let bob;
let carol;
let direct;
let carolConversation;

// Message ids of the inserted events start above this, clear of the API's ids.
const FIRST_BURST_ID = 1000000000;
const SECOND_BURST_ID = 2000000000;

before(async () => {
  stack = await startPushStack();
  [alice, bob, carol] = [await signup(stack), await signup(stack), await signup(stack)];
  direct = await createConversation(alice, [bob]);
  carolConversation = await createConversation(carol, [alice]);
});

after(async () => {
  stopReceivers();
  await stack?.stop();
});

/**
 * Inserts count message events from alice to bob, with message ids
 * firstId + 1 to firstId + count and bodies of bodyLength characters, in
 * one transaction, and rings the outbox doorbell. Returns the message ids.
 */
async function insertBurst(firstId, count, bodyLength) {
  await stack.psql(`
    INSERT INTO events (conversation_id, kind, payload)
    SELECT ${direct}, 'message', jsonb_build_object('message', jsonb_build_object(
        'id', ${firstId} + g, 'conversation_id', ${direct}, 'sender_id', ${alice.user.id},
        'body', repeat('x', ${bodyLength})))
    FROM generate_series(1, ${count}) AS g;
    NOTIFY blinkchat_outbox`);
  return Array.from({ length: count }, (_, i) => firstId + 1 + i);
}

async function deleteBurst(firstId) {
  await stack.psql(`DELETE FROM events WHERE (payload->'message'->>'id')::bigint > ${firstId}`);
}

describe('writes during a burst', () => {
  test('reading sockets stay open through 2.4 MB', async () => {
    // The clients read as fast as loopback allows, so no 1 MiB send queue
    // should fill. With sends limited to about 1 KB each (the daemon's
    // libwebsockets tx_packet_size left at 0), long frames drained one
    // piece per loop pass and these sockets were closed with 1008.
    const readers = [];
    for (let i = 0; i < 4; i++) {
      readers.push(await new Receiver(stack.pushdUrl, bob, { name: `bob reading ${i}` }).start());
    }
    for (const reader of readers) reader.ws.send(JSON.stringify({ type: 'ping' }));
    await sleep(200);
    const logBefore = stack.log('pushd').length;

    // 600 frames of about 4.1 KB each: bodies of 4,000 characters, the
    // longest that the API accepts. A longer burst can outrun a reader on
    // a loaded machine, which is then closed with 1008 and resumes, as
    // designed.
    try {
      const ids = await insertBurst(FIRST_BURST_ID, 600, 4000);
      for (const reader of readers) {
        await reader.waitForMessages(ids, 60000);
      }
      await sleep(200);

      for (const reader of readers) reader.assertExactlyOnce(ids);
      const queueFull = stack.log('pushd').slice(logBefore).split('\n')
        .filter((line) => line.includes('send queue over'));
      assert.deepEqual(queueFull, [], 'pushd closed reading sockets for a full send queue');
      for (const reader of readers) {
        assert.deepEqual(reader.closes, [], `${reader.name}: the socket stayed open`);
        assert.equal(reader.hellos, 1, `${reader.name}: one hello`);
      }
    } finally {
      for (const reader of readers) reader.stop();
      await deleteBurst(FIRST_BURST_ID);
    }
  });

  test('sockets reset mid-burst leave others intact', async () => {
    const reader = await new Receiver(stack.pushdUrl, bob, { name: 'bob reading' }).start();
    const bystander = await new Receiver(stack.pushdUrl, carol, { name: 'carol' }).start();
    // Eight more sockets of bob stop reading and are then reset while the
    // daemon still has frames in flight for them, in the kernel, in
    // libwebsockets' partial-frame buffer or in the send queue.
    const victims = [];
    for (let i = 0; i < 8; i++) {
      victims.push(await new Receiver(stack.pushdUrl, bob, { name: `bob victim ${i}` }).start());
    }
    for (const receiver of [reader, bystander, ...victims]) {
      receiver.ws.send(JSON.stringify({ type: 'ping' }));
    }
    await sleep(200);
    for (const victim of victims) victim.ws._socket.pause();

    try {
      // 3,000 frames of about 900 bytes.
      const ids = await insertBurst(SECOND_BURST_ID, 3000, 800);
      await reader.waitFor(() => reader.messageCounts.size >= 500, 60000, '500 messages');
      for (const victim of victims) {
        // A TCP RST rather than a FIN, so writes to it fail at once. stop()
        // runs before the close event, so the victim does not reconnect.
        victim.ws._socket.resetAndDestroy();
        victim.stop();
      }

      await reader.waitForMessages(ids, 60000);
      await sleep(200);
      reader.assertExactlyOnce(ids);
      assert.deepEqual(reader.closes, [], 'the reading socket stayed open');

      const later = await postMessage(alice, carolConversation, 'after the resets');
      await bystander.waitForMessages([later.id], 10000);
      bystander.assertExactlyOnce([later.id]);
      assert.deepEqual(bystander.closes, [], 'the bystander kept its socket');
    } finally {
      for (const receiver of [reader, bystander, ...victims]) receiver.stop();
      await deleteBurst(SECOND_BURST_ID);
    }
  });
});
