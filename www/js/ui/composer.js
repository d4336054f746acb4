// The message composer: a growing textarea where Enter sends and
// Shift+Enter breaks the line, with a draft kept per conversation. An
// image attached with the button, a paste or a drop uploads at once and
// shows as a preview with its progress. The text then becomes its caption.

import { createAttachment } from '../attachment.js';
import { h, icon } from '../dom.js';
import { createAttachmentPreview } from './attachment.js';

export const MAX_BODY_CHARACTERS = 4000;
const MAX_ROWS_HEIGHT_PX = 160;

/**
 * Creates the composer. onSend({ text, attachment }) posts a message (the
 * attachment, or null, then belongs to the caller), onInput(text) reports
 * each edit (for the typing state), and upload(file, options) is the
 * upload request of api.js.
 */
export function createComposer({ onSend, onInput, upload }) {
  const input = h('textarea', {
    id: 'composer-input',
    className: 'composer-input',
    rows: 1,
    placeholder: 'Message',
    autocomplete: 'off',
    enterkeyhint: 'send',
    'aria-label': 'Message',
    'aria-describedby': 'composer-hint composer-error',
  });
  const hint = h('span', { id: 'composer-hint', className: 'visually-hidden' },
    'Enter sends, Shift+Enter starts a new line. With an image attached, the message is its caption.');
  const error = h('p', { id: 'composer-error', className: 'composer-error', role: 'alert' });
  const sendButton = h('button', { type: 'submit', className: 'send-button', 'aria-label': 'Send', title: 'Send' },
    icon('send'));

  const fileInput = h('input', { type: 'file', accept: 'image/*', hidden: true, tabindex: '-1' });
  const attachButton = h('button', {
    type: 'button',
    className: 'icon-button attach-button',
    'aria-label': 'Attach image',
    title: 'Attach image',
    onclick: () => fileInput.click(),
  }, icon('image'));
  const tools = h('div', { className: 'composer-tools' }, attachButton, fileInput);

  const preview = createAttachmentPreview({
    onRemove: () => {
      removeAttachment();
      input.focus();
    },
    onRetry: () => attachments.get(conversationId)?.retry(),
  });

  const form = h('form', { className: 'composer', 'aria-label': 'Write a message' },
    preview.element, tools, input, hint, sendButton, error);

  const drafts = new Map();
  // The attachment of each conversation's composer, kept like the drafts.
  const attachments = new Map();
  let conversationId = null;
  let unsubscribe = null;
  let blockedByUpload = false;

  function resize() {
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, MAX_ROWS_HEIGHT_PX)}px`;
  }

  function currentAttachment() {
    return attachments.get(conversationId) || null;
  }

  function updateState() {
    const length = [...input.value].length;
    const attachment = currentAttachment();
    const tooLong = length > MAX_BODY_CHARACTERS;
    if (attachment?.state !== 'failed') blockedByUpload = false;

    sendButton.disabled = tooLong || (attachment ? !attachment.sendable : !input.value.trim());
    if (tooLong) {
      error.textContent = `Messages can have at most ${MAX_BODY_CHARACTERS} characters; this one has ${length}.`;
    } else if (blockedByUpload) {
      error.textContent = 'The image did not upload. Retry it or remove it before sending.';
    } else {
      error.textContent = '';
    }
  }

  // Shows the attachment of the open conversation and follows its changes.
  function showAttachment() {
    unsubscribe?.();
    unsubscribe = null;
    const attachment = currentAttachment();
    preview.show(attachment);
    input.placeholder = attachment ? 'Add a caption' : 'Message';
    if (attachment) {
      unsubscribe = attachment.subscribe(() => {
        preview.update(attachment);
        updateState();
      });
    }
    updateState();
  }

  function removeAttachment() {
    const attachment = currentAttachment();
    if (!attachment) return;
    attachments.delete(conversationId);
    attachment.cancel();
    showAttachment();
  }

  /** Attaches `file` to the open conversation's message, replacing an earlier one. */
  function attach(file) {
    if (conversationId == null) return;
    currentAttachment()?.cancel();
    attachments.set(conversationId, createAttachment(file, { upload }));
    showAttachment();
  }

  function submit() {
    const text = input.value;
    const attachment = currentAttachment();
    if ([...text].length > MAX_BODY_CHARACTERS) return;
    if (attachment) {
      if (attachment.state === 'failed') {
        blockedByUpload = true;
        updateState();
        return;
      }
      if (!attachment.sendable) return;
    } else if (!text.trim()) {
      return;
    }

    onSend({ text: text.trim() ? text : '', attachment });
    input.value = '';
    drafts.delete(conversationId);
    // The sender owns the attachment now, so it is forgotten, not cancelled.
    attachments.delete(conversationId);
    showAttachment();
    resize();
  }

  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      submit();
    }
  });
  input.addEventListener('input', () => {
    resize();
    updateState();
    onInput(input.value);
  });
  fileInput.addEventListener('change', () => {
    const file = fileInput.files[0];
    // Cleared so that choosing the same file again fires another change.
    fileInput.value = '';
    if (file) attach(file);
    input.focus();
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    submit();
    input.focus();
  });

  updateState();

  return {
    element: form,
    tools,
    attach,

    /** Switches to another conversation, saving and restoring drafts and attachments. */
    setConversation(nextId) {
      if (nextId === conversationId) return;
      if (conversationId != null) {
        if (input.value) drafts.set(conversationId, input.value);
        else drafts.delete(conversationId);
      }
      conversationId = nextId;
      blockedByUpload = false;
      input.value = drafts.get(nextId) || '';
      resize();
      showAttachment();
    },

    focus() {
      input.focus({ preventScroll: true });
    },

    clearDrafts() {
      drafts.clear();
      for (const attachment of attachments.values()) attachment.cancel();
      attachments.clear();
      input.value = '';
      resize();
      showAttachment();
    },
  };
}
