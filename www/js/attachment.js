// An image chosen for a message. Its upload starts at once and runs while
// the user writes a caption. Its local size is read in parallel, so a
// placeholder of the right shape can show before the server replies. The
// composer shows the attachment, and after Enter the sender waits for it.

/**
 * Returns { width, height } of an image file, decoded locally, or null when
 * this browser cannot decode it. createImageBitmap applies the EXIF
 * orientation in current browsers, as the server's re-encoding does.
 */
export async function measureImage(file) {
  if (typeof createImageBitmap === 'function') {
    try {
      const bitmap = await createImageBitmap(file);
      const size = { width: bitmap.width, height: bitmap.height };
      bitmap.close();
      return size;
    } catch {
      // Some formats (SVG among them) only decode through an <img>.
    }
  }
  const url = URL.createObjectURL(file);
  try {
    const image = new Image();
    image.src = url;
    await image.decode();
    return image.naturalWidth > 0 ? { width: image.naturalWidth, height: image.naturalHeight } : null;
  } catch {
    return null;
  } finally {
    URL.revokeObjectURL(url);
  }
}

/**
 * Returns true when retrying the failed request may succeed: network
 * failures, timeouts, rate limits and server errors. The file itself is
 * the problem on 400, 413 and 415, so those are final.
 */
export function isRetryable(error) {
  const status = error?.status ?? 0;
  return status === 0 || status === 408 || status === 429 || status >= 500;
}

/** Returns the files of a paste or drop; with `imagesOnly`, only image/* ones. */
export function filesOf(dataTransfer, { imagesOnly = false } = {}) {
  const files = [...(dataTransfer?.files || [])];
  return imagesOnly ? files.filter((file) => file.type.startsWith('image/')) : files;
}

/**
 * Creates an attachment for `file` and starts its upload with
 * upload(file, { onProgress, signal }), which returns the API's image.
 *
 * state is "uploading", "uploaded", "failed" or "cancelled". Listeners
 * passed to subscribe() run after every change, progress included.
 */
export function createAttachment(file, { upload, measure = measureImage }) {
  const listeners = new Set();
  let controller = null;
  let waiters = [];

  const attachment = {
    file,
    previewUrl: URL.createObjectURL(file),
    /** The locally decoded { width, height }, or null. */
    localSize: null,
    /** True once the local decode has finished, successfully or not. */
    measured: false,
    state: 'uploading',
    loaded: 0,
    total: file.size,
    /** The API's image object once uploaded. */
    image: null,
    /** The last upload error: an ApiError or Error. */
    error: null,

    /** Returns the upload's progress from 0 to 1. */
    get progress() {
      if (this.state === 'uploaded') return 1;
      return this.total > 0 ? Math.min(1, this.loaded / this.total) : 0;
    },

    /** Returns the best known { width, height }: the server's, else the local one, else null. */
    get size() {
      if (this.image) return { width: this.image.width, height: this.image.height };
      return this.localSize;
    },

    /** Returns true when the attachment can go into a message now or once its upload ends. */
    get sendable() {
      return (this.measured || this.state === 'uploaded') && (this.state === 'uploading' || this.state === 'uploaded');
    },

    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    /**
     * Returns a promise of the API's image: resolved at once if uploaded,
     * else when the running upload succeeds. It rejects with the error of
     * that upload, or with an AbortError once cancelled.
     */
    uploaded() {
      if (this.state === 'uploaded') return Promise.resolve(this.image);
      if (this.state === 'failed') return Promise.reject(this.error);
      if (this.state === 'cancelled') return Promise.reject(cancelledError());
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
    },

    /** Starts the upload again after a failure. */
    retry() {
      if (this.state !== 'failed') return;
      startUpload();
    },

    /** Stops the upload and frees the preview; the attachment is then unusable. */
    cancel() {
      if (this.state === 'cancelled') return;
      controller?.abort();
      this.state = 'cancelled';
      settle((waiter) => waiter.reject(cancelledError()));
      changed();
      this.release();
    },

    /** Frees the local preview, once the stored message shows the server's copy. */
    release() {
      if (this.previewUrl) URL.revokeObjectURL(this.previewUrl);
      this.previewUrl = null;
      listeners.clear();
    },
  };

  function changed() {
    for (const listener of [...listeners]) listener(attachment);
  }

  function settle(action) {
    const pending = waiters;
    waiters = [];
    for (const waiter of pending) action(waiter);
  }

  async function startUpload() {
    const own = new AbortController();
    controller = own;
    attachment.state = 'uploading';
    attachment.error = null;
    attachment.loaded = 0;
    changed();
    try {
      const image = await upload(file, {
        signal: own.signal,
        onProgress: (loaded, total) => {
          if (controller !== own) return;
          attachment.loaded = loaded;
          attachment.total = total || file.size;
          changed();
        },
      });
      if (controller !== own || attachment.state === 'cancelled') return;
      attachment.image = image;
      attachment.state = 'uploaded';
      settle((waiter) => waiter.resolve(image));
    } catch (error) {
      if (controller !== own || attachment.state === 'cancelled') return;
      error.retryable = isRetryable(error);
      attachment.error = error;
      attachment.state = 'failed';
      settle((waiter) => waiter.reject(error));
    }
    changed();
  }

  measure(file)
    .catch(() => null)
    .then((size) => {
      attachment.localSize = size;
      attachment.measured = true;
      if (attachment.state !== 'cancelled') changed();
    });
  startUpload();
  return attachment;
}

function cancelledError() {
  return new DOMException('The upload was cancelled.', 'AbortError');
}
