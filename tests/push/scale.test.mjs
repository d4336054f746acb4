// Several daemons behind one proxy, and many concurrent senders: every
// socket of every member receives every message exactly once.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { connectSocket } from '../lib/http.mjs';
import {
  Receiver,
  createConversation,
  postMessage,
  runPool,
  signupMany,
  sleep,
  startExtraPushd,
  startPushStack,
  stopReceivers,
} from './support.mjs';

let stack;

before(async () => {
  stack = await startPushStack();
});

after(async () => {
  stopReceivers();
  await stack?.stop();
});

describe('two instances', () => {
  let extra;

  before(async () => {
    extra = await startExtraPushd(stack);
  });

  after(async () => {
    const result = await extra?.stop();
    assert.equal(result?.code, 0, 'the second pushd exits 0 on SIGTERM');
  });

  test('events reach each socket once on either instance', async () => {
    const users = await signupMany(stack, 6);
    const group = await createConversation(users[0], users.slice(1), 'Two daemons');
    const urls = [stack.pushdUrl, extra.url, stack.wsUrl];
    const receivers = [];
    for (let i = 0; i < users.length; i++) {
      receivers.push(new Receiver(urls[i % 2], users[i], { name: `user ${i} on ${i % 2 ? 'B' : 'A'}` }));
      receivers.push(new Receiver(urls[(i + 1) % 3], users[i], { name: `user ${i} second device` }));
    }
    await Promise.all(receivers.map((receiver) => receiver.start()));

    const ids = [];
    await runPool(200, 6, async (i) => {
      ids.push((await postMessage(users[i % 3], group, `from ${i % 3}: ${i}`)).id);
    });
    for (const receiver of receivers) {
      await receiver.waitForMessages(ids, 60000);
      await sleep(100);
      receiver.assertExactlyOnce(ids);
    }

    // A client that moves to the other instance resumes without loss.
    const mover = receivers[0];
    mover.url = extra.url;
    mover.drop();
    const more = [];
    for (let i = 0; i < 20; i++) more.push((await postMessage(users[1], group, `after the move ${i}`)).id);
    await mover.waitForMessages([...ids, ...more], 30000);
    mover.assertExactlyOnce([...ids, ...more]);
    for (const receiver of receivers) receiver.stop();
  });

  test('typing and presence cross instances', async () => {
    const [ann, ben] = await signupMany(stack, 2);
    const direct = await createConversation(ann, [ben]);
    const annOnA = await connectSocket(stack.pushdUrl, ann);
    await annOnA.next('hello');
    annOnA.send({ type: 'ping' });

    const benOnB = await connectSocket(extra.url, ben);
    await benOnB.next('hello');
    const online = await annOnA.next('presence');
    assert.deepEqual(online, { type: 'presence', user_id: ben.user.id, online: true });
    const members = (await stack.redis('ZRANGE', `blinkchat:online:${ben.user.id}`, 0, -1)).split('\n');
    assert.equal(members.length, 1);

    benOnB.send({ type: 'typing', conversation_id: direct, typing: true });
    const typing = await annOnA.next('typing');
    assert.equal(typing.user_id, ben.user.id);

    // Ben on both instances: closing one socket is not going offline.
    const benOnA = await connectSocket(stack.pushdUrl, ben);
    await benOnA.next('hello');
    await sleep(300);
    assert.equal((await stack.redis('ZRANGE', `blinkchat:online:${ben.user.id}`, 0, -1)).split('\n').length, 2);
    await benOnB.close();
    assert.deepEqual(await annOnA.collect('presence', 3000), [], 'still online on the other instance');
    await benOnA.close();
    const offline = await annOnA.next('presence', 6000);
    assert.equal(offline.online, false);
    await annOnA.close();
  });
});

describe('concurrent senders', () => {
  test('20 senders for 10 s, every member socket gets every message once', async () => {
    const users = await signupMany(stack, 20);
    // Four groups of ten; each user is in two of them.
    const groups = [];
    for (let g = 0; g < 4; g++) {
      const members = Array.from({ length: 10 }, (_, k) => users[(g * 5 + k) % 20]);
      groups.push({ id: await createConversation(members[0], members.slice(1), `Group ${g}`), members });
    }
    const receivers = [];
    for (let i = 0; i < users.length; i++) {
      receivers.push(new Receiver(i % 2 ? stack.wsUrl : stack.pushdUrl, users[i], { name: `user ${i}` }));
    }
    for (let i = 0; i < 4; i++) receivers.push(new Receiver(stack.wsUrl, users[i], { name: `user ${i} phone` }));
    await Promise.all(receivers.map((receiver) => receiver.start()));

    const sentByGroup = new Map(groups.map((group) => [group.id, []]));
    const deadline = Date.now() + 10000;
    await Promise.all(users.map(async (user, i) => {
      const mine = groups.filter((group) => group.members.includes(user));
      for (let n = 0; Date.now() < deadline; n++) {
        const group = mine[n % mine.length];
        const message = await postMessage(user, group.id, `user ${i} message ${n}`);
        sentByGroup.get(group.id).push(message.id);
      }
    }));
    const total = [...sentByGroup.values()].reduce((sum, ids) => sum + ids.length, 0);
    assert.ok(total >= 100, `only ${total} messages were posted in 10 s`);

    for (const receiver of receivers) {
      const expected = groups
        .filter((group) => group.members.includes(receiver.client))
        .flatMap((group) => sentByGroup.get(group.id));
      await receiver.waitForMessages(expected, 60000);
      await sleep(100);
      receiver.assertExactlyOnce(expected);
      receiver.stop();
    }
  });
});
