// Failures during a stream of messages: pushd killed with SIGKILL and
// restarted, PostgreSQL restarted, Redis restarted. Every client resumes
// and ends with each message exactly once.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { signup } from '../lib/http.mjs';
import {
  Receiver,
  createConversation,
  postMessage,
  runPool,
  sleep,
  startPushStack,
  stopReceivers,
} from './support.mjs';

let stack;
let alice;
let bob;
let carol;
let group;

before(async () => {
  stack = await startPushStack();
  [alice, bob, carol] = [await signup(stack), await signup(stack), await signup(stack)];
  group = await createConversation(alice, [bob, carol], 'Faults');
});

after(async () => {
  stopReceivers();
  await stack?.stop();
});

async function startReceivers() {
  return Promise.all([
    new Receiver(stack.wsUrl, bob, { name: 'bob laptop' }).start(),
    new Receiver(stack.pushdUrl, bob, { name: 'bob phone' }).start(),
    new Receiver(stack.wsUrl, carol, { name: 'carol' }).start(),
    new Receiver(stack.wsUrl, alice, { name: 'alice' }).start(),
  ]);
}

/**
 * Posts count messages from alice, 8 at a time, and runs fault() once
 * faultAfter of them are stored. Resolves to the message ids.
 */
async function burstWithFault(count, faultAfter, fault) {
  const ids = [];
  let faultDone = null;
  await runPool(count, 8, async (i) => {
    ids.push((await postMessage(alice, group, `message ${i}`)).id);
    if (ids.length === faultAfter) faultDone = fault();
  });
  await faultDone;
  return ids;
}

async function assertAllReceived(receivers, ids) {
  for (const receiver of receivers) {
    await receiver.waitForMessages(ids, 120000);
    await sleep(200);
    receiver.assertExactlyOnce(ids);
  }
}

describe('faults', () => {
  test('pushd killed during a burst of 1000', async () => {
    const receivers = await startReceivers();
    const ids = await burstWithFault(1000, 300, async () => {
      await stack.killService('pushd');
      await sleep(500);
      await stack.startService('pushd');
    });

    await assertAllReceived(receivers, ids);
    for (const receiver of receivers) {
      assert.ok(receiver.hellos >= 2, `${receiver.name} reconnected (${receiver.hellos} hellos)`);
      receiver.stop();
    }
  });

  test('PostgreSQL restarted during a burst', async () => {
    const receivers = await startReceivers();
    const logBefore = stack.log('pushd').length;
    const ids = await burstWithFault(300, 100, () => stack.restartService('postgres'));

    await assertAllReceived(receivers, ids);
    const log = stack.log('pushd').slice(logBefore);
    assert.match(log, /postgres outbox listener: connection lost/);
    assert.match(log, /postgres outbox listener: connected/);
    for (const receiver of receivers) receiver.stop();
  });

  test('Redis killed and restarted during a burst', async () => {
    const receivers = await startReceivers();
    const logBefore = stack.log('pushd').length;
    // Killed, so that the daemon's reconnect attempts are refused for a
    // while before Redis is back.
    const ids = await burstWithFault(300, 100, async () => {
      await stack.killService('redis');
      await sleep(1500);
      await stack.startService('redis');
    });
    await assertAllReceived(receivers, ids);

    // Both Redis connections come back.
    let deadline = Date.now() + 20000;
    const reconnected = () => {
      const log = stack.log('pushd').slice(logBefore);
      return /redis subscriber: connected/.test(log) && /redis commands: connected/.test(log);
    };
    while (!reconnected()) {
      assert.ok(Date.now() < deadline, 'pushd did not reconnect to Redis');
      await sleep(200);
    }

    // Typing passes between clients again.
    const [bobLaptop, , carolReceiver] = receivers;
    deadline = Date.now() + 20000;
    let typed = false;
    while (!typed && Date.now() < deadline) {
      bobLaptop.ws?.send(JSON.stringify({ type: 'typing', conversation_id: group, typing: true }));
      await sleep(500);
      typed = carolReceiver.frames.some((frame) => frame.type === 'typing' && frame.user_id === bob.user.id);
    }
    assert.ok(typed, 'typing reached carol after the Redis restart');

    // The presence lease of a connected user is back in Redis.
    assert.equal(await stack.redis('EXISTS', `blinkchat:online:${bob.user.id}`), '1');
    for (const receiver of receivers) receiver.stop();
  });
});
