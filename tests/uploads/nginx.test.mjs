// POST /api/uploads behind nginx instead of lighttpd: the body reaches the
// API whole, the encodings are served from /media/ as images that browsers
// may not sniff, and the API's own 413 and 415 responses come through.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { after, before, test } from 'node:test';

import { signup } from '../lib/http.mjs';
import { startStack } from '../lib/stack.mjs';
import { fetchBytes, imageHeader, makeImage, mediaFiles, tempDir, upload, uploadCount } from './support.mjs';

const MAX_BYTES = 10 * 1024 * 1024;

let stack;
let alice;
let dir;

before(async () => {
  dir = tempDir();
  stack = await startStack({ webServer: 'nginx' });
  alice = await signup(stack);
});

after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await stack?.stop();
});

test('upload served behind nginx', async () => {
  const response = await upload(alice, makeImage(dir, 'webp', 1600, 800), { filename: 'wide.webp' });
  assert.equal(response.status, 201, response.text);
  assert.equal(response.json.image.width, 1280);
  assert.equal(response.json.image.height, 640);

  for (const url of [response.json.image.url, response.json.image.thumb_url]) {
    const served = await fetchBytes(stack, url);
    assert.equal(served.status, 200, url);
    assert.equal(served.headers.get('content-type'), 'image/jpeg');
    assert.equal(served.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(imageHeader(dir, served.bytes)['vips-loader'], 'jpegload');
  }
});

test('rejections behind nginx', async () => {
  const rowsBefore = await uploadCount(stack);
  const filesBefore = mediaFiles(stack);

  const html = Buffer.concat([makeImage(dir, 'png', 32, 32), Buffer.from('<script>alert(1)</script>')]);
  const polyglot = await upload(alice, html, { filename: 'a.png', type: 'image/png' });
  assert.equal(polyglot.status, 415, polyglot.text);
  assert.equal(polyglot.json.error.code, 'unsupported_media_type');

  const big = await upload(alice, randomBytes(MAX_BYTES + 1), { filename: 'big.png' });
  assert.equal(big.status, 413, big.text);
  assert.equal(big.json.error.code, 'too_large');

  assert.equal(await uploadCount(stack), rowsBefore);
  assert.deepEqual(mediaFiles(stack), filesBefore);
});
