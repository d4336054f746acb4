// Helpers of the upload tests: test images made with the vips command
// (Debian package libvips-tools) in a temporary folder, EXIF blocks built
// by hand, uploads through the API, and the state of the media folder and
// the uploads table.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function tempDir() {
  return mkdtempSync(path.join(os.tmpdir(), 'blinkchat-upload-test-'));
}

function vips(...args) {
  execFileSync('vips', args.map(String), { stdio: ['ignore', 'ignore', 'pipe'] });
}

let imageCounter = 0;

/**
 * Writes an image of width x height pixels into dir and returns its bytes.
 * The format follows the extension (jpg, png, gif, webp). bands is 3 for
 * RGB or 4 for RGBA; alpha is the value of the alpha band. noise fills
 * every band with independent Gaussian noise, which barely compresses.
 */
export function makeImage(dir, extension, width, height, { bands = 3, alpha = 255, noise = false } = {}) {
  imageCounter += 1;
  const base = path.join(dir, `image${imageCounter}`);
  const file = `${base}.${extension}`;
  if (noise) {
    const channels = [];
    for (let band = 0; band < bands; band++) {
      // A fixed seed per band keeps the size of the encoded file the same on every run.
      vips('gaussnoise', `${base}-n${band}.v`, width, height, '--mean', 128, '--sigma', 80, '--seed', band + 1);
      vips('cast', `${base}-n${band}.v`, `${base}-c${band}.v`, 'uchar');
      channels.push(`${base}-c${band}.v`);
    }
    vips('bandjoin', channels.join(' '), `${base}.v`);
  } else {
    const colour = [90, 160, 220, alpha].slice(0, bands);
    vips('black', `${base}-black.v`, width, height, '--bands', bands);
    vips('linear', `${base}-black.v`, `${base}.v`, Array(bands).fill(1).join(' '), colour.join(' '), '--uchar');
  }
  vips('copy', `${base}.v`, file);
  return readFileSync(file);
}

/** Reads fields of an image's header with vipsheader, e.g. width, bands, vips-loader. */
export function imageHeader(dir, bytes, fields = ['width', 'height', 'bands', 'vips-loader']) {
  imageCounter += 1;
  const file = path.join(dir, `served${imageCounter}`);
  writeFileSync(file, bytes);
  const header = {};
  for (const field of fields) {
    const value = execFileSync('vipsheader', ['-f', field, file]).toString().trim();
    header[field] = /^\d+$/.test(value) ? Number(value) : value;
  }
  return header;
}

/** Returns every metadata field name that vipsheader -a lists for bytes. */
export function imageMetadataNames(dir, bytes) {
  imageCounter += 1;
  const file = path.join(dir, `meta${imageCounter}`);
  writeFileSync(file, bytes);
  return execFileSync('vipsheader', ['-a', file]).toString().split('\n')
    .map((line) => line.split(':')[0].trim())
    .filter((name) => name !== '');
}

// A TIFF structure in big-endian order, for an EXIF APP1 segment.
function tiffEntry(tag, type, count, valueOrOffset) {
  const entry = Buffer.alloc(12);
  entry.writeUInt16BE(tag, 0);
  entry.writeUInt16BE(type, 2);
  entry.writeUInt32BE(count, 4);
  if (Buffer.isBuffer(valueOrOffset)) valueOrOffset.copy(entry, 8);
  else entry.writeUInt32BE(valueOrOffset, 8);
  return entry;
}

function rationals(values) {
  const out = Buffer.alloc(values.length * 8);
  values.forEach(([numerator, denominator], i) => {
    out.writeUInt32BE(numerator, i * 8);
    out.writeUInt32BE(denominator, i * 8 + 4);
  });
  return out;
}

export const EXIF_CAMERA = 'BlinkTestCam';

/**
 * Inserts an EXIF segment after the SOI marker of a JPEG: camera make
 * EXIF_CAMERA, the given orientation and a GPS position of 48°51'24"N
 * 2°21'3"E. Returns the new JPEG.
 */
export function withExif(jpeg, { orientation = 1 } = {}) {
  const ASCII = 2, SHORT = 3, LONG = 4, RATIONAL = 5, BYTE = 1;
  const make = Buffer.from(`${EXIF_CAMERA}\0`);
  // Layout: header (8), IFD0 with 3 entries (42) at 8, make at 50, GPS IFD
  // with 5 entries (66) at 64, latitude at 130, longitude at 154.
  const header = Buffer.from('4d4d002a00000008', 'hex');
  const shortValue = Buffer.alloc(4);
  shortValue.writeUInt16BE(orientation, 0);
  const ifd0 = Buffer.concat([
    Buffer.from([0, 3]),
    tiffEntry(0x010f, ASCII, make.length, 50),
    tiffEntry(0x0112, SHORT, 1, shortValue),
    tiffEntry(0x8825, LONG, 1, 64),
    Buffer.alloc(4),
  ]);
  const gps = Buffer.concat([
    Buffer.from([0, 5]),
    tiffEntry(0x0000, BYTE, 4, Buffer.from([2, 2, 0, 0])),
    tiffEntry(0x0001, ASCII, 2, Buffer.from('N\0\0\0', 'latin1')),
    tiffEntry(0x0002, RATIONAL, 3, 130),
    tiffEntry(0x0003, ASCII, 2, Buffer.from('E\0\0\0', 'latin1')),
    tiffEntry(0x0004, RATIONAL, 3, 154),
    Buffer.alloc(4),
  ]);
  const tiff = Buffer.concat([
    header, ifd0, make, Buffer.alloc(1), gps,
    rationals([[48, 1], [51, 1], [2400, 100]]),
    rationals([[2, 1], [21, 1], [300, 100]]),
  ]);
  const payload = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(payload.length + 2, 0);
  return Buffer.concat([jpeg.subarray(0, 2), Buffer.from([0xff, 0xe1]), length, payload, jpeg.subarray(2)]);
}

/** Returns the marker bytes of the JPEG segments before the first scan. */
export function jpegMarkers(jpeg) {
  const markers = [];
  let pos = 2;
  while (pos + 4 <= jpeg.length && jpeg[pos] === 0xff) {
    const marker = jpeg[pos + 1];
    markers.push(marker);
    if (marker === 0xda) break;
    pos += 2 + jpeg.readUInt16BE(pos + 2);
  }
  return markers;
}

/** Sends bytes as the form field "file" (or field) of POST /api/uploads. */
export function upload(client, bytes, { filename = 'image.bin', type = 'application/octet-stream', field = 'file', headers } = {}) {
  const form = new FormData();
  form.append(field, new Blob([bytes], { type }), filename);
  return client.request('POST', '/api/uploads', { body: form, headers });
}

/** Sends a hand-made body to POST /api/uploads. */
export function uploadRaw(client, body, contentType) {
  return client.request('POST', '/api/uploads', { body, headers: { 'content-type': contentType } });
}

/**
 * Returns the names of the files in the stack's media folder, sorted, with
 * the uploads being received listed as ".incoming/NAME".
 */
export function mediaFiles(stack) {
  const media = path.join(stack.dir, 'media');
  const incoming = path.join(media, '.incoming');
  const names = readdirSync(media).filter((name) => name !== '.incoming');
  if (existsSync(incoming)) names.push(...readdirSync(incoming).map((name) => `.incoming/${name}`));
  return names.sort();
}

export async function uploadCount(stack) {
  return Number(await stack.psql('SELECT count(*) FROM uploads'));
}

/** Fetches a URL of the stack (a path such as /media/x.jpg) as bytes. */
export async function fetchBytes(stack, url) {
  const response = await fetch(new URL(url, stack.baseUrl));
  return { status: response.status, headers: response.headers, bytes: Buffer.from(await response.arrayBuffer()) };
}

/** Returns the size of a width x height image fitted into a max x max box, never enlarged. */
export function fitted(width, height, max) {
  const scale = Math.min(1, max / Math.max(width, height));
  return [Math.round(width * scale), Math.round(height * scale)];
}
