// POST /api/uploads with the Cloudinary media store, against the local
// fake of its upload API in tests/fakes/cloudinary.mjs: signed uploads,
// the URLs kept, and failures that leave nothing stored.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { cloudinarySignature, startFakeCloudinary } from '../fakes/cloudinary.mjs';
import { signup } from '../lib/http.mjs';
import { startStack } from '../lib/stack.mjs';
import {
  EXIF_CAMERA,
  jpegMarkers,
  makeImage,
  mediaFiles,
  tempDir,
  upload,
  uploadCount,
  withExif,
} from './support.mjs';

const CLOUD_NAME = 'blinkchat-test';
const API_KEY = '614335564976464';
const API_SECRET = 'a676b67565c6767a6767d6767f676fe1';

let fake;
let stack;
let alice;
let dir;

before(async () => {
  dir = tempDir();
  fake = await startFakeCloudinary({ cloudName: CLOUD_NAME, apiKey: API_KEY, apiSecret: API_SECRET });
  stack = await startStack({
    env: {
      BLINKCHAT_CLOUDINARY_CLOUD_NAME: CLOUD_NAME,
      BLINKCHAT_CLOUDINARY_API_KEY: API_KEY,
      BLINKCHAT_CLOUDINARY_API_SECRET: API_SECRET,
      BLINKCHAT_CLOUDINARY_UPLOAD_URL: fake.baseUrl,
    },
  });
  alice = await signup(stack);
});

after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await stack?.stop();
  await fake?.close();
});

// Sends fields straight to the fake's upload endpoint.
async function callFake(fields, file) {
  const form = new FormData();
  if (file) form.append('file', new Blob([file], { type: 'image/jpeg' }), 'a.jpg');
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  const response = await fetch(`${fake.baseUrl}/v1_1/${CLOUD_NAME}/image/upload`, { method: 'POST', body: form });
  return { status: response.status, json: await response.json() };
}

// Uploads a JPEG that the store must reject with 502, and checks that
// nothing was kept: no row, no local file, no asset at the fake.
async function assertStoreFailed() {
  const rowsBefore = await uploadCount(stack);
  const assetsBefore = fake.assets.size;
  const response = await upload(alice, makeImage(dir, 'jpg', 300, 200), { filename: 'a.jpg' });
  assert.equal(response.status, 502, response.text);
  assert.equal(response.json.error.code, 'store_failed');
  assert.match(response.json.error.message, /Cloudinary/);
  assert.equal(await uploadCount(stack), rowsBefore);
  assert.equal(fake.assets.size, assetsBefore);
  assert.deepEqual(mediaFiles(stack), []);
}

describe('fake Cloudinary', () => {
  test('fake checks signature and timestamp', async () => {
    const file = makeImage(dir, 'jpg', 20, 10);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signed = { timestamp, api_key: API_KEY, signature: cloudinarySignature({ timestamp }, API_SECRET) };

    const good = await callFake(signed, file);
    assert.equal(good.status, 200, JSON.stringify(good.json));
    assert.equal(good.json.width, 20);
    assert.equal(good.json.height, 10);

    const wrong = await callFake({ ...signed, signature: cloudinarySignature({ timestamp }, 'other secret') }, file);
    assert.equal(wrong.status, 401);
    assert.match(wrong.json.error.message, /^Invalid Signature .* String to sign - 'timestamp=\d+'\.$/);

    const old = String(Number(timestamp) - 7200);
    const stale = await callFake({ timestamp: old, api_key: API_KEY, signature: cloudinarySignature({ timestamp: old }, API_SECRET) }, file);
    assert.equal(stale.status, 400);
    assert.match(stale.json.error.message, /^Stale request/);

    const unknownKey = await callFake({ ...signed, api_key: '1' }, file);
    assert.equal(unknownKey.status, 401);
    fake.assets.delete(good.json.public_id);
  });
});

describe('uploads to Cloudinary', () => {
  test('signed upload keeps secure_url', async () => {
    const source = withExif(makeImage(dir, 'jpg', 1600, 1200), { orientation: 1 });
    const response = await upload(alice, source, { filename: 'trip.jpg' });
    assert.equal(response.status, 201, response.text);
    const { image } = response.json;
    assert.equal(image.width, 1280);
    assert.equal(image.height, 960);

    const call = fake.requests.at(-1);
    assert.equal(call.action, 'upload');
    assert.equal(call.status, 200);
    assert.deepEqual(Object.keys(call.fields).sort(), ['api_key', 'signature', 'timestamp']);
    assert.ok(Math.abs(Number(call.fields.timestamp) - Date.now() / 1000) < 60);

    const [publicId, asset] = [...fake.assets].at(-1);
    assert.equal(asset.width, 1280);
    assert.equal(asset.height, 960);
    assert.equal(asset.format, 'jpg');
    assert.ok(!jpegMarkers(asset.bytes).includes(0xe1), 'the uploaded image carries an APP1 segment');
    assert.ok(!asset.bytes.includes(Buffer.from(EXIF_CAMERA)), 'the uploaded image carries EXIF');

    const versioned = new RegExp(`^https://res\\.cloudinary\\.com/${CLOUD_NAME}/image/upload/v\\d+/${publicId}\\.jpg$`);
    assert.match(image.url, versioned);
    assert.equal(image.thumb_url, image.url.replace('/image/upload/', '/image/upload/c_limit,w_320,h_320/'));

    const row = await stack.psql(`SELECT store, storage_key, url FROM uploads WHERE id = ${image.id}`);
    assert.equal(row, `cloudinary|${publicId}|${image.url}`);
    assert.deepEqual(mediaFiles(stack), [], 'the media folder keeps a file');
  });

  test('image message with Cloudinary image', async () => {
    const bob = await signup(stack);
    const created = await alice.post('/api/conversations', { member_ids: [bob.user.id] });
    assert.equal(created.status, 201, created.text);
    const conversationId = created.json.conversation.id;
    const uploaded = await upload(alice, makeImage(dir, 'png', 200, 100), { filename: 'a.png' });
    assert.equal(uploaded.status, 201, uploaded.text);

    const sent = await alice.post(`/api/conversations/${conversationId}/messages`,
      { client_id: randomUUID(), image_id: uploaded.json.image.id });
    assert.equal(sent.status, 201, sent.text);
    const history = await bob.get(`/api/conversations/${conversationId}/messages`);
    assert.deepEqual(history.json.messages[0].image, uploaded.json.image);
    assert.match(history.json.messages[0].image.url, /^https:\/\/res\.cloudinary\.com\//);
  });

  test('wrong API secret is 502', async () => {
    fake.setSecret('a different secret than the API has');
    try {
      await assertStoreFailed();
    } finally {
      fake.setSecret(API_SECRET);
    }
    const call = fake.requests.at(-1);
    assert.equal(call.action, 'upload');
    assert.equal(call.status, 401);
  });

  test('Cloudinary server error is 502', async () => {
    fake.failNext(500);
    await assertStoreFailed();
    assert.equal(fake.requests.at(-1).status, 500);
  });

  test('failed insert destroys the asset', async () => {
    const rowsBefore = await uploadCount(stack);
    const assetsBefore = fake.assets.size;
    const callsBefore = fake.requests.length;
    await stack.psql('ALTER TABLE uploads ADD CONSTRAINT test_reject_uploads CHECK (bytes < 0) NOT VALID');
    try {
      const response = await upload(alice, makeImage(dir, 'jpg', 100, 100), { filename: 'a.jpg' });
      assert.equal(response.status, 500, response.text);
    } finally {
      await stack.psql('ALTER TABLE uploads DROP CONSTRAINT test_reject_uploads');
    }
    const calls = fake.requests.slice(callsBefore);
    assert.deepEqual(calls.map((c) => [c.action, c.status]), [['upload', 200], ['destroy', 200]]);
    assert.deepEqual(Object.keys(calls[1].fields).sort(), ['api_key', 'public_id', 'signature', 'timestamp']);
    assert.equal(fake.assets.size, assetsBefore);
    assert.equal(await uploadCount(stack), rowsBefore);
  });
});
