// Randomized stress test of the conversation cache. Several users send
// messages, mark conversations read and list them, concurrently, across
// many conversations; at each quiet point every user's conversation list
// from the API must equal what SQL computes directly from the tables.
// The seed is printed; set BLINKCHAT_STRESS_SEED to replay a failure.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startStack } from '../lib/stack.mjs';
import { signup } from '../lib/http.mjs';

const seed = Number(process.env.BLINKCHAT_STRESS_SEED || Math.floor(Math.random() * 2 ** 31));
console.log(`cache stress seed: ${seed} (replay with BLINKCHAT_STRESS_SEED=${seed})`);

// mulberry32: a small seeded generator, so a run can be replayed.
function generator(state) {
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const USERS = 8;
const OPS_PER_USER = 40;
let stack;
let users = [];            // { client, id, conversations: [id] }
let conversationIds = [];

before(async () => {
  stack = await startStack({ pushd: false });
  for (let i = 0; i < USERS; i++) {
    const client = await signup(stack, `stress${i}`);
    users.push({ client, id: client.user.id, conversations: [] });
  }
  const random = generator(seed);
  // Every pair of neighbours gets a direct conversation, and three groups
  // of four overlap, so lists differ per user and share conversations.
  const plans = [];
  for (let i = 0; i < USERS; i++) plans.push([i, (i + 1) % USERS]);
  for (let g = 0; g < 3; g++) {
    const members = new Set();
    while (members.size < 4) members.add(Math.floor(random() * USERS));
    plans.push([...members]);
  }
  for (const [index, plan] of plans.entries()) {
    const [creator, ...others] = plan;
    const body = { member_ids: others.map((o) => users[o].id) };
    if (others.length > 1) body.title = `group ${index}`;
    const res = await users[creator].client.post('/api/conversations', body);
    assert.ok(res.status === 201 || res.status === 200, `create: ${res.status} ${res.text}`);
    const id = res.json.conversation.id;
    if (!conversationIds.includes(id)) conversationIds.push(id);
    for (const member of plan) {
      if (!users[member].conversations.includes(id)) users[member].conversations.push(id);
    }
  }
});

after(async () => {
  await stack?.stop();
});

async function randomOperation(user, random) {
  const conversation = user.conversations[Math.floor(random() * user.conversations.length)];
  const choice = random();
  if (choice < 0.45) {
    const res = await user.client.post(`/api/conversations/${conversation}/messages`, {
      client_id: randomUUID(), body: `m${Math.floor(random() * 1e6)}`,
    });
    assert.equal(res.status, 201, res.text);
  } else if (choice < 0.7) {
    const page = await user.client.get(`/api/conversations/${conversation}/messages?limit=10`);
    assert.equal(page.status, 200, page.text);
    const messages = page.json.messages;
    if (messages.length > 0) {
      const target = messages[Math.floor(random() * messages.length)];
      const res = await user.client.post(`/api/conversations/${conversation}/read`, {
        up_to: target.id,
      });
      assert.equal(res.status, 204, res.text);
    }
  } else {
    const res = await user.client.get('/api/conversations?limit=5');
    assert.equal(res.status, 200, res.text);
  }
}

async function runRound(random, midRound) {
  const workers = users.map(async (user, index) => {
    const own = generator(Math.floor(random() * 2 ** 31) + index);
    for (let i = 0; i < OPS_PER_USER; i++) {
      if (index === 0 && i === OPS_PER_USER / 2 && midRound) await midRound();
      await randomOperation(user, own);
    }
  });
  await Promise.all(workers);
}

// The expected list of one user, computed from the tables without the
// SQL functions the API uses.
async function expectedList(userId) {
  const rows = await stack.psql(`
    SELECT c.id,
           (SELECT count(*) FROM messages m
             WHERE m.conversation_id = c.id AND m.sender_id <> cm.user_id
               AND m.id > coalesce(cm.last_read_message_id, 0)),
           coalesce(c.last_message_id, 0)
    FROM conversation_members cm JOIN conversations c ON c.id = cm.conversation_id
    WHERE cm.user_id = ${userId}
    ORDER BY c.updated_at DESC, c.id DESC`);
  return rows.split('\n').filter(Boolean).map((line) => {
    const [id, unread, last] = line.split('|').map(Number);
    return { id, unread, last };
  });
}

async function apiList(user) {
  const all = [];
  let cursor = null;
  do {
    const query = cursor ? `?limit=3&before=${encodeURIComponent(cursor)}` : '?limit=3';
    const res = await user.client.get(`/api/conversations${query}`);
    assert.equal(res.status, 200, res.text);
    for (const c of res.json.conversations) {
      all.push({ id: c.id, unread: c.unread_count, last: c.last_message ? c.last_message.id : 0 });
    }
    cursor = res.json.next_cursor;
  } while (cursor);
  return all;
}

async function checkQuietPoint(label) {
  for (const user of users) {
    // Twice: the first read may fill the cache, the second reads from it.
    for (const pass of ['first read', 'second read']) {
      const actual = await apiList(user);
      const expected = await expectedList(user.id);
      assert.deepEqual(actual, expected,
        `${label}, ${pass}: user ${user.id} list differs from SQL (seed ${seed})`);
    }
  }
}

test('cache matches SQL under concurrent writes', async () => {
  const random = generator(seed + 1);
  for (let round = 0; round < 3; round++) {
    await runRound(random);
    await checkQuietPoint(`round ${round}`);
  }
  assert.notEqual(await stack.redis('GET', 'bc:epoch'), '', 'the cache was never used');
});

test('cache matches SQL with Redis flushed mid-round', async () => {
  const random = generator(seed + 2);
  for (let round = 0; round < 2; round++) {
    await runRound(random, async () => {
      assert.equal(await stack.redis('FLUSHALL'), 'OK');
    });
    await checkQuietPoint(`flush round ${round}`);
  }
});

test('cache matches SQL with Redis restarted mid-round', async () => {
  const random = generator(seed + 3);
  await runRound(random, async () => {
    await stack.stopService('redis');
  });
  // Redis is down, so every response is read from PostgreSQL.
  await checkQuietPoint('redis stopped');
  await stack.startService('redis');
  await runRound(random);
  await checkQuietPoint('redis restarted');
  assert.notEqual(await stack.redis('GET', 'bc:epoch'), '', 'the cache was not used again after restart');
  // Each API process logs the outage once, not once per request.
  const outageLines = (stack.log('api') + stack.log('web'))
    .split('\n').filter((line) => line.includes('reading from PostgreSQL until'));
  assert.ok(outageLines.length >= 1, 'the outage was not logged');
  assert.ok(outageLines.length <= 2 * 2, `the outage was logged ${outageLines.length} times`);
});
