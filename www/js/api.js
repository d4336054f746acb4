// Fetch wrapper for the REST API under /api on the page's own origin.
// Every request carries the session cookie. State-changing requests always
// send a JSON body with Content-Type: application/json, even where the API
// needs no fields ({}), so no state change is a request that a cross-site
// HTML form could also send. The image upload is the exception: it is
// multipart/form-data, so it relies on the API's Origin check and the
// SameSite=Lax session cookie instead.

/** An HTTP or network failure with the API's error code. */
export class ApiError extends Error {
  /**
   * @param {number} status HTTP status, 0 when the request never got a response
   * @param {string} code the API's error code, or "network_error"
   * @param {string} message text a person can read
   * @param {number|null} retryAfter seconds from the Retry-After header
   */
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

let unauthorizedHandler = null;

/** Registers a function called when a request other than login fails with 401. */
export function onUnauthorized(handler) {
  unauthorizedHandler = handler;
}

/**
 * Sends a request and returns the parsed JSON body, or null for 204.
 * Throws ApiError for a non-2xx status or a network failure.
 */
export async function request(method, path, body, { signal, quiet401 = false } = {}) {
  const init = {
    method,
    credentials: 'same-origin',
    headers: { Accept: 'application/json' },
    signal,
  };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }

  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, 'network_error', 'Could not reach the server. Check your connection.');
  }

  if (response.status === 204) return null;
  const data = parseJson(await response.text().catch(() => ''));
  if (response.ok) return data;

  const error = errorFromReply(response.status, response.statusText, data, response.headers.get('Retry-After'));
  if (response.status === 401 && !quiet401 && unauthorizedHandler) unauthorizedHandler(error);
  throw error;
}

function parseJson(text) {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

// Builds the ApiError for a non-2xx reply whose parsed body is `data`.
function errorFromReply(status, statusText, data, retryAfterHeader) {
  const code = data?.error?.code || `http_${status}`;
  const message = data?.error?.message || `The server responded with ${status} ${statusText}.`;
  return new ApiError(status, code, message, parseRetryAfter(retryAfterHeader));
}

/** Uploads with no progress event and no reply for this long count as failed. */
export const UPLOAD_STALL_TIMEOUT_MS = 30000;

/**
 * Uploads an image with POST /api/uploads as multipart/form-data (field
 * `file`) and returns the API's image object. It uses XMLHttpRequest
 * because fetch reports no upload progress: onProgress(loaded, total) gets
 * the bytes sent so far. Throws ApiError for a non-2xx status, a network
 * failure or a stall of UPLOAD_STALL_TIMEOUT_MS, and an AbortError
 * DOMException when `signal` aborts.
 */
export function uploadImage(file, { onProgress, signal, stallTimeoutMs = UPLOAD_STALL_TIMEOUT_MS } = {}) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new DOMException('The upload was cancelled.', 'AbortError'));
      return;
    }

    const xhr = new XMLHttpRequest();
    let stallTimer = null;
    let stalled = false;

    function armStallTimer() {
      clearTimeout(stallTimer);
      stallTimer = setTimeout(() => {
        stalled = true;
        xhr.abort();
      }, stallTimeoutMs);
    }

    function finish() {
      clearTimeout(stallTimer);
      signal?.removeEventListener('abort', abortUpload);
    }

    function abortUpload() {
      xhr.abort();
    }

    xhr.upload.addEventListener('progress', (event) => {
      armStallTimer();
      onProgress?.(event.loaded, event.lengthComputable ? event.total : file.size);
    });
    // The server decodes and re-encodes the image after the last byte, so
    // the wait for the reply gets a full stall period of its own.
    xhr.upload.addEventListener('load', armStallTimer);

    xhr.addEventListener('load', () => {
      finish();
      const data = parseJson(xhr.responseText);
      if (xhr.status === 201 && data?.image) {
        resolve(data.image);
        return;
      }
      let error;
      if (xhr.status >= 200 && xhr.status < 300) {
        error = new ApiError(xhr.status, 'invalid_reply', 'The server sent an upload reply without an image.');
      } else if (xhr.status === 413 && !data?.error) {
        // The web server's own size limit responds before the API, with an HTML page.
        error = new ApiError(413, 'too_large', 'The file is larger than the server accepts.');
      } else {
        error = errorFromReply(xhr.status, xhr.statusText, data, xhr.getResponseHeader('Retry-After'));
      }
      if (xhr.status === 401 && unauthorizedHandler) unauthorizedHandler(error);
      reject(error);
    });
    xhr.addEventListener('error', () => {
      finish();
      reject(new ApiError(0, 'network_error', 'Could not reach the server. Check your connection.'));
    });
    xhr.addEventListener('abort', () => {
      finish();
      reject(stalled
        ? new ApiError(0, 'timeout', 'The upload stopped making progress.')
        : new DOMException('The upload was cancelled.', 'AbortError'));
    });
    signal?.addEventListener('abort', abortUpload);

    const form = new FormData();
    form.append('file', file, file.name || 'image');
    xhr.open('POST', '/api/uploads');
    xhr.setRequestHeader('Accept', 'application/json');
    armStallTimer();
    xhr.send(form);
  });
}

/** Parses Retry-After as delay-seconds or an HTTP date; returns whole seconds or null. */
export function parseRetryAfter(value, now = Date.now()) {
  if (!value) return null;
  if (/^\s*\d+\s*$/.test(value)) return Number(value);
  const date = Date.parse(value);
  if (Number.isNaN(date)) return null;
  return Math.max(0, Math.ceil((date - now) / 1000));
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

export const api = {
  register: (username, password, displayName) =>
    request('POST', '/api/auth/register', {
      username,
      password,
      ...(displayName ? { display_name: displayName } : {}),
    }, { quiet401: true }),
  login: (username, password) =>
    request('POST', '/api/auth/login', { username, password }, { quiet401: true }),
  logout: () => request('POST', '/api/auth/logout', {}, { quiet401: true }),
  me: () => request('GET', '/api/me', undefined, { quiet401: true }),

  searchUsers: (prefix, signal) => request('GET', `/api/users${query({ q: prefix })}`, undefined, { signal }),

  listConversations: (before, limit = 30) =>
    request('GET', `/api/conversations${query({ before, limit })}`),
  getConversation: (id) => request('GET', `/api/conversations/${id}`),
  createConversation: (memberIds, title) =>
    request('POST', '/api/conversations', { member_ids: memberIds, ...(title ? { title } : {}) }),

  listMessages: (conversationId, before, limit = 30) =>
    request('GET', `/api/conversations/${conversationId}/messages${query({ before, limit })}`),
  sendMessage: (conversationId, payload, { signal } = {}) =>
    request('POST', `/api/conversations/${conversationId}/messages`, payload, { signal }),
  markRead: (conversationId, upTo) =>
    request('POST', `/api/conversations/${conversationId}/read`, { up_to: upTo }),

  addReaction: (messageId, emoji) =>
    request('PUT', `/api/messages/${messageId}/reactions/${encodeURIComponent(emoji)}`, {}),
  removeReaction: (messageId, emoji) =>
    request('DELETE', `/api/messages/${messageId}/reactions/${encodeURIComponent(emoji)}`, {}),

  uploadImage,
};
