// Optimistic sending. A message shows at once under a new client_id. The
// REST reply or the sender's own socket `message` event, whichever comes
// first, replaces it with the stored message (the store keys both by
// client_id, so it never shows twice). A failure keeps the text for Retry,
// which posts the same client_id so the server stores the message once.

/** A request that has had no response after this long counts as failed. */
export const SEND_TIMEOUT_MS = 15000;

/** Returns a random RFC 4122 version 4 UUID. */
export function newClientId() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();

  // crypto.randomUUID exists only in secure contexts (HTTPS or localhost);
  // an install served over plain HTTP still has getRandomValues.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Creates the sender for a store and an api object with sendMessage(). */
export function createSender({ store, api, timeoutMs = SEND_TIMEOUT_MS }) {
  async function post(conversationId, clientId, payload) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      const reply = await api.sendMessage(conversationId, { client_id: clientId, ...payload }, { signal: controller.signal });
      store.upsertMessage({ client_id: clientId, ...reply.message });
    } catch (error) {
      const reason = error.name === 'AbortError'
        ? new Error('The server did not answer in time.')
        : error;
      store.markSendFailed(conversationId, clientId, reason);
    } finally {
      clearTimeout(timer);
    }
  }

  function payloadOf(message) {
    const payload = {};
    if (message.body) payload.body = message.body;
    if (message.image_id != null) payload.image_id = message.image_id;
    return payload;
  }

  return {
    /**
     * Shows and posts a new message with a body, an uploaded image id, or
     * both. `image` is the upload's image object, shown while pending.
     * Returns the client_id.
     */
    send(conversationId, { body = null, imageId = null, image = null }) {
      const clientId = newClientId();
      store.addPending(conversationId, { clientId, body, imageId, image });
      post(conversationId, clientId, payloadOf({ body, image_id: imageId }));
      return clientId;
    },

    /** Posts a failed message again under its original client_id. */
    retry(conversationId, clientId) {
      const message = store.pending(conversationId, clientId);
      if (!message || message.status !== 'failed') return;
      store.markSending(conversationId, clientId);
      post(conversationId, clientId, payloadOf(message));
    },

    discard(conversationId, clientId) {
      store.discardPending(conversationId, clientId);
    },
  };
}
