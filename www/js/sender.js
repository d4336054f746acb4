// Optimistic sending. A message shows at once under a new client_id. The
// REST reply or the sender's own socket `message` event, whichever comes
// first, replaces it with the stored message (the store keys both by
// client_id, so it never shows twice). A failure keeps the text for Retry,
// which posts the same client_id so the server stores the message once.
//
// A message with an image whose upload is still running shows a
// placeholder of the image's size and is posted when the upload ends. A
// failed upload fails the message; Retry uploads again and then posts
// under the same client_id.

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
  // Returns true when the message ends up stored, by this reply or by an
  // earlier socket event.
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
    return store.pending(conversationId, clientId)?.id != null;
  }

  function payloadOf(message) {
    const payload = {};
    if (message.body) payload.body = message.body;
    if (message.image_id != null) payload.image_id = message.image_id;
    return payload;
  }

  // Waits for the message's upload, then posts it. A cancelled upload means
  // the message was discarded, so nothing is left to mark.
  async function postAfterUpload(conversationId, clientId, attachment) {
    let image;
    try {
      image = await attachment.uploaded();
    } catch (error) {
      if (error.name !== 'AbortError') store.markSendFailed(conversationId, clientId, error);
      return;
    }
    const message = store.pending(conversationId, clientId);
    if (!message || message.id != null) return;
    store.setPendingImage(conversationId, clientId, { imageId: image.id, image: previewImage(attachment) });
    if (await post(conversationId, clientId, payloadOf({ body: message.body, image_id: image.id }))) {
      attachment.release();
    }
  }

  return {
    /**
     * Shows and posts a new message with a body, an image, or both. The
     * image is either `imageId` with its `image` object, already uploaded,
     * or an `attachment` (see attachment.js) that may still be uploading.
     * Returns the client_id.
     */
    send(conversationId, { body = null, imageId = null, image = null, attachment = null }) {
      const clientId = newClientId();
      if (attachment) {
        store.addPending(conversationId, {
          clientId,
          body,
          imageId: attachment.image?.id ?? null,
          image: previewImage(attachment),
          attachment,
        });
        postAfterUpload(conversationId, clientId, attachment);
        return clientId;
      }
      store.addPending(conversationId, { clientId, body, imageId, image });
      post(conversationId, clientId, payloadOf({ body, image_id: imageId }));
      return clientId;
    },

    /**
     * Sends a failed message again under its original client_id, uploading
     * its image first when that upload is what failed.
     */
    retry(conversationId, clientId) {
      const message = store.pending(conversationId, clientId);
      if (!message || message.status !== 'failed') return;
      store.markSending(conversationId, clientId);
      if (message.image_id == null && message.attachment) {
        message.attachment.retry();
        postAfterUpload(conversationId, clientId, message.attachment);
        return;
      }
      post(conversationId, clientId, payloadOf(message)).then((stored) => {
        if (stored) message.attachment?.release();
      });
    },

    discard(conversationId, clientId) {
      const message = store.pending(conversationId, clientId);
      if (!message || message.id != null) return;
      store.discardPending(conversationId, clientId);
      message.attachment?.cancel();
    },
  };
}

/**
 * Returns the image object a pending message shows: the local preview, at
 * the server's size once known, else at the locally decoded size. `local`
 * marks that there is no full image to open yet.
 */
export function previewImage(attachment) {
  const size = attachment.size;
  return {
    id: attachment.image?.id ?? null,
    url: attachment.previewUrl,
    thumb_url: attachment.previewUrl,
    width: size?.width ?? null,
    height: size?.height ?? null,
    local: true,
  };
}
