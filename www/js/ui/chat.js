// The chat pane: header with presence or typing, the message list with
// infinite scroll upward, the "new messages" button, the typing line and
// the composer. An image pasted anywhere in the pane or dropped on it goes
// to the composer, as one chosen with its attach button does.

import { h, icon, reconcile, replaceChildren } from '../dom.js';
import { conversationName, presenceText, typingText } from '../format.js';
import { createReadTracker } from '../reader.js';
import { filesOf } from '../attachment.js';
import { messageKey } from '../store.js';
import { conversationAvatar } from './avatar.js';
import { createComposer } from './composer.js';
import { messageItems } from './messages.js';
import { createImageViewer } from './viewer.js';

export const PAGE_SIZE = 30;
/** Distance from the top, in pixels, at which the next older page loads. */
const LOAD_OLDER_MARGIN_PX = 400;
/** Distance from the bottom, in pixels, that still counts as "at the bottom". */
const STICK_MARGIN_PX = 48;

/**
 * Creates the chat pane inside `root`. onBack() returns to the list on
 * narrow screens, and notify(text) shows an error to the user.
 */
export function createChatView({ root, store, api, sender, typingSender, onBack, notify }) {
  const backButton = h('button', {
    type: 'button',
    className: 'icon-button back-button',
    'aria-label': 'Back to conversations',
    onclick: onBack,
  }, icon('back'));
  const headerAvatar = h('span', { className: 'header-avatar' });
  const title = h('h2', { className: 'chat-title', id: 'chat-title' });
  const subtitle = h('p', { className: 'chat-subtitle', 'aria-live': 'polite' });
  const header = h('header', { className: 'chat-header' },
    backButton, headerAvatar, h('div', { className: 'chat-heading' }, title, subtitle));

  const historyStatus = h('div', { className: 'history-status', role: 'status' });
  const list = h('ol', { className: 'message-list' });
  const scroller = h('div', {
    className: 'messages',
    role: 'log',
    tabindex: '0',
    'aria-labelledby': 'chat-title',
    'aria-relevant': 'additions',
  }, historyStatus, list);

  const newMessagesButton = h('button', {
    type: 'button',
    className: 'new-messages-button',
    hidden: true,
    onclick: () => scrollToBottom(true),
  }, h('span', { className: 'new-messages-label' }, 'New messages'), icon('down'));

  const typingLine = h('div', { className: 'typing-line', 'aria-live': 'polite' });

  const composer = createComposer({
    onSend: ({ text, attachment }) => {
      if (conversationId == null) {
        attachment?.cancel();
        return;
      }
      typingSender.stop();
      sender.send(conversationId, { body: text || null, attachment });
      stickNextRender = true;
    },
    onInput: (text) => {
      if (conversationId != null) typingSender.input(conversationId, text);
    },
    upload: api.uploadImage,
  });
  const viewer = createImageViewer();

  const dropZone = h('div', { className: 'drop-zone', hidden: true, 'aria-hidden': 'true' },
    icon('image'), h('span', {}, 'Drop the image to attach it'));

  const placeholder = h('div', { className: 'chat-placeholder' },
    h('div', { className: 'placeholder-art', 'aria-hidden': 'true' }, '💬'),
    h('p', { className: 'placeholder-text' }, 'Pick a conversation or start a new one.'));

  const body = h('div', { className: 'chat-body', hidden: true },
    header, h('div', { className: 'messages-wrap' }, scroller, newMessagesButton), typingLine, composer.element, dropZone);
  replaceChildren(root, placeholder, body);

  const reader = createReadTracker({ store, api, root: scroller });

  let conversationId = null;
  let pickerKey = null;
  let loadingOlder = false;
  let loadError = null;
  let keepBottomOffset = false;
  let stickNextRender = false;
  let lastRenderedKey = null;
  let unseenNew = 0;

  // ---- history loading ------------------------------------------------------

  async function loadFirstPage(target) {
    loadError = null;
    try {
      const page = await api.listMessages(target, null, PAGE_SIZE);
      store.addMessagesPage(target, page);
      if (target === conversationId) stickNextRender = true;
    } catch (error) {
      if (target !== conversationId) return;
      loadError = error.status === 404 ? 'This conversation does not exist or you are not a member.' : error.message;
      render();
    }
  }

  async function loadOlder() {
    const target = conversationId;
    const history = store.history(target);
    if (loadingOlder || !history.loaded || !history.hasMore || history.cursor == null) return;
    loadingOlder = true;
    renderHistoryStatus();
    try {
      const page = await api.listMessages(target, history.cursor, PAGE_SIZE);
      if (target !== conversationId) return;
      keepBottomOffset = true;
      store.addMessagesPage(target, page, { older: true });
    } catch (error) {
      notify(`Loading older messages failed: ${error.message}`);
    } finally {
      loadingOlder = false;
      if (target === conversationId) renderHistoryStatus();
    }
  }

  function checkLoadOlder() {
    if (conversationId != null && scroller.scrollTop < LOAD_OLDER_MARGIN_PX) loadOlder();
  }

  scroller.addEventListener('scroll', () => {
    // A resize keeps the view at the bottom only while it is there, so a
    // user who scrolled up since the last render stays where they are.
    wasAtBottom = isAtBottom();
    checkLoadOlder();
    if (isAtBottom()) {
      unseenNew = 0;
      newMessagesButton.hidden = true;
    }
  }, { passive: true });

  // ---- scrolling --------------------------------------------------------------

  function isAtBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight <= STICK_MARGIN_PX;
  }

  function scrollToBottom(smooth = false) {
    scroller.scrollTo({ top: scroller.scrollHeight, behavior: smooth ? 'smooth' : 'instant' });
    unseenNew = 0;
    newMessagesButton.hidden = true;
  }

  // Returns the key of the first message row at least partly inside the
  // view and its distance from the top of the view, so that render() can
  // keep that row in place. The key, not the element: a render replaces
  // the element of a row whose content changed. Day separators are
  // skipped because a page of older messages moves them.
  function findAnchor() {
    const top = scroller.scrollTop;
    for (const row of list.children) {
      if (!row.classList.contains('message-row')) continue;
      if (row.offsetTop + row.offsetHeight > top) return { key: row.dataset.key, offset: row.offsetTop - top };
    }
    return null;
  }

  function rowWithKey(key) {
    for (const row of list.children) {
      if (row.dataset.key === key) return row;
    }
    return null;
  }

  // Keeps the view at the bottom while the pane resizes (keyboard, window).
  let wasAtBottom = true;
  new ResizeObserver(() => {
    if (wasAtBottom) scroller.scrollTop = scroller.scrollHeight;
  }).observe(scroller);

  // ---- rendering ------------------------------------------------------------

  function renderHeader(conversation, now) {
    const others = store.otherMembers(conversation);
    title.textContent = conversationName(conversation, others);
    replaceChildren(headerAvatar, conversationAvatar(conversation, others, { size: 'md' }));

    const typingUsers = store.typingUserIds(conversation.id, now.getTime()).map((id) => store.user(id)).filter(Boolean);
    let text;
    if (typingUsers.length) {
      text = conversation.kind === 'direct' ? 'typing…' : typingText(typingUsers);
    } else if (conversation.kind === 'direct') {
      text = presenceText(others[0], now);
    } else {
      const online = others.filter((user) => user.online).length;
      text = `${others.length + 1} members${online ? `, ${online} online` : ''}`;
    }
    if (subtitle.textContent !== text) subtitle.textContent = text;
    subtitle.classList.toggle('typing', typingUsers.length > 0);
    subtitle.classList.toggle('online', !typingUsers.length && conversation.kind === 'direct' && Boolean(others[0]?.online));

    const typingLabel = typingText(typingUsers);
    if (typingLine.dataset.text !== typingLabel) {
      typingLine.dataset.text = typingLabel;
      replaceChildren(typingLine, typingLabel
        ? [h('span', { className: 'typing-dots', 'aria-hidden': 'true' }, h('span'), h('span'), h('span')), typingLabel]
        : null);
    }
  }

  function renderHistoryStatus() {
    const history = store.history(conversationId);
    let text = '';
    if (loadError) text = loadError;
    else if (!history.loaded || loadingOlder) text = 'Loading messages…';
    else if (!history.hasMore) text = store.messages(conversationId).length ? 'This is the beginning of the conversation.' : 'No messages yet. Say hello!';
    if (historyStatus.textContent !== text) historyStatus.textContent = text;
    historyStatus.classList.toggle('error', Boolean(loadError));
  }

  function renderMessages(conversation, now) {
    const messages = store.messages(conversation.id);
    const items = messageItems(messages, {
      store,
      conversation,
      now,
      pickerKey,
      onReact: toggleReaction,
      onTogglePicker: togglePicker,
      onRetry: (message) => sender.retry(conversation.id, message.client_id),
      onDiscard: (message) => sender.discard(conversation.id, message.client_id),
      onOpenImage: openImage,
    });

    const atBottom = isAtBottom();
    const distanceFromBottom = scroller.scrollHeight - scroller.scrollTop;
    const anchor = findAnchor();
    const readUpTo = conversation.last_read_message_id ?? 0;

    reconcile(list, items, {
      onRemove: (element) => reader.unobserve(element),
      onCreate: (element, item) => {
        const message = item.message;
        if (message && message.id != null && message.sender_id !== store.me?.id && message.id > readUpTo) {
          reader.observe(element, message.id);
        }
      },
    });

    const last = messages[messages.length - 1];
    const lastKey = last ? messageKey(last) : null;
    const appended = lastKey !== lastRenderedKey && lastRenderedKey !== null;
    lastRenderedKey = lastKey;

    const anchorRow = anchor ? rowWithKey(anchor.key) : null;
    if (stickNextRender || (atBottom && !keepBottomOffset)) {
      scroller.scrollTop = scroller.scrollHeight;
      unseenNew = 0;
    } else if (anchorRow) {
      scroller.scrollTop = anchorRow.offsetTop - anchor.offset;
    } else if (keepBottomOffset) {
      scroller.scrollTop = scroller.scrollHeight - distanceFromBottom;
    }
    if (!stickNextRender && !atBottom && appended && last.sender_id !== store.me?.id) unseenNew += 1;
    stickNextRender = false;
    keepBottomOffset = false;
    wasAtBottom = isAtBottom();
    newMessagesButton.hidden = unseenNew === 0 || wasAtBottom;
    newMessagesButton.setAttribute('aria-label', `${unseenNew} new ${unseenNew === 1 ? 'message' : 'messages'}, scroll to the newest`);
  }

  function render() {
    const conversation = conversationId != null ? store.conversation(conversationId) : null;
    placeholder.hidden = conversation != null || conversationId != null;
    body.hidden = conversationId == null;
    if (conversationId == null) return;
    if (!conversation) {
      title.textContent = 'Conversation';
      subtitle.textContent = '';
      renderHistoryStatus();
      return;
    }

    const now = new Date();
    renderHeader(conversation, now);
    renderMessages(conversation, now);
    renderHistoryStatus();
    if (store.history(conversationId).loaded) checkLoadOlder();
  }

  // ---- images ------------------------------------------------------------------

  // Attaches the first of `files`; a message carries one image.
  function attachFiles(files) {
    if (conversationId == null || files.length === 0) return;
    if (files.length > 1) notify('A message can carry one image, so only the first file was attached.');
    composer.attach(files[0]);
    composer.focus();
  }

  function openImage(message, alt) {
    const key = messageKey(message);
    viewer.open(message.image, {
      alt,
      caption: message.body || '',
      focusTarget: () => list.querySelector(`[data-key="${CSS.escape(key)}"] .message-image`),
    });
  }

  // Pasted files that are images attach; anything else pastes as usual.
  body.addEventListener('paste', (event) => {
    const files = filesOf(event.clipboardData, { imagesOnly: true });
    if (files.length === 0) return;
    event.preventDefault();
    attachFiles(files);
  });

  const carriesFiles = (event) => [...(event.dataTransfer?.types || [])].includes('Files');
  // dragenter and dragleave fire for every child crossed, so a counter
  // detects when the pointer has really left the pane.
  let dragDepth = 0;
  body.addEventListener('dragenter', (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    dragDepth += 1;
    dropZone.hidden = false;
  });
  body.addEventListener('dragover', (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = 'copy';
  });
  body.addEventListener('dragleave', (event) => {
    if (!carriesFiles(event)) return;
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0) dropZone.hidden = true;
  });
  body.addEventListener('drop', (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    dragDepth = 0;
    dropZone.hidden = true;
    attachFiles(filesOf(event.dataTransfer));
  });
  // A file dropped anywhere else would replace the app with the file.
  for (const type of ['dragover', 'drop']) {
    window.addEventListener(type, (event) => {
      if (carriesFiles(event) && !body.contains(event.target)) event.preventDefault();
    });
  }

  // ---- reactions ----------------------------------------------------------------

  function togglePicker(message, { restoreFocus = false } = {}) {
    const previous = pickerKey;
    pickerKey = message && messageKey(message) !== pickerKey ? messageKey(message) : null;
    render();
    if (pickerKey) {
      list.querySelector('.reaction-picker button')?.focus({ preventScroll: true });
    } else if (restoreFocus && previous) {
      list.querySelector(`[data-picker-for="${CSS.escape(previous)}"]`)?.focus({ preventScroll: true });
    }
  }

  async function toggleReaction(message, emoji) {
    if (message.id == null) return;
    const current = store.messages(message.conversation_id).find((item) => item.id === message.id) || message;
    const had = (current.my_reactions || []).includes(emoji);
    const previousReactions = { ...current.reactions };
    const previousMine = [...(current.my_reactions || [])];

    // Shows the change at once, then the reply sets the server's counts.
    const optimistic = { ...current.reactions };
    optimistic[emoji] = Math.max(0, (optimistic[emoji] || 0) + (had ? -1 : 1));
    if (optimistic[emoji] === 0) delete optimistic[emoji];
    const optimisticMine = had ? previousMine.filter((item) => item !== emoji) : [...previousMine, emoji];
    store.setReactions(message.id, optimistic, optimisticMine);

    try {
      const reply = had ? await api.removeReaction(message.id, emoji) : await api.addReaction(message.id, emoji);
      store.setReactions(message.id, reply.reactions, reply.my_reactions);
    } catch (error) {
      store.setReactions(message.id, previousReactions, previousMine);
      notify(`Reaction failed: ${error.message}`);
    }
  }

  document.addEventListener('click', (event) => {
    if (!pickerKey) return;
    if (event.target.closest('.reaction-picker, .react-button')) return;
    pickerKey = null;
    render();
  });

  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && pickerKey) togglePicker(null, { restoreFocus: true });
  });

  // ---- public interface ---------------------------------------------------------

  return {
    render,

    get conversationId() {
      return conversationId;
    },

    /** Shows a conversation, or the placeholder for null. */
    open(nextId, { focus = true } = {}) {
      if (nextId === conversationId) return;
      typingSender.stop();
      viewer.close();
      conversationId = nextId;
      pickerKey = null;
      loadError = null;
      lastRenderedKey = null;
      unseenNew = 0;
      stickNextRender = true;
      reader.reset(nextId);
      replaceChildren(list);
      composer.setConversation(nextId);

      if (nextId != null && !store.history(nextId).loaded) loadFirstPage(nextId);
      render();
      if (nextId != null && focus) composer.focus();
    },

    /** Fetches the open conversation's newest page again and merges it. */
    refresh() {
      if (conversationId == null) return;
      const target = conversationId;
      api.listMessages(target, null, PAGE_SIZE)
        .then((page) => store.addMessagesPage(target, page))
        .catch((error) => console.warn(`Refreshing conversation ${target} failed: ${error.message}`));
    },

    /** Reloads the open conversation's first page, after a resync. */
    reload() {
      if (conversationId == null) return;
      lastRenderedKey = null;
      stickNextRender = true;
      reader.reset(conversationId);
      replaceChildren(list);
      loadFirstPage(conversationId);
    },

    clear() {
      viewer.close();
      composer.clearDrafts();
      this.open(null, { focus: false });
    },
  };
}
