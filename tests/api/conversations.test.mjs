// Conversations: direct and group creation, the list with paging, and
// reading one conversation.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  API_TIME,
  CONVERSATION_KEYS,
  assertError,
  assertJsonContentType,
  assertUser,
  call,
  newClient,
  queryValue,
  registerUser,
  registerUsers,
  resetCache,
  sendMessage,
  startApiStack,
} from './support.mjs';

let stack;

before(async () => {
  stack = await startApiStack();
});

after(async () => {
  await stack?.stop();
});

function create(account, body) {
  return call(account.client, 'POST', '/api/conversations', body);
}

function list(account, query = '') {
  return call(account.client, 'GET', `/api/conversations${query}`);
}

function assertMembers(conversation, accounts) {
  const members = [...conversation.members].sort((a, b) => a.id - b.id);
  const expected = accounts.map((a) => a.user).sort((a, b) => a.id - b.id);
  assert.equal(members.length, expected.length);
  members.forEach((member, i) => assertUser(member, expected[i]));
}

async function conversationCount() {
  return Number(await queryValue(stack, 'SELECT count(*) FROM conversations'));
}

describe('create direct', () => {
  let alice;
  let bob;

  before(async () => {
    [alice, bob] = await registerUsers(stack, 2, 'direct');
  });

  test('direct conversation created', async () => {
    const res = await create(alice, { member_ids: [bob.user.id] });
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(Object.keys(res.json), ['conversation']);

    const conversation = res.json.conversation;
    assert.deepEqual(Object.keys(conversation).sort(), CONVERSATION_KEYS);
    assert.ok(Number.isInteger(conversation.id), `id ${conversation.id}`);
    assert.ok(conversation.id > 0, `id ${conversation.id}`);
    assert.equal(conversation.kind, 'direct');
    assert.equal(conversation.title, null);
    assertMembers(conversation, [alice, bob]);
    assert.equal(conversation.last_message, null);
    assert.equal(conversation.unread_count, 0);
    assert.equal(conversation.last_read_message_id, null);
    assert.match(conversation.updated_at, API_TIME);
  });

  test('same pair gets same conversation', async () => {
    const first = await create(alice, { member_ids: [bob.user.id] });
    const before = await conversationCount();

    const again = await create(alice, { member_ids: [bob.user.id] });
    assert.equal(again.status, 200, again.text);
    assert.deepEqual(again.json, first.json);

    const reverse = await create(bob, { member_ids: [alice.user.id] });
    assert.equal(reverse.status, 200, reverse.text);
    assert.equal(reverse.json.conversation.id, first.json.conversation.id);
    assert.equal(reverse.json.conversation.kind, 'direct');
    assertMembers(reverse.json.conversation, [alice, bob]);

    // The caller's own id and repeats do not make it a group.
    const repeated = await create(alice, { member_ids: [bob.user.id, alice.user.id, bob.user.id] });
    assert.equal(repeated.status, 200, repeated.text);
    assert.equal(repeated.json.conversation.id, first.json.conversation.id);

    assert.equal(await conversationCount(), before);
  });

  test('concurrent direct creation makes one', async () => {
    const [carol, dave] = await registerUsers(stack, 2, 'race');
    const results = await Promise.all([
      create(carol, { member_ids: [dave.user.id] }),
      create(dave, { member_ids: [carol.user.id] }),
      create(carol, { member_ids: [dave.user.id] }),
      create(dave, { member_ids: [carol.user.id] }),
    ]);
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 200, 200, 201], results.map((r) => r.text).join('\n'));
    assert.equal(new Set(results.map((r) => r.json.conversation.id)).size, 1);
    const stored = await queryValue(
      stack,
      `SELECT count(*) FROM conversations c WHERE c.kind = 'direct' AND EXISTS (
         SELECT 1 FROM conversation_members m WHERE m.conversation_id = c.id AND m.user_id = ${carol.user.id})`,
    );
    assert.equal(stored, '1');
  });

  test('direct conversation takes no title', async () => {
    const [carol] = await registerUsers(stack, 1, 'titled');
    assertError(await create(alice, { member_ids: [carol.user.id], title: 'Just us' }), 400, 'invalid_body');
  });
});

describe('create group', () => {
  let owner;
  let others;

  before(async () => {
    owner = await registerUser(stack, 'owner');
    others = await registerUsers(stack, 3, 'member');
  });

  test('group conversation created', async () => {
    const res = await create(owner, { member_ids: others.map((o) => o.user.id), title: 'Project ✨' });
    assert.equal(res.status, 201, res.text);
    const conversation = res.json.conversation;
    assert.deepEqual(Object.keys(conversation).sort(), CONVERSATION_KEYS);
    assert.equal(conversation.kind, 'group');
    assert.equal(conversation.title, 'Project ✨');
    assertMembers(conversation, [owner, ...others]);
    assert.equal(conversation.last_message, null);
    assert.equal(conversation.unread_count, 0);
    assert.equal(conversation.last_read_message_id, null);
    assert.match(conversation.updated_at, API_TIME);

    // Every member sees it.
    for (const member of others) {
      const seen = await call(member.client, 'GET', `/api/conversations/${conversation.id}`);
      assert.equal(seen.status, 200, seen.text);
      assert.equal(seen.json.conversation.title, 'Project ✨');
    }
  });

  test('same members make new groups', async () => {
    const ids = others.slice(0, 2).map((o) => o.user.id);
    const first = await create(owner, { member_ids: ids, title: 'One' });
    const second = await create(owner, { member_ids: ids, title: 'One' });
    assert.equal(first.status, 201);
    assert.equal(second.status, 201);
    assert.notEqual(first.json.conversation.id, second.json.conversation.id);
  });

  test('group title limits', async () => {
    const ids = others.slice(0, 2).map((o) => o.user.id);
    for (const title of ['t', 't'.repeat(100), '🔥'.repeat(100), 'é'.repeat(100)]) {
      const res = await create(owner, { member_ids: ids, title });
      assert.equal(res.status, 201, `title of ${title.length} code units: ${res.text}`);
      assert.equal(res.json.conversation.title, title);
    }
    const before = await conversationCount();
    for (const title of [undefined, null, '', 't'.repeat(101), '🔥'.repeat(101), 7]) {
      const body = { member_ids: ids };
      if (title !== undefined) body.title = title;
      assertError(await create(owner, body), 400, 'invalid_body');
    }
    assert.equal(await conversationCount(), before);
  });

  test('group of 500 others', async () => {
    // The users are inserted with psql: registering 501 through the API
    // would take most of the time budget of this file.
    const prefix = `bulk${Date.now().toString(36)}`;
    const ids = JSON.parse(await queryValue(
      stack,
      `WITH inserted AS (
         INSERT INTO users (username, display_name, password_hash)
         SELECT '${prefix}_' || g, 'Bulk ' || g, 'not-a-hash' FROM generate_series(1, 501) AS g
         RETURNING id)
       SELECT json_agg(id ORDER BY id) FROM inserted`,
    ));

    const tooMany = await create(owner, { member_ids: ids, title: 'Too many' });
    assertError(tooMany, 400, 'invalid_body');

    const res = await create(owner, { member_ids: ids.slice(0, 500), title: 'Everyone' });
    assert.equal(res.status, 201, res.text.slice(0, 300));
    assert.equal(res.json.conversation.members.length, 501);

    const listed = await list(owner);
    const entry = listed.json.conversations.find((c) => c.id === res.json.conversation.id);
    assert.deepEqual(entry, res.json.conversation);
    const stored = await queryValue(stack, `SELECT count(*) FROM conversation_members WHERE conversation_id = ${res.json.conversation.id}`);
    assert.equal(stored, '501');

    // Presence of every member, the last ones included. A user is online
    // while a push daemon holds an unexpired lease in this sorted set.
    const onlineIds = [ids[0], ids[255], ids[256], ids[499]];
    for (const id of onlineIds) {
      await stack.redis('ZADD', `blinkchat:online:${id}`, String(Date.now() + 60_000), 'api-test-instance');
    }
    const single = await call(owner.client, 'GET', `/api/conversations/${res.json.conversation.id}`);
    const listedAgain = (await list(owner)).json.conversations.find((c) => c.id === res.json.conversation.id);
    for (const [label, conversation] of [['single read', single.json.conversation], ['list', listedAgain]]) {
      const online = conversation.members.filter((m) => m.online).map((m) => m.id).sort((a, b) => a - b);
      assert.deepEqual(online, onlineIds, `${label}: online members`);
    }
  });

  test('group needs two others', async () => {
    // One other member with a title is neither a direct conversation nor a group.
    const res = await create(owner, { member_ids: [others[0].user.id, owner.user.id], title: 'Pair' });
    assertError(res, 400, 'invalid_body');
  });
});

describe('create rejects', () => {
  let alice;
  let bob;

  before(async () => {
    [alice, bob] = await registerUsers(stack, 2, 'reject');
  });

  test('member_ids invalid', async () => {
    const before = await conversationCount();
    const bodies = [
      {},
      { member_ids: null },
      { member_ids: bob.user.id },
      { member_ids: [] },
      { member_ids: [alice.user.id] },
      { member_ids: [String(bob.user.id)] },
      { member_ids: [0] },
      { member_ids: [-bob.user.id] },
      { member_ids: [bob.user.id + 0.5] },
      { member_ids: [[bob.user.id]] },
    ];
    for (const body of bodies) {
      assertError(await create(alice, body), 400, 'invalid_body');
    }
    assert.equal(await conversationCount(), before);
  });

  test('unknown user not found', async () => {
    const before = await conversationCount();
    assertError(await create(alice, { member_ids: [987654321] }), 404, 'user_not_found');
    assertError(await create(alice, { member_ids: [bob.user.id, 987654321], title: 'Ghosts' }), 404, 'user_not_found');
    assert.equal(await conversationCount(), before);
  });

  test('create requires session', async () => {
    assertError(await call(newClient(stack), 'POST', '/api/conversations', { member_ids: [bob.user.id] }), 401, 'unauthenticated');
  });
});

describe('list', () => {
  let me;
  let friends;
  let conversations;

  before(async () => {
    me = await registerUser(stack, 'lister');
    friends = await registerUsers(stack, 3, 'friend');
    conversations = [];
    for (const friend of friends) {
      const res = await create(me, { member_ids: [friend.user.id] });
      assert.equal(res.status, 201);
      conversations.push(res.json.conversation);
    }
  });

  test('list newest activity first', async () => {
    const [c1, c2, c3] = conversations;
    let res = await list(me);
    assert.equal(res.status, 200, res.text);
    assertJsonContentType(res);
    assert.deepEqual(Object.keys(res.json).sort(), ['conversations', 'next_cursor']);
    assert.deepEqual(res.json.conversations.map((c) => c.id), [c3.id, c2.id, c1.id]);
    assert.equal(res.json.next_cursor, null);

    // A message from the friend moves c1 to the top, unread for me.
    const incoming = await sendMessage(friends[0].client, c1.id, 'hello from a friend');
    res = await list(me);
    assert.deepEqual(res.json.conversations.map((c) => c.id), [c1.id, c3.id, c2.id]);
    const top = res.json.conversations[0];
    assert.deepEqual(Object.keys(top).sort(), CONVERSATION_KEYS);
    assert.equal(top.unread_count, 1);
    assert.equal(top.last_read_message_id, null);
    const { client_id: _clientId, seen_by: _seenBy, ...asRecipient } = incoming;
    assert.deepEqual(top.last_message, asRecipient);
    assert.equal(top.updated_at, incoming.created_at);

    // My own message moves c2 to the top and is not unread for me.
    const outgoing = await sendMessage(me.client, c2.id, 'my reply');
    res = await list(me);
    assert.deepEqual(res.json.conversations.map((c) => c.id), [c2.id, c1.id, c3.id]);
    assert.equal(res.json.conversations[0].unread_count, 0);
    assert.deepEqual(res.json.conversations[0].last_message, outgoing);

    // The friend of c2 sees it with one unread message.
    const theirs = await list(friends[1]);
    assert.equal(theirs.json.conversations[0].id, c2.id);
    assert.equal(theirs.json.conversations[0].unread_count, 1);
  });

  test('list only own conversations', async () => {
    const stranger = await registerUser(stack, 'stranger');
    const res = await list(stranger);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { conversations: [], next_cursor: null });
  });

  test('list pages without repeats', async () => {
    const user = await registerUser(stack, 'pager');
    const peers = await registerUsers(stack, 5, 'peer');
    const created = [];
    for (const peer of peers) {
      const res = await create(user, { member_ids: [peer.user.id] });
      created.push(res.json.conversation.id);
    }

    const seen = [];
    let cursor = null;
    const pageSizes = [];
    do {
      const res = await list(user, `?limit=2${cursor ? `&before=${encodeURIComponent(cursor)}` : ''}`);
      assert.equal(res.status, 200, res.text);
      pageSizes.push(res.json.conversations.length);
      seen.push(...res.json.conversations.map((c) => c.id));
      cursor = res.json.next_cursor;
      assert.ok(cursor === null || typeof cursor === 'string');
    } while (cursor !== null && pageSizes.length < 10);

    assert.deepEqual(pageSizes, [2, 2, 1]);
    assert.deepEqual(seen, [...created].reverse());
  });

  test('list pages through equal times', async () => {
    const user = await registerUser(stack, 'ties');
    const peers = await registerUsers(stack, 7, 'tie');
    const created = [];
    for (const peer of peers) {
      const res = await create(user, { member_ids: [peer.user.id] });
      created.push(res.json.conversation.id);
    }
    await stack.psql(`UPDATE conversations SET updated_at = '2026-06-01 12:00:00.123456+00'
                      WHERE id IN (${created.join(',')})`);
    await resetCache(stack);

    const seen = [];
    let cursor = null;
    for (let page = 0; page < 10; page++) {
      const res = await list(user, `?limit=3${cursor ? `&before=${encodeURIComponent(cursor)}` : ''}`);
      assert.equal(res.status, 200, res.text);
      seen.push(...res.json.conversations.map((c) => c.id));
      cursor = res.json.next_cursor;
      if (cursor === null) break;
    }
    assert.deepEqual(seen, [...created].sort((a, b) => b - a));
  });

  test('list limit honoured', async () => {
    const res = await list(me, '?limit=1');
    assert.equal(res.status, 200);
    assert.equal(res.json.conversations.length, 1);
    assert.equal(typeof res.json.next_cursor, 'string');
  });

  test('list rejects bad cursor', async () => {
    for (const cursor of ['garbage', 'djE6MTox!', Buffer.from('v2:1:1').toString('base64url'), Buffer.from('v1:x:1').toString('base64url')]) {
      assertError(await list(me, `?before=${encodeURIComponent(cursor)}`), 400, 'invalid_cursor');
    }
  });

  test('list rejects bad limit', async () => {
    for (const limit of ['0', '-1', 'abc', '1.5']) {
      assertError(await list(me, `?limit=${limit}`), 400);
    }
  });

  test('list requires session', async () => {
    assertError(await call(newClient(stack), 'GET', '/api/conversations'), 401, 'unauthenticated');
  });
});

describe('get one', () => {
  let alice;
  let bob;
  let outsider;
  let conversation;

  before(async () => {
    [alice, bob, outsider] = await registerUsers(stack, 3, 'getter');
    const res = await create(alice, { member_ids: [bob.user.id] });
    conversation = res.json.conversation;
  });

  test('member gets conversation', async () => {
    await sendMessage(bob.client, conversation.id, 'one');
    await sendMessage(bob.client, conversation.id, 'two');
    const res = await call(alice.client, 'GET', `/api/conversations/${conversation.id}`);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.json), ['conversation']);
    assert.equal(res.json.conversation.id, conversation.id);
    assert.equal(res.json.conversation.unread_count, 2);
    assert.equal(res.json.conversation.last_message.body, 'two');

    const listed = (await list(alice)).json.conversations.find((c) => c.id === conversation.id);
    assert.deepEqual(res.json.conversation, listed);
  });

  test('non-member gets not found', async () => {
    const hidden = await call(outsider.client, 'GET', `/api/conversations/${conversation.id}`);
    const missing = await call(outsider.client, 'GET', '/api/conversations/987654321');
    assertError(hidden, 404);
    assertError(missing, 404);
    // Existence does not leak: both responses are identical.
    assert.equal(hidden.text, missing.text);
  });

  test('get requires session', async () => {
    assertError(await call(newClient(stack), 'GET', `/api/conversations/${conversation.id}`), 401, 'unauthenticated');
  });
});

// The list may come from a cache; after every kind of write it must show
// what a single read of each conversation shows.
describe('list after writes', () => {
  let me;
  let friend;
  let third;

  before(async () => {
    [me, friend, third] = await registerUsers(stack, 3, 'cached');
  });

  async function assertListMatchesReads(account, label) {
    const res = await list(account, '?limit=100');
    assert.equal(res.status, 200, `${label}: ${res.text}`);
    const order = JSON.parse(await queryValue(
      stack,
      `SELECT coalesce(json_agg(c.id ORDER BY c.updated_at DESC, c.id DESC), '[]')
       FROM conversations c JOIN conversation_members m ON m.conversation_id = c.id
       WHERE m.user_id = ${account.user.id}`,
    ));
    assert.deepEqual(res.json.conversations.map((c) => c.id), order, `${label}: list order`);
    for (const entry of res.json.conversations) {
      const single = await call(account.client, 'GET', `/api/conversations/${entry.id}`);
      assert.equal(single.status, 200);
      assert.deepEqual(entry, single.json.conversation, `${label}: conversation ${entry.id}`);
    }
    return res.json.conversations;
  }

  test('list follows every write', async () => {
    const direct = (await create(me, { member_ids: [friend.user.id] })).json.conversation;
    let entries = await assertListMatchesReads(me, 'after creation');
    assert.deepEqual(entries.map((c) => c.id), [direct.id]);

    const incoming = await sendMessage(friend.client, direct.id, 'first');
    entries = await assertListMatchesReads(me, 'after a message');
    assert.equal(entries[0].unread_count, 1);
    assert.equal(entries[0].last_message.id, incoming.id);

    const second = await sendMessage(friend.client, direct.id, 'second');
    entries = await assertListMatchesReads(me, 'after a second message');
    assert.equal(entries[0].unread_count, 2);
    assert.equal(entries[0].last_message.id, second.id);

    assert.equal((await call(me.client, 'POST', `/api/conversations/${direct.id}/read`, { up_to: second.id })).status, 204);
    entries = await assertListMatchesReads(me, 'after reading');
    assert.equal(entries[0].unread_count, 0);
    assert.equal(entries[0].last_read_message_id, second.id);
    // The sender's list shows the read receipt on the last message.
    const theirs = await assertListMatchesReads(friend, 'sender after reading');
    assert.deepEqual(theirs[0].last_message.seen_by, [me.user.id]);

    const fire = encodeURIComponent('🔥');
    assert.equal((await call(me.client, 'PUT', `/api/messages/${second.id}/reactions/${fire}`)).status, 200);
    entries = await assertListMatchesReads(me, 'after a reaction');
    assert.deepEqual(entries[0].last_message.reactions, { '🔥': 1 });
    assert.deepEqual(entries[0].last_message.my_reactions, ['🔥']);
    const friendView = await assertListMatchesReads(friend, 'other member after a reaction');
    assert.deepEqual(friendView[0].last_message.reactions, { '🔥': 1 });
    assert.deepEqual(friendView[0].last_message.my_reactions, []);

    assert.equal((await call(me.client, 'DELETE', `/api/messages/${second.id}/reactions/${fire}`)).status, 200);
    entries = await assertListMatchesReads(me, 'after removing a reaction');
    assert.deepEqual(entries[0].last_message.reactions, {});

    const group = (await create(third, { member_ids: [me.user.id, friend.user.id], title: 'Joined later' })).json.conversation;
    entries = await assertListMatchesReads(me, 'after being added to a group');
    assert.deepEqual(entries.map((c) => c.id), [group.id, direct.id]);

    const groupMessage = await sendMessage(third.client, group.id, 'welcome');
    await sendMessage(friend.client, direct.id, 'newest');
    entries = await assertListMatchesReads(me, 'after messages in both');
    assert.deepEqual(entries.map((c) => c.id), [direct.id, group.id]);
    assert.equal(entries[1].last_message.id, groupMessage.id);
    assert.equal(entries[1].unread_count, 1);
    assert.equal(entries[0].unread_count, 1);
  });
});
