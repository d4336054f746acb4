// The composer's preview of an attached image: a thumbnail of the local
// file, the upload's progress bar, and on failure the server's message
// with Retry. Remove is always offered.

import { h, icon } from '../dom.js';

/** Returns a file size for people, such as "820 KB" or "3.4 MB". */
export function fileSizeText(bytes) {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1000 * 1000) return `${Math.round(bytes / 1000)} KB`;
  return `${(bytes / (1000 * 1000)).toFixed(1)} MB`;
}

/** Returns the text of an upload failure: the server's message, as a sentence. */
export function uploadErrorText(error) {
  const message = String(error?.message || 'unknown error').trim();
  const sentence = message.charAt(0).toUpperCase() + message.slice(1);
  return /[.!?]$/.test(sentence) ? sentence : `${sentence}.`;
}

/**
 * Creates the preview. show(attachment) switches to an attachment (or
 * hides the preview for null), and update(attachment) follows its progress.
 */
export function createAttachmentPreview({ onRemove, onRetry }) {
  const thumb = h('img', { className: 'attachment-thumb', alt: '' });
  const name = h('span', { className: 'attachment-name' });
  const status = h('span', { className: 'attachment-status' });
  const progress = h('progress', { className: 'attachment-progress', max: 100, value: 0 });
  const failure = h('p', { className: 'attachment-error', role: 'alert' });
  const retryButton = h('button', { type: 'button', className: 'link-button attachment-retry', onclick: () => onRetry() },
    'Retry');
  const removeButton = h('button', {
    type: 'button',
    className: 'icon-button attachment-remove',
    'aria-label': 'Remove image',
    title: 'Remove image',
    onclick: () => onRemove(),
  }, icon('close'));
  // Announces the end of an upload once, where the progress bar is silent.
  const announcer = h('span', { className: 'visually-hidden', role: 'status' });

  const element = h('div', { className: 'attachment-preview', role: 'group', 'aria-label': 'Attached image', hidden: true },
    thumb,
    h('div', { className: 'attachment-info' },
      h('div', { className: 'attachment-line' }, name, status),
      progress,
      failure),
    retryButton,
    removeButton,
    announcer);

  let current = null;
  let lastState = null;

  function update(attachment) {
    if (attachment !== current) return;
    const percent = Math.round(attachment.progress * 100);
    progress.value = percent;
    progress.setAttribute('aria-label', `Upload of ${attachment.file.name || 'the image'}`);
    progress.hidden = attachment.state !== 'uploading';
    element.dataset.state = attachment.state;

    if (attachment.state === 'uploading') {
      status.textContent = `Uploading… ${percent}%`;
    } else if (attachment.state === 'uploaded') {
      status.textContent = 'Ready to send';
    } else {
      status.textContent = '';
    }

    const failed = attachment.state === 'failed';
    const failureText = failed ? `Upload failed: ${uploadErrorText(attachment.error)}` : '';
    if (failure.textContent !== failureText) failure.textContent = failureText;
    retryButton.hidden = !failed || attachment.error?.retryable === false;

    if (attachment.state !== lastState) {
      lastState = attachment.state;
      announcer.textContent = attachment.state === 'uploaded' ? 'Image uploaded.' : '';
    }
  }

  return {
    element,

    show(attachment) {
      current = attachment;
      lastState = null;
      element.hidden = !attachment;
      if (!attachment) {
        thumb.removeAttribute('src');
        return;
      }
      thumb.src = attachment.previewUrl;
      name.textContent = `${attachment.file.name || 'Pasted image'} · ${fileSizeText(attachment.file.size)}`;
      name.title = attachment.file.name || '';
      update(attachment);
    },

    update,
  };
}
