// Browser tests of the web client against the in-memory fake backend
// (fake-backend.mjs). They need only Chromium and playwright-core, and cover
// the client's own logic: optimistic sending, deduplication, resume, read
// batching, scroll anchoring and the narrow layout.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { createFakeBackend, FAKE_ORIGIN } from './fake-backend.mjs';
import {
  conversationItem, deliveryOf, launchBrowser, logIn, messageBodies, messageRow, screenshot,
  scrollMessagesTo, sendMessage, signUp, startDirectChat, waitUntil, watchErrors,
} from './helpers.mjs';

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

/** Opens a page of the client in a new context attached to `backend`. */
async function openClient(backend, label, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 }, ...options });
  const link = await backend.attach(context);
  const page = await context.newPage();
  const errors = watchErrors(page, label);
  await page.goto(`${FAKE_ORIGIN}/`);
  return { context, page, link, errors };
}

/** Signs up `username` on a new client page. */
async function userClient(backend, username, displayName, options) {
  const client = await openClient(backend, username, options);
  await signUp(client.page, username, 'password123', displayName);
  client.user = backend.users.find((user) => user.username === username);
  return client;
}

describe('client with fake backend', () => {
  test('auth errors shown inline', async () => {
    const backend = createFakeBackend();
    backend.addUser('taken', 'password123', 'Taken');
    const { page, context, errors } = await openClient(backend, 'auth');

    await page.locator('#auth-username').fill('nobody');
    await page.locator('#auth-password').fill('password123');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText('Wrong username or password.').waitFor();

    await page.locator('#auth-username').fill('limited');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText('Too many attempts. Try again in 42 s.').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Log in' }).isDisabled(), true);
    await screenshot(page, 'fake-login-rate-limited');

    await page.getByRole('button', { name: 'Create an account' }).click();
    await page.locator('#auth-username').fill('taken');
    await page.locator('#auth-password').fill('password123');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByText('That username is taken. Pick another one.').waitFor();
    assert.equal(await page.locator('#auth-username').getAttribute('aria-invalid'), 'true');

    await page.locator('#auth-password').fill('short');
    await page.locator('#auth-username').fill('fresh_user');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByText('Passwords have at least 8 characters.').waitFor();
    assert.equal(backend.requestLog.filter((line) => line === 'POST /api/auth/register').length, 1);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('session kept across reload, logout ends it', async () => {
    const backend = createFakeBackend();
    const { page, context } = await userClient(backend, 'alice', 'Alice');
    await page.reload();
    await page.locator('.profile-name', { hasText: 'Alice' }).waitFor();
    assert.ok(backend.requestLog.includes('GET /api/me'));

    await page.getByRole('button', { name: 'Log out' }).click();
    await page.locator('#auth-username').waitFor();
    await page.reload();
    await page.locator('#auth-username').waitFor();
    await logIn(page, 'alice', 'password123');
    await context.close();
  });

  test('two users chat live', async () => {
    const backend = createFakeBackend();
    const alice = await userClient(backend, 'alice', 'Alice Liddell');
    const bob = await userClient(backend, 'bob', 'Bob Builder');

    await startDirectChat(alice.page, 'bob');
    await conversationItem(bob.page, 'Alice Liddell').waitFor();

    await alice.page.locator('#composer-input').pressSequentially('Hel');
    await conversationItem(bob.page, 'Alice Liddell').locator('.item-preview', { hasText: 'typing…' }).waitFor();
    await sendMessage(alice.page, 'Hello Bob');
    await conversationItem(bob.page, 'Alice Liddell').locator('.badge', { hasText: '1' }).waitFor();
    await conversationItem(bob.page, 'Alice Liddell').locator('.item-preview', { hasText: 'Hello Bob' }).waitFor();
    assert.equal(await deliveryOf(alice.page, 'Hello Bob'), 'sent');

    await conversationItem(bob.page, 'Alice Liddell').click();
    await messageRow(bob.page, 'Hello Bob').waitFor();
    await alice.page.locator('.ticks[data-delivery="seen"]').waitFor();
    await conversationItem(bob.page, 'Alice Liddell').locator('.badge').waitFor({ state: 'detached' });
    await bob.page.locator('.chat-subtitle', { hasText: 'online' }).waitFor();

    await sendMessage(bob.page, 'Hi Alice! <b>bold</b>');
    await messageRow(alice.page, 'Hi Alice! <b>bold</b>').waitFor();
    assert.equal(await alice.page.locator('.message-body b').count(), 0);

    const row = messageRow(bob.page, 'Hello Bob');
    await row.hover();
    await row.getByRole('button', { name: 'Add reaction' }).click();
    await bob.page.getByRole('button', { name: 'React with 🔥' }).click();
    await messageRow(alice.page, 'Hello Bob').locator('.reaction', { hasText: '🔥' }).locator('.reaction-count', { hasText: '1' }).waitFor();
    assert.equal(await row.locator('.reaction').getAttribute('aria-pressed'), 'true');
    await screenshot(alice.page, 'fake-chat-alice');
    await screenshot(bob.page, 'fake-chat-bob');

    await row.locator('.reaction').click();
    await messageRow(alice.page, 'Hello Bob').locator('.reaction').waitFor({ state: 'detached' });

    assert.equal(backend.messages.filter((message) => message.body === 'Hello Bob').length, 1);
    assert.deepEqual([...alice.errors, ...bob.errors], []);
    await alice.context.close();
    await bob.context.close();
  });

  test('unread badge updates while elsewhere', async () => {
    const backend = createFakeBackend();
    const carol = backend.addUser('carol', 'password123', 'Carol');
    const alice = await userClient(backend, 'alice', 'Alice');
    const bob = await userClient(backend, 'bob', 'Bob');
    const withAlice = backend.addConversation([alice.user.id, bob.user.id]);
    backend.addConversation([bob.user.id, carol.id]);
    await bob.page.reload();
    await conversationItem(bob.page, 'Carol').click();
    await bob.page.locator('.chat-title', { hasText: 'Carol' }).waitFor();

    backend.sendAs(alice.user.id, withAlice, 'one');
    backend.sendAs(alice.user.id, withAlice, 'two');
    await conversationItem(bob.page, 'Alice').locator('.badge', { hasText: '2' }).waitFor();
    assert.equal(await bob.page.title(), '(2) BlinkChat');
    assert.equal(await bob.page.locator('.chat-title').textContent(), 'Carol');
    await alice.context.close();
    await bob.context.close();
  });

  test('seen only after scrolled into view', async () => {
    const backend = createFakeBackend();
    const alice = await userClient(backend, 'alice', 'Alice');
    const bob = await userClient(backend, 'bob', 'Bob');
    const conversation = backend.addConversation([alice.user.id, bob.user.id]);
    backend.seedMessages(conversation, [alice.user.id, bob.user.id], 60);
    conversation.members.forEach((member) => { member.lastRead = 60; });
    await alice.page.reload();
    await bob.page.reload();
    await conversationItem(alice.page, 'Bob').click();
    await conversationItem(bob.page, 'Alice').click();
    await messageRow(bob.page, 'Seeded message 60').waitFor();

    await scrollMessagesTo(bob.page, 0);
    await bob.page.waitForTimeout(300);
    const before = await bob.page.locator('.messages').evaluate((element) => element.scrollTop);

    await sendMessage(alice.page, 'Look at this');
    await bob.page.locator('.new-messages-button').waitFor();
    const after = await bob.page.locator('.messages').evaluate((element) => element.scrollTop);
    assert.ok(Math.abs(after - before) < 2, `view stayed put (${before} -> ${after})`);
    await alice.page.waitForTimeout(800);
    assert.equal(await deliveryOf(alice.page, 'Look at this'), 'sent');
    const newId = backend.messages.find((message) => message.body === 'Look at this').id;
    assert.ok(!backend.readRequests.some((request) => request.upTo >= newId), 'no read cursor past the unseen message');
    await screenshot(bob.page, 'fake-new-messages-button');

    const readsBefore = backend.readRequests.length;
    await bob.page.locator('.new-messages-button').click();
    await waitUntil(() => deliveryOf(alice.page, 'Look at this'), (state) => state === 'seen');
    assert.equal(await deliveryOf(alice.page, 'Look at this'), 'seen');
    assert.ok(backend.readRequests.length - readsBefore <= 2, 'read cursor sent per batch');
    await alice.context.close();
    await bob.context.close();
  });

  test('history scroll without jump or duplicate', async () => {
    const backend = createFakeBackend();
    const alice = await userClient(backend, 'alice', 'Alice');
    const bob = backend.addUser('bob', 'password123', 'Bob');
    const conversation = backend.addConversation([alice.user.id, bob.id]);
    backend.seedMessages(conversation, [bob.id, alice.user.id], 200);
    await alice.page.reload();
    await conversationItem(alice.page, 'Bob').click();
    await messageRow(alice.page, 'Seeded message 200').waitFor();

    const { page } = alice;
    for (let round = 0; round < 12; round += 1) {
      const count = await page.locator('.message-row').count();
      if (count >= 200) break;
      await scrollMessagesTo(page, 0);
      const anchorText = await page.locator('.message-row .message-body').first().textContent();
      const topBefore = await messageRow(page, anchorText).evaluate((element) => element.getBoundingClientRect().top);
      const loaded = await waitUntil(() => page.locator('.message-row').count(), (value) => value > count, { timeoutMs: 15000 });
      assert.ok(loaded > count, `an older page loaded after ${count} rows`);
      const topAfter = await messageRow(page, anchorText).evaluate((element) => element.getBoundingClientRect().top);
      assert.ok(Math.abs(topAfter - topBefore) < 2, `row "${anchorText}" stayed at ${topBefore}px, now ${topAfter}px`);
    }
    await page.locator('.history-status', { hasText: 'beginning of the conversation' }).waitFor();
    const bodies = await messageBodies(page);
    assert.equal(bodies.length, 200);
    assert.deepEqual(bodies, Array.from({ length: 200 }, (unused, index) => `Seeded message ${index + 1}`));
    await screenshot(page, 'fake-history-top');
    await alice.context.close();
  });

  test('send while socket cut', async () => {
    const backend = createFakeBackend();
    const alice = await userClient(backend, 'alice', 'Alice');
    const bob = await userClient(backend, 'bob', 'Bob');
    backend.addConversation([alice.user.id, bob.user.id]);
    await alice.page.reload();
    await bob.page.reload();
    await conversationItem(alice.page, 'Bob').click();
    await conversationItem(bob.page, 'Alice').click();
    await alice.page.locator('.history-status', { hasText: 'No messages yet' }).waitFor();

    alice.link.cutSockets({ block: true });
    await alice.page.locator('#connection:not([hidden])').waitFor();
    await sendMessage(alice.page, 'sent over REST');
    await waitUntil(() => deliveryOf(alice.page, 'sent over REST'), (state) => state === 'sent');
    await messageRow(bob.page, 'sent over REST').waitFor();

    backend.failNextSends = 1;
    await sendMessage(alice.page, 'first try fails');
    await messageRow(alice.page, 'first try fails').locator('.failed-bar').waitFor();
    assert.equal(await deliveryOf(alice.page, 'first try fails'), 'failed');
    await screenshot(alice.page, 'fake-send-failed');
    await messageRow(alice.page, 'first try fails').getByRole('button', { name: 'Retry' }).click();
    await waitUntil(() => deliveryOf(alice.page, 'first try fails'), (state) => state === 'sent');
    await messageRow(bob.page, 'first try fails').waitFor();

    backend.loseNextReplies = 1;
    await sendMessage(alice.page, 'reply lost');
    await messageRow(alice.page, 'reply lost').locator('.failed-bar').waitFor();
    await messageRow(alice.page, 'reply lost').getByRole('button', { name: 'Retry' }).click();
    await waitUntil(() => deliveryOf(alice.page, 'reply lost'), (state) => state === 'sent');

    backend.failNextSends = 1;
    await sendMessage(alice.page, 'thrown away');
    await messageRow(alice.page, 'thrown away').getByRole('button', { name: 'Discard' }).click();
    await messageRow(alice.page, 'thrown away').waitFor({ state: 'detached' });

    alice.link.unblockSockets();
    await alice.page.locator('#connection').waitFor({ state: 'hidden', timeout: 10000 });
    await alice.page.waitForTimeout(300);
    for (const text of ['sent over REST', 'first try fails', 'reply lost']) {
      assert.equal(backend.messages.filter((message) => message.body === text).length, 1, `${text} stored once`);
      assert.equal(await messageRow(alice.page, text).count(), 1, `${text} shown once to the sender`);
      assert.equal(await messageRow(bob.page, text).count(), 1, `${text} shown once to the reader`);
    }
    await alice.context.close();
    await bob.context.close();
  });

  test('reconnect resumes from last event', async () => {
    const backend = createFakeBackend();
    const alice = await userClient(backend, 'alice', 'Alice');
    const bob = await userClient(backend, 'bob', 'Bob');
    const conversation = backend.addConversation([alice.user.id, bob.user.id]);
    await bob.page.reload();
    await conversationItem(bob.page, 'Alice').click();
    await bob.page.locator('.history-status', { hasText: 'No messages yet' }).waitFor();

    backend.sendAs(alice.user.id, conversation, 'before the cut');
    await messageRow(bob.page, 'before the cut').waitFor();
    const [socket] = [...bob.link.sockets];
    const lastSeenId = socket.frames.filter((frame) => frame.event_id).at(-1).event_id;

    bob.link.cutSockets({ block: true });
    backend.sendAs(alice.user.id, conversation, 'during the cut 1');
    backend.sendAs(alice.user.id, conversation, 'during the cut 2');
    await bob.page.waitForTimeout(300);
    bob.link.unblockSockets();

    await messageRow(bob.page, 'during the cut 2').waitFor({ timeout: 10000 });
    const [resumed] = [...bob.link.sockets];
    assert.deepEqual(resumed.received[0], { type: 'resume', last_event_id: lastSeenId });
    assert.deepEqual(await messageBodies(bob.page), ['before the cut', 'during the cut 1', 'during the cut 2']);
    await alice.context.close();
    await bob.context.close();
  });

  test('resync_required reloads over REST', async () => {
    const backend = createFakeBackend();
    const alice = await userClient(backend, 'alice', 'Alice');
    const bob = backend.addUser('bob', 'password123', 'Bob');
    const conversation = backend.addConversation([alice.user.id, bob.id]);
    await alice.page.reload();
    await conversationItem(alice.page, 'Bob').click();
    await alice.page.locator('.history-status', { hasText: 'No messages yet' }).waitFor();

    backend.seedMessages(conversation, [bob.id], 1);
    const listCalls = backend.requestLog.filter((line) => line === 'GET /api/conversations').length;
    backend.sendFrame(alice.user.id, { type: 'resync_required' });
    await messageRow(alice.page, 'Seeded message 1').waitFor();
    assert.ok(backend.requestLog.filter((line) => line === 'GET /api/conversations').length > listCalls);
    await alice.context.close();
  });

  test('conversation list pages on scroll', async () => {
    const backend = createFakeBackend();
    const alice = await userClient(backend, 'alice', 'Alice');
    for (let index = 1; index <= 45; index += 1) {
      const friend = backend.addUser(`friend${index}`, 'password123', `Friend ${String(index).padStart(2, '0')}`);
      backend.addConversation([alice.user.id, friend.id]);
    }
    await alice.page.reload();
    await conversationItem(alice.page, 'Friend 45').waitFor();
    await alice.page.locator('.sidebar-scroll').evaluate((element) => {
      element.scrollTop = element.scrollHeight;
    });
    await conversationItem(alice.page, 'Friend 01').waitFor();
    const names = await alice.page.locator('.conversation-item .item-name').allTextContents();
    assert.equal(names.length, 45);
    assert.equal(new Set(names).size, 45);
    assert.equal(names[0], 'Friend 45');
    const meIndex = backend.requestLog.lastIndexOf('GET /api/me');
    const pageLoads = backend.requestLog.slice(meIndex).filter((line) => line === 'GET /api/conversations');
    assert.equal(pageLoads.length, 2, 'one request per page after the reload');
    await alice.context.close();
  });

  test('image message shows thumbnail', async () => {
    const backend = createFakeBackend();
    const alice = await userClient(backend, 'alice', 'Alice');
    const bob = backend.addUser('bob', 'password123', 'Bob');
    const conversation = backend.addConversation([alice.user.id, bob.id]);
    const pixel = 'data:image/gif;base64,R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==';
    backend.sendAs(bob.id, conversation, 'Look', { id: 9, url: pixel, thumb_url: pixel, width: 640, height: 480 });
    backend.sendAs(bob.id, conversation, null, { id: 10, url: pixel, thumb_url: pixel, width: 300, height: 600 });
    await alice.page.reload();
    await conversationItem(alice.page, 'Bob').locator('.item-preview', { hasText: '📷 Photo' }).waitFor();
    await conversationItem(alice.page, 'Bob').click();
    const images = alice.page.locator('.message-image img');
    await images.nth(1).waitFor();
    assert.equal(await images.count(), 2);
    assert.equal(await images.first().getAttribute('src'), pixel);
    assert.equal(await images.first().getAttribute('width'), '640');
    assert.deepEqual(alice.errors, []);
    await screenshot(alice.page, 'fake-images');
    await alice.context.close();
  });

  test('typing shown then expires', async () => {
    const backend = createFakeBackend();
    const alice = await userClient(backend, 'alice', 'Alice');
    const bob = backend.addUser('bob', 'password123', 'Bob');
    const conversation = backend.addConversation([alice.user.id, bob.id]);
    await alice.page.reload();
    await conversationItem(alice.page, 'Bob').click();
    backend.typingAs(bob.id, conversation, true);
    await alice.page.locator('.typing-line', { hasText: 'Bob is typing…' }).waitFor();
    await alice.page.locator('.chat-subtitle', { hasText: 'typing…' }).waitFor();
    await alice.page.locator('.typing-line', { hasText: 'typing' }).waitFor({ state: 'detached', timeout: 9000 });
    await alice.context.close();
  });

  test('narrow screen uses two screens', async () => {
    const backend = createFakeBackend();
    const alice = await userClient(backend, 'alice', 'Alice', { viewport: { width: 360, height: 740 }, colorScheme: 'dark' });
    const bob = backend.addUser('bob', 'password123', 'Bob');
    const conversation = backend.addConversation([alice.user.id, bob.id]);
    backend.seedMessages(conversation, [bob.id, alice.user.id], 12);
    await alice.page.reload();
    const { page } = alice;
    await conversationItem(page, 'Bob').waitFor();
    assert.equal(await page.locator('#chat').isVisible(), false);
    await screenshot(page, 'fake-narrow-list-dark');

    await conversationItem(page, 'Bob').click();
    await messageRow(page, 'Seeded message 12').waitFor();
    assert.equal(await page.locator('#sidebar').isVisible(), false);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal overflow (${overflow}px)`);
    await screenshot(page, 'fake-narrow-chat-dark');

    await page.getByRole('button', { name: 'Back to conversations' }).click();
    await conversationItem(page, 'Bob').waitFor();
    assert.equal(await page.locator('#chat').isVisible(), false);
    await alice.context.close();
  });
});
