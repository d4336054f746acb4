// POST /api/uploads with the local media store: accepted formats and their
// encodings as the web server serves them, rejected files that leave
// nothing behind, size limits, metadata removal, and image messages.

import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';

import { Client, connectSocket, signup } from '../lib/http.mjs';
import { startStack } from '../lib/stack.mjs';
import {
  EXIF_CAMERA,
  fetchBytes,
  fitted,
  imageHeader,
  imageMetadataNames,
  jpegMarkers,
  makeImage,
  mediaFiles,
  tempDir,
  upload,
  uploadCount,
  uploadRaw,
  withExif,
} from './support.mjs';

const MAX_BYTES = 10 * 1024 * 1024;
const PNG_SIGNATURE = Buffer.from('89504e470d0a1a0a', 'hex');

let stack;
let alice;
let bob;
let conversationId;
let dir;

before(async () => {
  dir = tempDir();
  stack = await startStack();
  alice = await signup(stack);
  bob = await signup(stack);
  const created = await alice.post('/api/conversations', { member_ids: [bob.user.id] });
  assert.equal(created.status, 201, created.text);
  conversationId = created.json.conversation.id;
});

after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await stack?.stop();
});

// Uploads bytes and checks the reply is 201 with exactly the image fields.
async function uploadImage(client, bytes, filename) {
  const response = await upload(client, bytes, { filename });
  assert.equal(response.status, 201, response.text);
  assert.deepEqual(Object.keys(response.json).sort(), ['image']);
  assert.deepEqual(Object.keys(response.json.image).sort(), ['height', 'id', 'thumb_url', 'url', 'width']);
  return response.json.image;
}

// Uploads bytes that must be rejected and checks that no row and no file
// (not even a temporary one) remains.
async function assertRejected(bytes, status, code, filename = 'image.png') {
  const rowsBefore = await uploadCount(stack);
  const filesBefore = mediaFiles(stack);
  const response = await upload(alice, bytes, { filename, type: 'image/png' });
  assert.equal(response.status, status, `${filename}: ${response.text}`);
  assert.equal(response.json?.error?.code, code, `${filename}: ${response.text}`);
  assert.equal(await uploadCount(stack), rowsBefore, `${filename}: an uploads row was left`);
  assert.deepEqual(mediaFiles(stack), filesBefore, `${filename}: a file was left in the media folder`);
  return response;
}

describe('accepted images', () => {
  const cases = [
    { extension: 'jpg', width: 2000, height: 1500, served: 'image/jpeg' },
    { extension: 'png', width: 640, height: 480, served: 'image/jpeg' },
    { extension: 'gif', width: 300, height: 200, served: 'image/jpeg' },
    { extension: 'webp', width: 1000, height: 3000, served: 'image/jpeg' },
    { extension: 'png', width: 500, height: 400, served: 'image/png', bands: 4, alpha: 128 },
  ];

  for (const c of cases) {
    const name = `${c.extension} ${c.width}x${c.height}${c.bands === 4 ? ' with alpha' : ''}`;

    test(`${name} round-trips`, async () => {
      const source = makeImage(dir, c.extension, c.width, c.height, { bands: c.bands, alpha: c.alpha });
      const image = await uploadImage(alice, source, `photo.${c.extension}`);
      const [width, height] = fitted(c.width, c.height, 1280);
      assert.equal(image.width, width);
      assert.equal(image.height, height);
      assert.match(image.url, /^\/media\/[0-9a-f]{32}\.(jpg|png)$/);
      assert.match(image.thumb_url, /^\/media\/[0-9a-f]{32}-thumb\.(jpg|png)$/);

      const display = await fetchBytes(stack, image.url);
      assert.equal(display.status, 200);
      assert.equal(display.headers.get('content-type'), c.served);
      assert.equal(display.headers.get('x-content-type-options'), 'nosniff');
      const header = imageHeader(dir, display.bytes);
      assert.equal(header.width, width);
      assert.equal(header.height, height);
      assert.equal(header['vips-loader'], c.served === 'image/png' ? 'pngload' : 'jpegload');
      if (c.bands === 4) assert.equal(header.bands, 4, 'the alpha band was dropped');

      const thumb = await fetchBytes(stack, image.thumb_url);
      assert.equal(thumb.status, 200);
      assert.equal(thumb.headers.get('content-type'), c.served);
      const thumbHeader = imageHeader(dir, thumb.bytes);
      assert.deepEqual([thumbHeader.width, thumbHeader.height], fitted(c.width, c.height, 320));

      const row = await stack.psql(`SELECT store, content_type, bytes, width, height FROM uploads WHERE id = ${image.id}`);
      assert.equal(row, `local|${c.served}|${display.bytes.length}|${width}|${height}`);
    });
  }

  test('motion photo JPEG accepted', async () => {
    const ftyp = Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from('ftypmp42\0\0\0\0isommp42', 'latin1')]);
    const mdat = Buffer.concat([Buffer.from([0, 0, 0x10, 8]), Buffer.from('mdat'), randomBytes(0x1000)]);
    const source = Buffer.concat([makeImage(dir, 'jpg', 400, 300), ftyp, mdat]);
    const image = await uploadImage(alice, source, 'motion.jpg');
    assert.deepEqual([image.width, image.height], [400, 300]);
  });

  test('upload near the 10 MiB limit', async () => {
    const source = makeImage(dir, 'png', 2150, 1990, { noise: true });
    assert.ok(source.length > 9 * 1024 * 1024, `the test image has only ${source.length} bytes; enlarge it`);
    assert.ok(source.length <= MAX_BYTES, `the test image has ${source.length} bytes, over the limit; shrink it`);
    const image = await uploadImage(alice, source, 'noise.png');
    assert.deepEqual([image.width, image.height], fitted(2150, 1990, 1280));
  });
});

describe('metadata', () => {
  test('EXIF and GPS location removed', async () => {
    const source = withExif(makeImage(dir, 'jpg', 600, 400), { orientation: 6 });
    const sourceFields = imageMetadataNames(dir, source);
    assert.ok(sourceFields.includes('exif-ifd3-GPSLatitude'), `the test image lacks GPS: ${sourceFields}`);
    assert.ok(source.includes(Buffer.from(EXIF_CAMERA)));

    const image = await uploadImage(alice, source, 'located.jpg');
    // Orientation 6 means the camera was turned: the upright image is tall.
    assert.deepEqual([image.width, image.height], [400, 600]);

    for (const url of [image.url, image.thumb_url]) {
      const served = await fetchBytes(stack, url);
      assert.equal(served.status, 200);
      assert.ok(!jpegMarkers(served.bytes).includes(0xe1), `${url} has an APP1 (EXIF or XMP) segment`);
      assert.ok(!served.bytes.includes(Buffer.from('Exif\0\0', 'latin1')), `${url} contains EXIF`);
      assert.ok(!served.bytes.includes(Buffer.from(EXIF_CAMERA)), `${url} contains the camera make`);
      const fields = imageMetadataNames(dir, served.bytes);
      assert.deepEqual(fields.filter((name) => /^exif-|gps|orientation|icc/i.test(name)), [], `${url} metadata`);
    }
  });
});

describe('rejected files', () => {
  test('non-images are 415', async () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>';
    await assertRejected(Buffer.from(svg), 415, 'unsupported_media_type', 'image.svg');
    await assertRejected(Buffer.from('<!doctype html><script>alert(1)</script>'), 415, 'unsupported_media_type', 'page.html');
    await assertRejected(Buffer.from('just some text\n'), 415, 'unsupported_media_type', 'notes.txt');
    await assertRejected(Buffer.alloc(0), 415, 'unsupported_media_type', 'empty.png');
  });

  test('polyglots are 415', async () => {
    const html = Buffer.from('<html><body><script>alert(document.cookie)</script></body></html>\n');
    await assertRejected(Buffer.concat([PNG_SIGNATURE, html]), 415, 'unsupported_media_type', 'header-then-html.png');
    const png = makeImage(dir, 'png', 64, 64);
    await assertRejected(Buffer.concat([png, html]), 415, 'unsupported_media_type', 'png-then-html.png');
    const jpeg = makeImage(dir, 'jpg', 64, 64);
    await assertRejected(Buffer.concat([jpeg, html]), 415, 'unsupported_media_type', 'jpeg-then-html.jpg');
    const fakeVideo = Buffer.concat([Buffer.from([0, 0, 0, 16]), Buffer.from('ftypisom\0\0\0\0', 'latin1'), html]);
    await assertRejected(Buffer.concat([jpeg, fakeVideo]), 415, 'unsupported_media_type', 'jpeg-video-html.jpg');
    const gif = makeImage(dir, 'gif', 64, 64);
    await assertRejected(Buffer.concat([gif, html]), 415, 'unsupported_media_type', 'gif-then-html.gif');
    const webp = makeImage(dir, 'webp', 64, 64);
    await assertRejected(Buffer.concat([webp, html]), 415, 'unsupported_media_type', 'webp-then-html.webp');
  });

  test('truncated files are 415', async () => {
    const jpeg = makeImage(dir, 'jpg', 800, 600, { noise: true });
    await assertRejected(jpeg.subarray(0, Math.floor(jpeg.length / 2)), 415, 'unsupported_media_type', 'cut.jpg');
    // Cut inside the scan, then closed with an EOI marker: the structure is
    // whole, so only the decoder detects the missing data.
    const closed = Buffer.concat([jpeg.subarray(0, Math.floor(jpeg.length / 2)), Buffer.from([0xff, 0xd9])]);
    await assertRejected(closed, 415, 'unsupported_media_type', 'cut-closed.jpg');
    const png = makeImage(dir, 'png', 800, 600, { noise: true });
    await assertRejected(png.subarray(0, png.length - 100), 415, 'unsupported_media_type', 'cut.png');
  });

  test('decompression bomb is 413', async () => {
    const response = await assertRejected(bombPng(20000, 20000), 413, 'too_large', 'bomb.png');
    assert.match(response.json.error.message, /20000 x 20000/);
  });

  test('48-megapixel JPEG is 413', async () => {
    await assertRejected(makeImage(dir, 'jpg', 8000, 6000), 413, 'too_large', 'huge.jpg');
  });

  test('file over the limit is 413', async () => {
    const bytes = Buffer.concat([PNG_SIGNATURE, randomBytes(MAX_BYTES + 1 - PNG_SIGNATURE.length)]);
    const response = await assertRejected(bytes, 413, 'too_large', 'big.png');
    assert.match(response.json.error.message, /10485760 bytes/);
  });

  test('Content-Length over the limit is 413', async () => {
    const rowsBefore = await uploadCount(stack);
    const boundary = 'x1y2z3';
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n`),
      Buffer.alloc(MAX_BYTES + 512 * 1024),
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const response = await uploadRaw(alice, body, `multipart/form-data; boundary=${boundary}`);
    assert.equal(response.status, 413, response.text);
    assert.equal(response.json?.error?.code, 'too_large');
    assert.equal(await uploadCount(stack), rowsBefore);
  });
});

// A PNG whose header claims width x height pixels, with the compressed
// data of its first rows only: tiny on disk, gigabytes once decoded.
function bombPng(width, height) {
  const chunk = (type, data) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    return Buffer.concat([length, Buffer.from(type), data, crc32(Buffer.concat([Buffer.from(type), data]))]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const idat = deflateSync(Buffer.alloc((width * 3 + 1) * 16));
  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}

function crc32(bytes) {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  const out = Buffer.alloc(4);
  out.writeUInt32BE((crc ^ 0xffffffff) >>> 0);
  return out;
}

describe('request checks', () => {
  test('JSON body is 415', async () => {
    const response = await alice.post('/api/uploads', { file: 'x' });
    assert.equal(response.status, 415);
    assert.equal(response.json.error.code, 'unsupported_media_type');
  });

  test('multipart without boundary is 415', async () => {
    const response = await uploadRaw(alice, 'x', 'multipart/form-data');
    assert.equal(response.status, 415);
    assert.equal(response.json.error.code, 'unsupported_media_type');
  });

  test('malformed multipart is 400', async () => {
    const filesBefore = mediaFiles(stack);
    const part = (name) => `--b0\r\nContent-Disposition: form-data; name="${name}"; filename="a.png"\r\n\r\nabc\r\n`;
    const cases = [
      [`${part('file')}`, /closing boundary/],
      [`${part('caption')}--b0--\r\n`, /no field named file/],
      [`${part('file')}${part('file')}--b0--\r\n`, /more than one field named file/],
      ['--b0\r\nContent-Type: image/png\r\n\r\nabc\r\n--b0--\r\n', /malformed/],
    ];
    for (const [body, message] of cases) {
      const response = await uploadRaw(alice, body, 'multipart/form-data; boundary=b0');
      assert.equal(response.status, 400, `${JSON.stringify(body)}: ${response.text}`);
      assert.equal(response.json.error.code, 'invalid_body');
      assert.match(response.json.error.message, message);
    }
    assert.deepEqual(mediaFiles(stack), filesBefore);
  });

  test('upload without session is 401', async () => {
    const anonymous = new Client(stack.baseUrl);
    const response = await upload(anonymous, makeImage(dir, 'png', 8, 8));
    assert.equal(response.status, 401);
  });

  test('cross-site upload is 403', async () => {
    const response = await upload(alice, makeImage(dir, 'png', 8, 8), { headers: { origin: 'https://evil.example' } });
    assert.equal(response.status, 403);
    assert.equal(response.json.error.code, 'forbidden_origin');
  });

  test('failed insert removes stored files', async () => {
    const rowsBefore = await uploadCount(stack);
    const filesBefore = mediaFiles(stack);
    await stack.psql('ALTER TABLE uploads ADD CONSTRAINT test_reject_uploads CHECK (bytes < 0) NOT VALID');
    try {
      const response = await upload(alice, makeImage(dir, 'jpg', 100, 100), { filename: 'a.jpg' });
      assert.equal(response.status, 500, response.text);
    } finally {
      await stack.psql('ALTER TABLE uploads DROP CONSTRAINT test_reject_uploads');
    }
    assert.equal(await uploadCount(stack), rowsBefore);
    assert.deepEqual(mediaFiles(stack), filesBefore);
  });
});

describe('image messages', () => {
  test('image message in history and socket', async () => {
    const image = await uploadImage(alice, makeImage(dir, 'jpg', 1600, 900), 'beach.jpg');
    const socket = await connectSocket(stack.wsUrl, bob);
    let onlyImage;
    try {
      await socket.next('hello');
      onlyImage = await alice.post(`/api/conversations/${conversationId}/messages`,
        { client_id: randomUUID(), image_id: image.id });
      assert.equal(onlyImage.status, 201, onlyImage.text);
      assert.equal(onlyImage.json.message.body, null);
      assert.deepEqual(onlyImage.json.message.image, image);

      const frame = await socket.next((f) => f.type === 'message' && f.message.id === onlyImage.json.message.id);
      assert.deepEqual(frame.message.image, image);
    } finally {
      await socket.close();
    }

    const withBody = await alice.post(`/api/conversations/${conversationId}/messages`,
      { client_id: randomUUID(), body: 'look at this', image_id: image.id });
    assert.equal(withBody.status, 201, withBody.text);
    assert.deepEqual(withBody.json.message.image, image);

    const history = await bob.get(`/api/conversations/${conversationId}/messages`);
    assert.equal(history.status, 200);
    const [newest, previous] = history.json.messages;
    assert.equal(newest.id, withBody.json.message.id);
    assert.equal(newest.body, 'look at this');
    assert.deepEqual(newest.image, image);
    assert.equal(previous.id, onlyImage.json.message.id);
    assert.deepEqual(previous.image, image);
  });

  test("another user's image is 404", async () => {
    const image = await uploadImage(alice, makeImage(dir, 'png', 50, 50), 'mine.png');
    const response = await bob.post(`/api/conversations/${conversationId}/messages`,
      { client_id: randomUUID(), image_id: image.id });
    assert.equal(response.status, 404);
    assert.equal(response.json.error.code, 'image_not_found');

    const missing = await alice.post(`/api/conversations/${conversationId}/messages`,
      { client_id: randomUUID(), image_id: 987654321 });
    assert.equal(missing.status, 404);
    assert.equal(missing.json.error.code, 'image_not_found');
  });
});

describe('temporary files', () => {
  test('stale temporary files removed', async () => {
    const incoming = path.join(stack.dir, 'media', '.incoming');
    mkdirSync(incoming, { recursive: true });
    const stale = path.join(incoming, 'upload-0123456789abcdef0123456789abcdef.part');
    const fresh = path.join(incoming, 'upload-fedcba9876543210fedcba9876543210.part');
    writeFileSync(stale, 'left by a process that died');
    writeFileSync(fresh, 'being received by another process');
    const twoHoursAgo = new Date(Date.now() - 2 * 3600 * 1000);
    utimesSync(stale, twoHoursAgo, twoHoursAgo);

    // New API processes clean the folder at their first upload.
    await stack.restartService('web');
    await uploadImage(alice, makeImage(dir, 'png', 10, 10), 'a.png');

    const names = mediaFiles(stack);
    assert.ok(!names.includes(`.incoming/${path.basename(stale)}`), 'the stale file is still there');
    assert.ok(names.includes(`.incoming/${path.basename(fresh)}`), 'the recent file was removed');
    rmSync(fresh);
  });
});
