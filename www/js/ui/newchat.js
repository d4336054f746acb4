// The "new chat" dialog: search users by username prefix, pick one for a
// direct chat or several plus a title for a group.

import { h, icon, replaceChildren } from '../dom.js';
import { userAvatar } from './avatar.js';

const SEARCH_DELAY_MS = 200;
const MAX_TITLE_CHARACTERS = 100;

/**
 * Creates the dialog. open() shows it, and onCreated(conversation) receives the
 * conversation that POST /api/conversations returned.
 */
export function createNewChatDialog({ api, store, onCreated }) {
  const search = h('input', {
    id: 'new-chat-search',
    type: 'search',
    className: 'search-input',
    placeholder: 'Search by username',
    autocomplete: 'off',
    autocapitalize: 'none',
    spellcheck: 'false',
    'aria-controls': 'new-chat-results',
  });
  const chips = h('div', { className: 'chips', 'aria-label': 'Selected people', role: 'list' });
  const results = h('ul', { id: 'new-chat-results', className: 'user-results', 'aria-label': 'Search results' });
  const status = h('p', { className: 'dialog-status', role: 'status' });
  const titleInput = h('input', { id: 'new-chat-title', type: 'text', maxlength: String(MAX_TITLE_CHARACTERS) });
  const titleField = h('div', { className: 'field', hidden: true },
    h('label', { for: 'new-chat-title' }, 'Group name'), titleInput);
  const error = h('p', { className: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', className: 'button primary', disabled: true }, 'Start chat');
  const closeButton = h('button', { type: 'button', className: 'icon-button', 'aria-label': 'Close', onclick: () => close() },
    icon('close'));

  const form = h('form', { className: 'dialog-form' },
    h('header', { className: 'dialog-header' }, h('h2', { id: 'new-chat-heading' }, 'New chat'), closeButton),
    h('label', { className: 'search-field', for: 'new-chat-search' },
      icon('search'), h('span', { className: 'visually-hidden' }, 'Search people'), search),
    chips,
    status,
    results,
    titleField,
    error,
    h('footer', { className: 'dialog-footer' }, submit));
  const dialog = h('dialog', { className: 'dialog', 'aria-labelledby': 'new-chat-heading' }, form);
  document.body.appendChild(dialog);

  const selected = new Map();
  let lastUsers = [];
  let searchTimer = null;
  let searchController = null;
  let busy = false;

  search.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(runSearch, SEARCH_DELAY_MS);
  });
  titleInput.addEventListener('input', updateSubmit);
  dialog.addEventListener('close', () => searchController?.abort());

  async function runSearch() {
    const prefix = search.value.trim();
    searchController?.abort();
    if (!prefix) {
      lastUsers = [];
      status.textContent = 'Type the start of a username.';
      renderResults();
      return;
    }
    const controller = new AbortController();
    searchController = controller;
    status.textContent = 'Searching…';
    try {
      const reply = await api.searchUsers(prefix, controller.signal);
      if (controller !== searchController) return;
      lastUsers = reply.users || [];
      store.upsertUsers(lastUsers);
      status.textContent = lastUsers.length ? `${lastUsers.length} found` : `No user starts with “${prefix}”.`;
    } catch (failure) {
      if (failure.name === 'AbortError') return;
      lastUsers = [];
      status.textContent = `Search failed: ${failure.message}`;
    }
    renderResults();
  }

  function renderResults() {
    replaceChildren(results, lastUsers.map((user) => {
      const id = `new-chat-user-${user.id}`;
      const checkbox = h('input', {
        type: 'checkbox',
        id,
        checked: selected.has(user.id),
        onchange: () => toggle(user, checkbox.checked),
      });
      return h('li', {},
        h('label', { className: 'user-result', for: id },
          checkbox,
          userAvatar(user, { size: 'sm', presence: true }),
          h('span', { className: 'user-result-text' },
            h('span', { className: 'user-result-name' }, user.display_name),
            h('span', { className: 'user-result-username' }, `@${user.username}`))));
    }));
  }

  function toggle(user, on) {
    if (on) selected.set(user.id, user);
    else selected.delete(user.id);
    renderChips();
    updateSubmit();
  }

  function renderChips() {
    replaceChildren(chips, [...selected.values()].map((user) => h('span', { className: 'chip', role: 'listitem' },
      user.display_name,
      h('button', {
        type: 'button',
        className: 'chip-remove',
        'aria-label': `Remove ${user.display_name}`,
        onclick: () => {
          toggle(user, false);
          renderResults();
          search.focus();
        },
      }, icon('close')))));
  }

  function updateSubmit() {
    const count = selected.size;
    titleField.hidden = count < 2;
    titleInput.required = count >= 2;
    submit.textContent = count >= 2 ? 'Create group' : 'Start chat';
    const titleLength = [...titleInput.value.trim()].length;
    submit.disabled = busy || count === 0 || (count >= 2 && (titleLength < 1 || titleLength > MAX_TITLE_CHARACTERS));
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (submit.disabled) return;
    const memberIds = [...selected.keys()];
    const title = memberIds.length >= 2 ? titleInput.value.trim() : null;
    busy = true;
    error.textContent = '';
    updateSubmit();
    try {
      const reply = await api.createConversation(memberIds, title);
      close();
      onCreated(reply.conversation);
    } catch (failure) {
      error.textContent = failure.code === 'user_not_found'
        ? 'One of these people no longer exists. Search again.'
        : `Could not start the chat: ${failure.message}`;
    } finally {
      busy = false;
      updateSubmit();
    }
  });

  function close() {
    if (dialog.open) dialog.close();
  }

  return {
    open() {
      selected.clear();
      lastUsers = [];
      search.value = '';
      titleInput.value = '';
      error.textContent = '';
      status.textContent = 'Type the start of a username.';
      renderChips();
      renderResults();
      updateSubmit();
      dialog.showModal();
      search.focus();
    },
    close,
  };
}
