// A local stand-in for Cloudinary's upload API, for tests of the
// Cloudinary media store. It checks requests the way the service
// documents it:
//
// - POST /v1_1/CLOUD/image/upload and /v1_1/CLOUD/image/destroy, as
//   multipart/form-data or application/x-www-form-urlencoded;
// - api_key must be the configured key (401 otherwise);
// - the signature is the hex SHA-1 of every parameter except file,
//   api_key, resource_type, cloud_name and signature, sorted by name and
//   joined as "name=value" with '&', followed by the API secret (401 with
//   the string to sign when it differs);
// - the timestamp must be within an hour of now (400 "Stale request").
//
// An accepted upload is kept in memory, and the reply has the fields of a
// real one (public_id, version, width, height, format, bytes, url,
// secure_url, ...).
//
//   const fake = await startFakeCloudinary({ cloudName, apiKey, apiSecret });
//   ... BLINKCHAT_CLOUDINARY_UPLOAD_URL = fake.baseUrl ...
//   await fake.close();

import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';

const MAX_BODY_BYTES = 100 * 1024 * 1024;
const TIMESTAMP_MAX_AGE_SECONDS = 3600;
const UNSIGNED_PARAMS = new Set(['file', 'api_key', 'resource_type', 'cloud_name', 'signature']);

/** Returns the hex SHA-1 signature of params (an object of strings) with secret. */
export function cloudinarySignature(params, secret) {
  return createHash('sha1').update(stringToSign(params) + secret).digest('hex');
}

/** Returns the "a=1&b=2" text that the signature covers. */
export function stringToSign(params) {
  return Object.keys(params)
    .filter((name) => !UNSIGNED_PARAMS.has(name) && params[name] !== '')
    .sort()
    .map((name) => `${name}=${params[name]}`)
    .join('&');
}

/** Reads the pixel size of a JPEG or PNG, or returns null for other data. */
export function imageSize(bytes) {
  if (bytes.length > 24 && bytes.subarray(0, 8).equals(Buffer.from('89504e470d0a1a0a', 'hex'))) {
    return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20), format: 'png' };
  }
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return null;
  let pos = 2;
  while (pos + 9 < bytes.length) {
    if (bytes[pos] !== 0xff) return null;
    const marker = bytes[pos + 1];
    const length = bytes.readUInt16BE(pos + 2);
    // SOF0 to SOF15 (ITU-T T.81 table B.1), except DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
      return { height: bytes.readUInt16BE(pos + 5), width: bytes.readUInt16BE(pos + 7), format: 'jpg' };
    }
    pos += 2 + length;
  }
  return null;
}

function readBody(request) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    request.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error('body too large'));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

/** Parses a form body into { fields: {name: string}, file: Buffer | null }. */
async function parseForm(request, body) {
  const contentType = request.headers['content-type'] ?? '';
  const parsed = await new Response(body, { headers: { 'content-type': contentType } }).formData();
  const fields = {};
  let file = null;
  for (const [name, value] of parsed) {
    if (typeof value === 'string') fields[name] = value;
    else if (name === 'file') file = Buffer.from(await value.arrayBuffer());
  }
  return { fields, file };
}

function sendJson(response, status, value) {
  const text = JSON.stringify(value);
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

function sendError(response, status, message) {
  sendJson(response, status, { error: { message } });
}

/**
 * Starts the fake on a free port of 127.0.0.1.
 *
 * Returns { baseUrl, assets, requests, setSecret(secret), failNext(status),
 * close() }: assets maps each stored public_id to { bytes, width, height,
 * format }; requests lists { action, fields, status } for every call, the
 * file left out.
 */
export async function startFakeCloudinary({ cloudName, apiKey, apiSecret }) {
  let secret = apiSecret;
  let forcedStatus = null;
  const assets = new Map();
  const requests = [];

  // Returns an error [status, message] for a call whose credentials,
  // signature or timestamp are wrong, or null when it is authentic.
  function authenticate(fields) {
    if (fields.api_key !== apiKey) return [401, `Unknown API key ${fields.api_key ?? ''}`];
    if (!fields.timestamp) return [400, 'Missing required parameter - timestamp'];
    if (!fields.signature) return [400, 'Missing required parameter - signature'];
    const expected = cloudinarySignature(fields, secret);
    if (fields.signature !== expected) {
      return [401, `Invalid Signature ${fields.signature}. String to sign - '${stringToSign(fields)}'.`];
    }
    const age = Math.floor(Date.now() / 1000) - Number(fields.timestamp);
    if (!Number.isInteger(Number(fields.timestamp)) || Math.abs(age) > TIMESTAMP_MAX_AGE_SECONDS) {
      return [400, `Stale request - reported time is ${fields.timestamp} which is more than 1 hour ago`];
    }
    return null;
  }

  function upload(fields, file, response) {
    const size = file ? imageSize(file) : null;
    if (!file) return sendError(response, 400, 'Missing required parameter - file');
    if (!size) return sendError(response, 400, 'Invalid image file');

    const publicId = randomBytes(10).toString('hex');
    const version = Math.floor(Date.now() / 1000);
    const path = `${cloudName}/image/upload/v${version}/${publicId}.${size.format}`;
    assets.set(publicId, { bytes: file, ...size });
    return sendJson(response, 200, {
      asset_id: randomBytes(16).toString('hex'),
      public_id: publicId,
      version,
      version_id: randomBytes(16).toString('hex'),
      signature: createHash('sha1').update(`public_id=${publicId}&version=${version}${secret}`).digest('hex'),
      width: size.width,
      height: size.height,
      format: size.format,
      resource_type: 'image',
      created_at: new Date(version * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      tags: [],
      bytes: file.length,
      type: 'upload',
      etag: createHash('md5').update(file).digest('hex'),
      placeholder: false,
      url: `http://res.cloudinary.com/${path}`,
      secure_url: `https://res.cloudinary.com/${path}`,
      folder: '',
      original_filename: 'image',
      api_key: apiKey,
    });
  }

  function destroy(fields, response) {
    const found = assets.delete(fields.public_id ?? '');
    return sendJson(response, 200, { result: found ? 'ok' : 'not found' });
  }

  async function handle(request, response) {
    const match = /^\/v1_1\/([^/]+)\/image\/(upload|destroy)$/.exec(request.url);
    if (request.method !== 'POST' || !match) return sendError(response, 404, 'Not found');
    const action = match[2];
    const body = await readBody(request);
    const { fields, file } = await parseForm(request, body);
    const record = { action, fields, status: 0 };
    requests.push(record);

    const reply = (status) => { record.status = status; };
    if (match[1] !== cloudName) {
      reply(401);
      return sendError(response, 401, 'Invalid cloud_name');
    }
    const problem = authenticate(fields);
    if (problem) {
      reply(problem[0]);
      return sendError(response, problem[0], problem[1]);
    }
    if (forcedStatus !== null) {
      const status = forcedStatus;
      forcedStatus = null;
      reply(status);
      return sendError(response, status, 'General Error');
    }
    reply(200);
    return action === 'upload' ? upload(fields, file, response) : destroy(fields, response);
  }

  const server = http.createServer((request, response) => {
    handle(request, response).catch((error) => {
      if (!response.headersSent) sendError(response, 400, `Invalid request: ${error.message}`);
      else response.destroy();
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });

  return {
    baseUrl: `http://127.0.0.1:${server.address().port}`,
    assets,
    requests,
    /** Makes the fake expect another API secret from now on. */
    setSecret(value) {
      secret = value;
    },
    /** Answers the next authentic call with this HTTP status and no upload. */
    failNext(status) {
      forcedStatus = status;
    },
    close() {
      return new Promise((resolve) => server.close(resolve));
    },
  };
}
