// Image sharing in the web client, end to end: two people in two browser
// contexts against the real stack (PostgreSQL, Redis, the API behind
// lighttpd and the push daemon) started on loopback ports by
// tests/lib/stack.mjs. Failures the real stack cannot produce on demand (a
// 502 from the image store, a lost message request) are injected by
// fulfilling or aborting single requests in the browser.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { deflateSync } from 'node:zlib';

import {
  conversationItem, launchBrowser, messageRow, screenshot, signUp, startDirectChat, waitUntil, watchErrors,
} from './helpers.mjs';

const PASSWORD = 'correct horse battery';
const PNG_WIDTH = 600;
const PNG_HEIGHT = 360;
const SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><circle cx="20" cy="20" r="18" fill="red"/></svg>';

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

// ---- PNG files ------------------------------------------------------------------

const CRC_TABLE = Array.from({ length: 256 }, (unused, n) => {
  let c = n;
  for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const byte of bytes) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typed = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed));
  return Buffer.concat([length, typed, crc]);
}

/**
 * Returns an 8-bit RGB PNG of width by height: a diagonal gradient with a
 * white band, or with `noise`, seeded random pixels that barely compress,
 * for an upload large enough to show progress.
 */
function makePng(width, height, { noise = false } = {}) {
  const rows = Buffer.alloc((width * 3 + 1) * height);
  let seed = 12345;
  for (let y = 0; y < height; y += 1) {
    const row = y * (width * 3 + 1);
    rows[row] = 0; // filter type None
    for (let x = 0; x < width; x += 1) {
      const at = row + 1 + x * 3;
      if (noise) {
        for (let channel = 0; channel < 3; channel += 1) {
          seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
          rows[at + channel] = seed >>> 24;
        }
      } else {
        const band = Math.abs(y - height / 2) < height / 20;
        rows[at] = band ? 255 : Math.round((255 * x) / width);
        rows[at + 1] = band ? 255 : Math.round((160 * y) / height);
        rows[at + 2] = band ? 255 : 200;
      }
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // colour type RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', header),
    pngChunk('IDAT', deflateSync(rows)),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

// ---- clients ----------------------------------------------------------------------

async function newClient(label) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  const page = await context.newPage();
  const errors = watchErrors(page, label);
  await page.goto(`${stack.baseUrl}/`);
  return { context, page, errors };
}

let userCounter = 0;

/** Signs up a fresh user on a new client; the name is unique per run. */
async function newUser(label, displayName) {
  userCounter += 1;
  const username = `${label}_${process.pid}_${userCounter}`.toLowerCase();
  const client = await newClient(label);
  await signUp(client.page, username, PASSWORD, displayName);
  client.username = username;
  client.displayName = displayName;
  return client;
}

/** Starts a direct chat from `from` to `to`, opens it on both sides and returns its id. */
async function connect(from, to) {
  await startDirectChat(from.page, to.username);
  const hash = await from.page.evaluate(() => location.hash);
  await conversationItem(to.page, from.displayName).click();
  await to.page.locator('.chat-title', { hasText: from.displayName }).waitFor();
  return Number(/^#\/c\/(\d+)$/.exec(hash)[1]);
}

/** Attaches a file through the attach button and the browser's file chooser. */
async function attachWithButton(page, file) {
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Attach image' }).click();
  await (await chooser).setFiles(file);
}

/** Records the JSON bodies of the page's POST .../messages requests. */
function recordMessagePosts(page) {
  const posts = [];
  page.on('request', (request) => {
    if (request.method() === 'POST' && /\/api\/conversations\/\d+\/messages$/.test(new URL(request.url()).pathname)) {
      posts.push(request.postDataJSON());
    }
  });
  return posts;
}

/** Returns the message row whose image is followed by the caption `text`. */
function imageRow(page, text) {
  return messageRow(page, text).filter({ has: page.locator('.message-image') });
}

/** Waits until the image in `row` has loaded and returns its sizes. */
async function loadedImage(row) {
  const image = row.locator('.message-image img');
  await image.waitFor();
  await waitUntil(() => image.evaluate((element) => element.complete && element.naturalWidth > 0), Boolean, { timeoutMs: 10000 });
  return image.evaluate((element) => ({
    src: element.getAttribute('src'),
    naturalWidth: element.naturalWidth,
    naturalHeight: element.naturalHeight,
    widthAttribute: Number(element.getAttribute('width')),
    heightAttribute: Number(element.getAttribute('height')),
    box: element.getBoundingClientRect().toJSON(),
  }));
}

async function countRows(sql) {
  return Number(await stack.psql(sql));
}

function assertRatio(actual, expected, label) {
  assert.ok(Math.abs(actual - expected) / expected < 0.02, `${label}: ratio ${actual.toFixed(4)}, expected ${expected.toFixed(4)}`);
}

const png = () => ({ name: 'pier.png', mimeType: 'image/png', buffer: makePng(PNG_WIDTH, PNG_HEIGHT) });

describe('image sharing on the real stack', { skip: stackProblem || false }, () => {
  test('image with caption arrives live', async () => {
    const alice = await newUser('alice', 'Alice Liddell');
    const bob = await newUser('bob', 'Bob Builder');
    const conversationId = await connect(alice, bob);
    const posts = recordMessagePosts(alice.page);

    // Holds Bob's thumbnail for a moment, to measure the row before it loads.
    let releaseThumb;
    const thumbHeld = new Promise((resolve) => {
      releaseThumb = resolve;
    });
    await bob.page.route('**/media/**', async (route) => {
      if (route.request().url().includes('-thumb.')) await thumbHeld;
      await route.continue();
    });

    // The attach button is the control just before the message box.
    await alice.page.locator('#composer-input').focus();
    await alice.page.keyboard.press('Shift+Tab');
    assert.equal(await alice.page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Attach image');

    await attachWithButton(alice.page, png());
    const preview = alice.page.locator('.attachment-preview');
    await preview.locator('.attachment-status', { hasText: 'Ready to send' }).waitFor();
    assert.match(await preview.locator('.attachment-name').textContent(), /^pier\.png · \d+ KB$/);
    assert.equal(await alice.page.locator('#composer-input').evaluate((element) => element === document.activeElement), true);
    await screenshot(alice.page, 'images-preview');

    await alice.page.locator('#composer-input').fill('Sunset at the pier');
    await alice.page.locator('#composer-input').press('Enter');
    await preview.waitFor({ state: 'hidden' });

    // Bob's row arrives over the socket with its box already sized.
    const bobRow = imageRow(bob.page, 'Sunset at the pier');
    await bobRow.waitFor();
    const image = bobRow.locator('.message-image img');
    const boxBefore = await image.evaluate((element) => ({ ...element.getBoundingClientRect().toJSON(), complete: element.complete }));
    const rowHeightBefore = await bobRow.evaluate((element) => element.getBoundingClientRect().height);
    releaseThumb();
    const thumb = await loadedImage(bobRow);
    const rowHeightAfter = await bobRow.evaluate((element) => element.getBoundingClientRect().height);

    assert.equal(boxBefore.complete, false, 'the thumbnail was still loading at the first measurement');
    assert.ok(Math.abs(rowHeightAfter - rowHeightBefore) < 1, `row height stayed ${rowHeightBefore}px, now ${rowHeightAfter}px`);
    assert.ok(Math.abs(thumb.box.height - boxBefore.height) < 1, 'image box kept its height');
    // The server re-encodes an opaque image as JPEG.
    assert.match(thumb.src, /^\/media\/.+-thumb\.(?:jpg|png)$/);
    assert.equal(thumb.widthAttribute, PNG_WIDTH);
    assert.equal(thumb.heightAttribute, PNG_HEIGHT);
    assertRatio(thumb.naturalWidth / thumb.naturalHeight, PNG_WIDTH / PNG_HEIGHT, 'thumbnail natural size');
    assertRatio(thumb.box.width / thumb.box.height, PNG_WIDTH / PNG_HEIGHT, 'thumbnail box');
    assert.ok(thumb.naturalWidth <= 320, `thumbnail is ${thumb.naturalWidth}px wide`);
    await screenshot(bob.page, 'images-thumbnail-bob');

    // Alice's copy switches from the local preview to the stored thumbnail.
    const aliceRow = imageRow(alice.page, 'Sunset at the pier');
    await aliceRow.locator('a.message-image').waitFor();
    assert.equal(await aliceRow.locator('.ticks').getAttribute('data-delivery') !== 'pending', true);

    // The full image opens in a modal overlay; Escape closes it and focus returns.
    const link = bobRow.locator('a.message-image');
    await link.focus();
    await bob.page.keyboard.press('Enter');
    const viewer = bob.page.getByRole('dialog');
    await viewer.waitFor();
    const full = viewer.locator('.viewer-image');
    await waitUntil(() => full.evaluate((element) => element.complete && element.naturalWidth > 0), Boolean, { timeoutMs: 10000 });
    const fullSize = await full.evaluate((element) => ({
      src: element.getAttribute('src'),
      naturalWidth: element.naturalWidth,
      naturalHeight: element.naturalHeight,
      alt: element.alt,
    }));
    assert.match(fullSize.src, /^\/media\/[^/]+\.(?:jpg|png)$/);
    assert.doesNotMatch(fullSize.src, /-thumb\./);
    assert.equal(fullSize.naturalWidth, PNG_WIDTH);
    assert.equal(fullSize.naturalHeight, PNG_HEIGHT);
    assert.equal(fullSize.alt, 'Image from Alice Liddell');
    assert.equal(await viewer.locator('.viewer-caption').textContent(), 'Sunset at the pier');
    assert.equal(await bob.page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Close image');
    await screenshot(bob.page, 'images-viewer');

    await bob.page.keyboard.press('Escape');
    await viewer.waitFor({ state: 'hidden' });
    assert.equal(await link.evaluate((element) => element === document.activeElement), true, 'focus went back to the thumbnail');

    // A mouse click opens it too, and a click beside the image closes it.
    await link.click();
    await viewer.waitFor();
    await bob.page.mouse.click(5, 700);
    await viewer.waitFor({ state: 'hidden' });

    assert.equal(posts.length, 1);
    assert.equal(posts[0].body, 'Sunset at the pier');
    assert.equal(typeof posts[0].image_id, 'number');
    assert.match(posts[0].client_id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(await countRows(`SELECT count(*) FROM messages WHERE conversation_id = ${conversationId}
                                  AND image_id = ${posts[0].image_id} AND body = 'Sunset at the pier'`), 1);
    assert.equal(await imageRow(alice.page, 'Sunset at the pier').count(), 1);
    assert.equal(await imageRow(bob.page, 'Sunset at the pier').count(), 1);
    assert.deepEqual([...alice.errors, ...bob.errors], []);
    await alice.context.close();
    await bob.context.close();
  });

  test('send while the upload runs', async () => {
    const alice = await newUser('alice', 'Alice Liddell');
    const bob = await newUser('bob', 'Bob Builder');
    const conversationId = await connect(alice, bob);

    // Slows Alice's uploads to about 256 KiB/s, so progress shows and Enter
    // comes before the upload has finished.
    const cdp = await alice.context.newCDPSession(alice.page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 256 * 1024,
    });
    const noisy = { name: 'noise.png', mimeType: 'image/png', buffer: makePng(PNG_WIDTH, PNG_HEIGHT, { noise: true }) };
    assert.ok(noisy.buffer.length > 500 * 1024, `the noise PNG has ${noisy.buffer.length} bytes`);

    await attachWithButton(alice.page, noisy);
    const progress = alice.page.locator('.attachment-progress');
    await waitUntil(() => progress.evaluate((element) => element.value), (value) => value > 0 && value < 100, { timeoutMs: 5000 });
    const midway = await progress.evaluate((element) => element.value);
    assert.ok(midway > 0, `progress was ${midway}% while uploading`);
    assert.ok(midway < 100, `progress was ${midway}% while uploading`);
    await screenshot(alice.page, 'images-uploading');

    await alice.page.locator('#composer-input').fill('Noise, sent early');
    await alice.page.locator('#composer-input').press('Enter');

    // The pending row shows the local file in a box of the image's shape.
    const row = imageRow(alice.page, 'Noise, sent early');
    await row.locator('.message-image.local').waitFor();
    await row.locator('.image-progress').waitFor();
    const placeholder = await row.locator('.message-image img').evaluate((element) => ({
      src: element.getAttribute('src'),
      box: element.getBoundingClientRect().toJSON(),
    }));
    assert.match(placeholder.src, /^blob:/);
    assertRatio(placeholder.box.width / placeholder.box.height, PNG_WIDTH / PNG_HEIGHT, 'placeholder box');
    const rowHeightPending = await row.evaluate((element) => element.getBoundingClientRect().height);
    await screenshot(alice.page, 'images-pending');

    await cdp.send('Network.emulateNetworkConditions', {
      offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1,
    });
    await row.locator('a.message-image').waitFor({ timeout: 30000 });
    const stored = await loadedImage(row);
    const rowHeightStored = await row.evaluate((element) => element.getBoundingClientRect().height);
    assert.ok(Math.abs(rowHeightStored - rowHeightPending) < 1, `row height stayed ${rowHeightPending}px, now ${rowHeightStored}px`);
    assert.ok(Math.abs(stored.box.height - placeholder.box.height) < 1, 'image box kept its height');

    await imageRow(bob.page, 'Noise, sent early').waitFor();
    assert.equal(await countRows(`SELECT count(*) FROM messages WHERE conversation_id = ${conversationId}`), 1);
    assert.equal(await imageRow(alice.page, 'Noise, sent early').count(), 1);
    assert.deepEqual([...alice.errors, ...bob.errors], []);
    await alice.context.close();
    await bob.context.close();
  });

  test('SVG attachment is rejected', async () => {
    const alice = await newUser('alice', 'Alice Liddell');
    const bob = await newUser('bob', 'Bob Builder');
    const conversationId = await connect(alice, bob);
    const posts = recordMessagePosts(alice.page);

    const reply = alice.page.waitForResponse((response) => new URL(response.url()).pathname === '/api/uploads');
    await attachWithButton(alice.page, { name: 'circle.svg', mimeType: 'image/svg+xml', buffer: Buffer.from(SVG) });
    const response = await reply;
    assert.equal(response.status(), 415);
    const { error } = await response.json();
    assert.equal(error.code, 'unsupported_media_type');

    const failure = alice.page.locator('.attachment-error');
    await failure.waitFor();
    const displayed = await failure.textContent();
    assert.ok(displayed.toLowerCase().includes(error.message.toLowerCase()), `"${displayed}" contains "${error.message}"`);
    assert.equal(await alice.page.locator('.attachment-retry').isVisible(), false, 'no Retry for a file the server rejects');
    assert.equal(await alice.page.locator('.send-button').isDisabled(), true);

    await alice.page.locator('#composer-input').fill('Look at this circle');
    await alice.page.locator('#composer-input').press('Enter');
    await alice.page.locator('.composer-error', { hasText: 'Retry it or remove it' }).waitFor();
    await screenshot(alice.page, 'images-svg-rejected');
    await alice.page.waitForTimeout(500);
    assert.equal(posts.length, 0, 'no message was posted');
    assert.equal(await alice.page.locator('.message-row').count(), 0);
    assert.equal(await bob.page.locator('.message-row').count(), 0);
    assert.equal(await countRows(`SELECT count(*) FROM messages WHERE conversation_id = ${conversationId}`), 0);

    // Removing the image leaves the caption as a plain draft.
    await alice.page.getByRole('button', { name: 'Remove image' }).click();
    await alice.page.locator('.attachment-preview').waitFor({ state: 'hidden' });
    assert.equal(await alice.page.locator('#composer-input').inputValue(), 'Look at this circle');
    assert.equal(await alice.page.locator('.composer-error').textContent(), '');
    assert.deepEqual([...alice.errors, ...bob.errors], []);
    await alice.context.close();
    await bob.context.close();
  });

  test('failed upload retries under one client_id', async () => {
    const alice = await newUser('alice', 'Alice Liddell');
    const bob = await newUser('bob', 'Bob Builder');
    const conversationId = await connect(alice, bob);
    const posts = recordMessagePosts(alice.page);

    // The first upload waits for the test and then fails as a broken image
    // store would; the first message request fails as a lost connection.
    let failUpload;
    const uploadFailure = new Promise((resolve) => {
      failUpload = resolve;
    });
    let uploads = 0;
    await alice.page.route('**/api/uploads', async (route) => {
      uploads += 1;
      if (uploads > 1) {
        await route.continue();
        return;
      }
      await uploadFailure;
      await route.fulfill({
        status: 502,
        contentType: 'application/json; charset=utf-8',
        body: JSON.stringify({ error: { code: 'store_failed', message: 'the image store did not answer; try again later' } }),
      });
    });
    let messageRequests = 0;
    await alice.page.route(/\/api\/conversations\/\d+\/messages$/, async (route) => {
      if (route.request().method() === 'POST') {
        messageRequests += 1;
        if (messageRequests === 1) {
          await route.abort('connectionreset');
          return;
        }
      }
      await route.continue();
    });

    await attachWithButton(alice.page, png());
    await alice.page.locator('.attachment-status', { hasText: 'Uploading' }).waitFor();
    await alice.page.locator('#composer-input').fill('Second try');
    await alice.page.locator('#composer-input').press('Enter');
    const row = messageRow(alice.page, 'Second try');
    await row.locator('.message-image.local').waitFor();

    failUpload();
    const failedBar = row.locator('.failed-bar');
    await failedBar.waitFor();
    assert.equal(await failedBar.locator('span').textContent(), 'Not sent: the image store did not answer; try again later');
    assert.equal(posts.length, 0, 'nothing was posted before the image existed');
    await screenshot(alice.page, 'images-upload-failed');

    // Retry uploads again, then posts; that post is lost, so Retry posts again.
    await failedBar.getByRole('button', { name: 'Retry' }).click();
    await waitUntil(() => posts.length, (count) => count === 1, { timeoutMs: 10000 });
    await row.locator('.failed-bar').waitFor();
    await row.getByRole('button', { name: 'Retry' }).click();
    await waitUntil(() => row.locator('.ticks').getAttribute('data-delivery'), (state) => state === 'sent' || state === 'seen', { timeoutMs: 10000 });

    assert.equal(uploads, 2);
    assert.equal(posts.length, 2);
    assert.equal(posts[1].client_id, posts[0].client_id, 'both posts carry one client_id');
    assert.equal(posts[1].image_id, posts[0].image_id, 'both posts carry the uploaded image');
    await imageRow(bob.page, 'Second try').waitFor();
    await bob.page.waitForTimeout(300);
    assert.equal(await imageRow(bob.page, 'Second try').count(), 1);
    assert.equal(await imageRow(alice.page, 'Second try').count(), 1);
    assert.equal(await countRows(`SELECT count(*) FROM messages WHERE conversation_id = ${conversationId}`), 1);
    assert.equal(await countRows(`SELECT count(*) FROM messages WHERE client_id = '${posts[0].client_id}'`), 1);

    // Discard drops a failed image message without posting it.
    await alice.page.unroute('**/api/uploads');
    await alice.page.route('**/api/uploads', (route) => route.fulfill({
      status: 502,
      contentType: 'application/json; charset=utf-8',
      body: JSON.stringify({ error: { code: 'store_failed', message: 'the image store did not answer; try again later' } }),
    }));
    await attachWithButton(alice.page, png());
    await alice.page.locator('.attachment-error').waitFor();
    assert.equal(await alice.page.locator('.attachment-retry').isVisible(), true);
    await alice.page.getByRole('button', { name: 'Remove image' }).click();
    await alice.page.locator('.attachment-preview').waitFor({ state: 'hidden' });
    assert.equal(posts.length, 2);
    assert.deepEqual([...alice.errors, ...bob.errors], []);
    await alice.context.close();
    await bob.context.close();
  });

  test('paste and drop attach images', async () => {
    const alice = await newUser('alice', 'Alice Liddell');
    const bob = await newUser('bob', 'Bob Builder');
    const conversationId = await connect(alice, bob);
    const bytes = makePng(240, 320).toString('base64');

    // Chromium gives synthetic paste and drop events the DataTransfer they carry.
    const dispatch = (type, selector) => alice.page.evaluate(([eventType, target, base64, name]) => {
      const data = Uint8Array.from(atob(base64), (character) => character.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([data], name, { type: 'image/png' }));
      const event = eventType === 'paste'
        ? new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true, cancelable: true })
        : new DragEvent(eventType, { dataTransfer: transfer, bubbles: true, cancelable: true });
      document.querySelector(target).dispatchEvent(event);
      return event.defaultPrevented;
    }, [type, selector, bytes, type === 'paste' ? 'image.png' : 'dropped.png']);

    await alice.page.locator('#composer-input').focus();
    assert.equal(await dispatch('paste', '#composer-input'), true, 'the paste was taken as an attachment');
    await alice.page.locator('.attachment-name', { hasText: 'image.png' }).waitFor();
    await alice.page.locator('.attachment-status', { hasText: 'Ready to send' }).waitFor();
    await alice.page.locator('#composer-input').press('Enter');
    const pasted = alice.page.locator('.message-row').filter({ has: alice.page.locator('a.message-image') });
    await pasted.waitFor();
    assert.equal(await pasted.locator('.message-body').count(), 0, 'an image without caption has no body');

    assert.equal(await dispatch('dragenter', '.messages'), true);
    await alice.page.locator('.drop-zone').waitFor();
    await screenshot(alice.page, 'images-drop-zone');
    assert.equal(await dispatch('drop', '.messages'), true);
    await alice.page.locator('.drop-zone').waitFor({ state: 'hidden' });
    await alice.page.locator('.attachment-name', { hasText: 'dropped.png' }).waitFor();
    await alice.page.locator('.attachment-status', { hasText: 'Ready to send' }).waitFor();
    await alice.page.locator('#composer-input').fill('Dropped in');
    await alice.page.locator('#composer-input').press('Enter');

    const dropped = imageRow(bob.page, 'Dropped in');
    const thumb = await loadedImage(dropped);
    assertRatio(thumb.naturalWidth / thumb.naturalHeight, 240 / 320, 'portrait thumbnail');
    await bob.page.locator('.message-row a.message-image').nth(1).waitFor();
    assert.equal(await countRows(`SELECT count(*) FROM messages WHERE conversation_id = ${conversationId} AND image_id IS NOT NULL`), 2);
    await screenshot(bob.page, 'images-pasted-and-dropped');
    assert.deepEqual([...alice.errors, ...bob.errors], []);
    await alice.context.close();
    await bob.context.close();
  });
});
