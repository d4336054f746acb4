// The message composer: a growing textarea where Enter sends and
// Shift+Enter breaks the line, with a draft kept per conversation.

import { h, icon } from '../dom.js';

export const MAX_BODY_CHARACTERS = 4000;
const MAX_ROWS_HEIGHT_PX = 160;

/**
 * Creates the composer. onSend(text) posts a message, and onInput(text) reports
 * each edit (for the typing state).
 */
export function createComposer({ onSend, onInput }) {
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
    'Enter sends, Shift+Enter starts a new line.');
  const error = h('p', { id: 'composer-error', className: 'composer-error', role: 'alert' });
  const sendButton = h('button', { type: 'submit', className: 'send-button', 'aria-label': 'Send', title: 'Send' },
    icon('send'));

  // Place for the image upload control: it uploads with POST /api/uploads
  // and then calls sender.send(conversationId, { imageId, image }).
  const tools = h('div', { className: 'composer-tools', 'data-slot': 'upload' });

  const form = h('form', { className: 'composer', 'aria-label': 'Write a message' },
    tools, input, hint, sendButton, error);

  const drafts = new Map();
  let conversationId = null;

  function resize() {
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, MAX_ROWS_HEIGHT_PX)}px`;
  }

  function updateState() {
    const length = [...input.value].length;
    sendButton.disabled = !input.value.trim() || length > MAX_BODY_CHARACTERS;
    error.textContent = length > MAX_BODY_CHARACTERS
      ? `Messages can have at most ${MAX_BODY_CHARACTERS} characters; this one has ${length}.`
      : '';
  }

  function submit() {
    const text = input.value;
    if (!text.trim() || [...text].length > MAX_BODY_CHARACTERS) return;
    onSend(text);
    input.value = '';
    drafts.delete(conversationId);
    resize();
    updateState();
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
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    submit();
    input.focus();
  });

  updateState();

  return {
    element: form,
    tools,

    /** Switches to another conversation, saving and restoring drafts. */
    setConversation(nextId) {
      if (nextId === conversationId) return;
      if (conversationId != null) {
        if (input.value) drafts.set(conversationId, input.value);
        else drafts.delete(conversationId);
      }
      conversationId = nextId;
      input.value = drafts.get(nextId) || '';
      resize();
      updateState();
    },

    focus() {
      input.focus({ preventScroll: true });
    },

    clearDrafts() {
      drafts.clear();
      input.value = '';
      resize();
      updateState();
    },
  };
}
