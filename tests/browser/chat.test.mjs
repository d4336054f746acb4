// End-to-end browser tests: two people in two browser contexts use the web
// client against the real stack (PostgreSQL, Redis, the API behind lighttpd
// and the push daemon), started on loopback ports by tests/lib/stack.mjs.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  conversationItem, deliveryOf, launchBrowser, messageBodies, messageRow, screenshot,
  scrollMessagesTo, sendMessage, signUp, startDirectChat, waitUntil, watchErrors,
} from './helpers.mjs';

const PASSWORD = 'correct horse battery';

let startStack = null;
let stackProblem = null;
let stack = null;
let browser = null;

try {
  ({ startStack } = await import('../lib/stack.mjs'));
} catch (error) {
  stackProblem = `tests/lib/stack.mjs could not be loaded: ${error.message}`;
}

before(async () => {
  if (!startStack) return;
  stack = await startStack();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stack?.stop?.();
});

/** Returns the first value of a psql result, whatever shape the harness gives. */
function firstValue(result) {
  if (typeof result === 'string') return result.trim().split('\n')[0].split('|')[0].trim();
  if (Array.isArray(result)) {
    const row = result[0];
    return Array.isArray(row) ? row[0] : Object.values(row)[0];
  }
  if (result?.rows) return firstValue(result.rows);
  if (typeof result?.stdout === 'string') return firstValue(result.stdout);
  throw new Error(`Unexpected psql result: ${JSON.stringify(result)}`);
}

/**
 * Creates a browser context with a WebSocket proxy that the test can cut:
 * cutSocket() closes the page's socket, and while `blocked` is set new
 * sockets are closed at once.
 */
async function newClient(label, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 }, ...options });
  const link = { blocked: false, open: new Set() };
  await context.routeWebSocket(/\/ws$/, (ws) => {
    if (link.blocked) {
      ws.close({ code: 1006, reason: 'blocked by the test' });
      return;
    }
    const server = ws.connectToServer();
    const pair = { ws, server };
    link.open.add(pair);
    ws.onClose(() => {
      link.open.delete(pair);
      server.close();
    });
    server.onClose(() => {
      link.open.delete(pair);
      ws.close();
    });
  });
  link.cutSocket = ({ block = false } = {}) => {
    link.blocked = block;
    for (const pair of [...link.open]) {
      link.open.delete(pair);
      pair.server.close();
      pair.ws.close({ code: 1006, reason: 'cut by the test' });
    }
  };
  const page = await context.newPage();
  const errors = watchErrors(page, label);
  await page.goto(`${stack.baseUrl}/`);
  return { context, page, link, errors };
}

let userCounter = 0;

/** Signs up a fresh user on a new client; the name is unique per run. */
async function newUser(label, displayName, options) {
  userCounter += 1;
  const username = `${label}_${process.pid}_${userCounter}`.toLowerCase();
  const client = await newClient(label, options);
  await signUp(client.page, username, PASSWORD, displayName);
  client.username = username;
  client.displayName = displayName;
  client.user = (await client.page.evaluate(() => fetch('/api/me').then((response) => response.json()))).user;
  return client;
}

/** Returns the id of the conversation open in `page`, from its "#/c/ID" address. */
async function openConversationId(page) {
  const hash = await page.evaluate(() => location.hash);
  return Number(/^#\/c\/(\d+)$/.exec(hash)[1]);
}

/** Starts a direct chat from `from` to `to` and waits until `to` lists it. */
async function connect(from, to) {
  await startDirectChat(from.page, to.username);
  await conversationItem(to.page, from.displayName).waitFor();
  return openConversationId(from.page);
}

describe('web client on the real stack', { skip: stackProblem || false }, () => {
  test('sign up, reload, log out, log in', async () => {
    const alice = await newUser('alice', 'Alice Liddell');
    await screenshot(alice.page, 'stack-empty-list');
    await alice.page.reload();
    await alice.page.locator('.profile-name', { hasText: 'Alice Liddell' }).waitFor();

    await alice.page.getByRole('button', { name: 'Log out' }).click();
    await alice.page.locator('#auth-username').waitFor();
    await alice.page.reload();
    await alice.page.locator('#auth-username').waitFor();

    await alice.page.locator('#auth-username').fill(alice.username);
    await alice.page.locator('#auth-password').fill('wrong password!');
    await alice.page.getByRole('button', { name: 'Log in' }).click();
    await alice.page.getByText('Wrong username or password.').waitFor();
    await screenshot(alice.page, 'stack-login-error');

    await alice.page.getByRole('button', { name: 'Create an account' }).click();
    await alice.page.locator('#auth-username').fill(alice.username);
    await alice.page.locator('#auth-password').fill(PASSWORD);
    await alice.page.getByRole('button', { name: 'Create account' }).click();
    await alice.page.getByText('That username is taken. Pick another one.').waitFor();

    await alice.page.getByRole('button', { name: 'Log in' }).click();
    await alice.page.locator('#auth-password').fill(PASSWORD);
    await alice.page.getByRole('button', { name: 'Log in' }).click();
    await alice.page.locator('.profile-name', { hasText: 'Alice Liddell' }).waitFor();
    assert.deepEqual(alice.errors, []);
    await alice.context.close();
  });

  test('two users chat live', async () => {
    const alice = await newUser('alice', 'Alice Liddell');
    const bob = await newUser('bob', 'Bob Builder');
    await connect(alice, bob);

    await alice.page.locator('#composer-input').pressSequentially('Hel');
    await conversationItem(bob.page, 'Alice Liddell').locator('.item-preview', { hasText: 'typing…' }).waitFor();
    await screenshot(bob.page, 'stack-list-typing');

    await sendMessage(alice.page, 'Hello Bob');
    await conversationItem(bob.page, 'Alice Liddell').locator('.badge', { hasText: '1' }).waitFor();
    // Bob's socket can get the message before Alice's page has handled the
    // POST response or its own socket's echo.
    await waitUntil(() => deliveryOf(alice.page, 'Hello Bob'), (state) => state === 'sent', { timeoutMs: 5000 });
    assert.equal(await deliveryOf(alice.page, 'Hello Bob'), 'sent');

    await conversationItem(bob.page, 'Alice Liddell').click();
    await messageRow(bob.page, 'Hello Bob').waitFor();
    await waitUntil(() => deliveryOf(alice.page, 'Hello Bob'), (state) => state === 'seen', { timeoutMs: 5000 });
    assert.equal(await deliveryOf(alice.page, 'Hello Bob'), 'seen');
    await bob.page.locator('.chat-subtitle', { hasText: 'online' }).waitFor();

    await bob.page.locator('#composer-input').pressSequentially('Hi');
    await alice.page.locator('.typing-line', { hasText: 'Bob Builder is typing…' }).waitFor();
    await screenshot(alice.page, 'stack-chat-typing');
    await sendMessage(bob.page, 'Hi Alice! <img src=x onerror="window.injected=1">');
    await messageRow(alice.page, 'Hi Alice! <img src=x onerror="window.injected=1">').waitFor();
    await alice.page.locator('.typing-line', { hasText: 'typing' }).waitFor({ state: 'detached' });
    assert.equal(await alice.page.evaluate(() => window.injected), undefined);
    assert.equal(await alice.page.locator('.message-body img').count(), 0);

    const row = messageRow(bob.page, 'Hello Bob');
    await row.hover();
    await row.getByRole('button', { name: 'Add reaction' }).click();
    await bob.page.getByRole('button', { name: 'React with 🔥' }).click();
    const aliceReaction = messageRow(alice.page, 'Hello Bob').locator('.reaction', { hasText: '🔥' });
    await aliceReaction.locator('.reaction-count', { hasText: '1' }).waitFor();
    await aliceReaction.click();
    await aliceReaction.locator('.reaction-count', { hasText: '2' }).waitFor();
    await row.locator('.reaction .reaction-count', { hasText: '2' }).waitFor();
    await screenshot(alice.page, 'stack-chat-alice');
    await screenshot(bob.page, 'stack-chat-bob');

    await row.locator('.reaction').click();
    await aliceReaction.locator('.reaction-count', { hasText: '1' }).waitFor();

    assert.equal(await messageRow(alice.page, 'Hello Bob').count(), 1);
    assert.equal(await messageRow(bob.page, 'Hello Bob').count(), 1);
    assert.deepEqual([...alice.errors, ...bob.errors], []);
    await alice.context.close();
    await bob.context.close();
  });

  test('unread badge while elsewhere', async () => {
    const alice = await newUser('alice', 'Alice Liddell');
    const bob = await newUser('bob', 'Bob Builder');
    const carol = await newUser('carol', 'Carol Danvers');
    await connect(alice, bob);
    await connect(carol, bob);

    await conversationItem(bob.page, 'Carol Danvers').click();
    await bob.page.locator('.chat-title', { hasText: 'Carol Danvers' }).waitFor();
    await sendMessage(alice.page, 'ping one');
    await sendMessage(alice.page, 'ping two');
    await conversationItem(bob.page, 'Alice Liddell').locator('.badge', { hasText: '2' }).waitFor();
    assert.equal(await bob.page.locator('.chat-title').textContent(), 'Carol Danvers');
    assert.equal(await conversationItem(bob.page, 'Alice Liddell').locator('.item-preview').textContent(), 'ping two');
    const names = await bob.page.locator('.conversation-item .item-name').allTextContents();
    assert.deepEqual(names.slice(0, 2), ['Alice Liddell', 'Carol Danvers']);
    await screenshot(bob.page, 'stack-unread-badge');
    await Promise.all([alice, bob, carol].map((client) => client.context.close()));
  });

  test('seen only after scrolled into view', async () => {
    const alice = await newUser('alice', 'Alice Liddell');
    const bob = await newUser('bob', 'Bob Builder');
    const conversationId = await connect(alice, bob);
    await stack.psql(`SELECT post_message(${conversationId}, ${alice.user.id}, gen_random_uuid(), 'Filler ' || g, NULL)
                      FROM generate_series(1, 60) AS g`);
    await conversationItem(bob.page, 'Alice Liddell').click();
    await messageRow(bob.page, 'Filler 60').waitFor();

    await scrollMessagesTo(bob.page, 0);
    await bob.page.waitForTimeout(500);
    const before = await bob.page.locator('.messages').evaluate((element) => element.scrollTop);
    await sendMessage(alice.page, 'Look at this');
    await bob.page.locator('.new-messages-button').waitFor();
    const after = await bob.page.locator('.messages').evaluate((element) => element.scrollTop);
    assert.ok(Math.abs(after - before) < 2, `view stayed put (${before} -> ${after})`);

    await alice.page.waitForTimeout(1500);
    assert.equal(await deliveryOf(alice.page, 'Look at this'), 'sent');
    await screenshot(bob.page, 'stack-new-messages-button');

    await bob.page.locator('.new-messages-button').click();
    await waitUntil(() => deliveryOf(alice.page, 'Look at this'), (state) => state === 'seen', { timeoutMs: 5000 });
    assert.equal(await deliveryOf(alice.page, 'Look at this'), 'seen');
    await screenshot(alice.page, 'stack-seen');
    await alice.context.close();
    await bob.context.close();
  });

  test('history scroll through 200 messages', async () => {
    const alice = await newUser('alice', 'Alice Liddell');
    const bob = await newUser('bob', 'Bob Builder');
    const conversationId = await connect(alice, bob);
    // One statement, so many rows share nearly the same created_at.
    await stack.psql(`SELECT post_message(${conversationId},
                        CASE WHEN g % 2 = 0 THEN ${alice.user.id} ELSE ${bob.user.id} END,
                        gen_random_uuid(), 'History ' || g, NULL)
                      FROM generate_series(1, 200) AS g;
                      NOTIFY blinkchat_outbox`);
    const { page } = bob;
    // Once the list shows the last one live, the daemon has delivered the
    // seeded events, so the reloaded page's hello comes after them and
    // none of them arrives live while the test scrolls.
    await conversationItem(page, 'Alice Liddell').filter({ hasText: 'History 200' }).waitFor();
    await page.reload();
    await conversationItem(page, 'Alice Liddell').click();
    await messageRow(page, 'History 200').waitFor();

    // The loop scrolls up until the history shows that it is complete,
    // rather than counting pages.
    const beginning = page.locator('.history-status', { hasText: 'beginning of the conversation' });
    for (let round = 0; round < 20 && !(await beginning.isVisible()); round += 1) {
      const count = await page.locator('.message-row').count();
      await scrollMessagesTo(page, 0);
      const anchorText = await page.locator('.message-row .message-body').first().textContent();
      const topBefore = await messageRow(page, anchorText).evaluate((element) => element.getBoundingClientRect().top);
      await waitUntil(
        async () => (await page.locator('.message-row').count()) > count || (await beginning.isVisible()),
        (done) => done,
        { timeoutMs: 15000 },
      );
      const topAfter = await messageRow(page, anchorText).evaluate((element) => element.getBoundingClientRect().top);
      assert.ok(Math.abs(topAfter - topBefore) < 2, `row "${anchorText}" stayed at ${topBefore}px, now ${topAfter}px`);
    }
    await page.locator('.history-status', { hasText: 'beginning of the conversation' }).waitFor();
    const bodies = await messageBodies(page);
    assert.equal(new Set(bodies).size, bodies.length, 'no message shown twice');
    assert.deepEqual(bodies, Array.from({ length: 200 }, (unused, index) => `History ${index + 1}`));
    await screenshot(page, 'stack-history-top');
    await alice.context.close();
    await bob.context.close();
  });

  test('scrolled-up view survives a resize', async () => {
    const alice = await newUser('alice', 'Alice Liddell');
    const bob = await newUser('bob', 'Bob Builder');
    const conversationId = await connect(alice, bob);
    await stack.psql(`SELECT post_message(${conversationId}, ${alice.user.id}, gen_random_uuid(),
                        'Resize ' || g, NULL)
                      FROM generate_series(1, 30) AS g;
                      NOTIFY blinkchat_outbox`);
    const { page } = bob;
    await conversationItem(page, 'Alice Liddell').click();
    await messageRow(page, 'Resize 30').waitFor();
    await page.waitForTimeout(300);

    // The last render left the view at the bottom; the user then scrolls
    // up, and the window gets shorter.
    const bottom = await page.locator('.messages').evaluate((element) => element.scrollHeight - element.clientHeight);
    assert.ok(bottom > 300, `the 30 messages overflow the view (${bottom}px to scroll)`);
    await scrollMessagesTo(page, bottom - 200);
    await page.waitForTimeout(300);
    await page.setViewportSize({ width: 1100, height: 660 });
    await page.waitForTimeout(300);
    const top = await page.locator('.messages').evaluate((element) => element.scrollTop);
    assert.ok(Math.abs(top - (bottom - 200)) < 2, `the view stayed at ${bottom - 200}px, now ${top}px`);
    await alice.context.close();
    await bob.context.close();
  });

  test('send with the socket cut', async () => {
    const alice = await newUser('alice', 'Alice Liddell');
    const bob = await newUser('bob', 'Bob Builder');
    const conversationId = await connect(alice, bob);
    await conversationItem(bob.page, 'Alice Liddell').click();

    alice.link.cutSocket({ block: true });
    await alice.page.locator('#connection:not([hidden])').waitFor();
    await sendMessage(alice.page, 'sent without a socket');
    await waitUntil(() => deliveryOf(alice.page, 'sent without a socket'), (state) => state === 'sent');
    assert.equal(await deliveryOf(alice.page, 'sent without a socket'), 'sent');
    await messageRow(bob.page, 'sent without a socket').waitFor();

    bob.link.cutSocket({ block: true });
    await sendMessage(alice.page, 'sent while the reader is away');
    await alice.page.waitForTimeout(500);
    bob.link.blocked = false;
    await messageRow(bob.page, 'sent while the reader is away').waitFor({ timeout: 40000 });

    await alice.context.setOffline(true);
    await sendMessage(alice.page, 'sent offline');
    await messageRow(alice.page, 'sent offline').locator('.failed-bar').waitFor({ timeout: 20000 });
    await screenshot(alice.page, 'stack-send-failed');
    await alice.context.setOffline(false);
    alice.link.blocked = false;
    await messageRow(alice.page, 'sent offline').getByRole('button', { name: 'Retry' }).click();
    await waitUntil(() => deliveryOf(alice.page, 'sent offline'), (state) => state === 'sent' || state === 'seen');
    await messageRow(bob.page, 'sent offline').waitFor();
    await alice.page.locator('#connection').waitFor({ state: 'hidden', timeout: 40000 });

    for (const text of ['sent without a socket', 'sent while the reader is away', 'sent offline']) {
      const stored = await stack.psql(`SELECT count(*) FROM messages WHERE conversation_id = ${conversationId} AND body = '${text}'`);
      assert.equal(Number(firstValue(stored)), 1, `"${text}" stored once`);
      assert.equal(await messageRow(alice.page, text).count(), 1, `"${text}" shown once to the sender`);
      assert.equal(await messageRow(bob.page, text).count(), 1, `"${text}" shown once to the reader`);
    }
    await alice.context.close();
    await bob.context.close();
  });

  test('reload keeps session and chat', async () => {
    const alice = await newUser('alice', 'Alice Liddell');
    const bob = await newUser('bob', 'Bob Builder');
    await connect(alice, bob);
    await sendMessage(alice.page, 'still here after reload');
    await messageRow(alice.page, 'still here after reload').waitFor();
    await alice.page.reload();
    await messageRow(alice.page, 'still here after reload').waitFor();
    assert.equal(await messageRow(alice.page, 'still here after reload').count(), 1);
    await alice.context.close();
    await bob.context.close();
  });

  test('narrow screen two screens', async () => {
    const alice = await newUser('alice', 'Alice Liddell', { viewport: { width: 360, height: 740 }, colorScheme: 'dark' });
    const bob = await newUser('bob', 'Bob Builder');
    await startDirectChat(alice.page, bob.username);
    await sendMessage(alice.page, 'Hello from a phone');
    await messageRow(alice.page, 'Hello from a phone').waitFor();
    assert.equal(await alice.page.locator('#sidebar').isVisible(), false);
    await screenshot(alice.page, 'stack-narrow-chat-dark');

    await alice.page.getByRole('button', { name: 'Back to conversations' }).click();
    await conversationItem(alice.page, 'Bob Builder').waitFor();
    assert.equal(await alice.page.locator('#chat').isVisible(), false);
    await screenshot(alice.page, 'stack-narrow-list-dark');
    await alice.context.close();
    await bob.context.close();
  });
});
