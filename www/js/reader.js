// Read receipts. A message from someone else counts as read only while at
// least READ_VISIBLE_RATIO of it (or of the viewport, for a message taller
// than the viewport) is inside the message pane and the tab is visible.
// Newly read messages are collected for READ_BATCH_MS and then sent as one
// read cursor: POST /api/conversations/{id}/read {up_to}.

export const READ_VISIBLE_RATIO = 0.6;
export const READ_BATCH_MS = 300;
const RETRY_MS = 5000;

/**
 * Creates a tracker for the message pane `root`. observe(element, messageId)
 * registers an unread message element, and reset(conversationId) starts over for
 * another conversation.
 */
export function createReadTracker({ store, api, root }) {
  const visibleIds = new Map();
  // The highest id seen on screen while the tab was visible and not yet sent.
  // A message scrolled past within one batch still counts as read.
  let seenUpTo = 0;
  let conversationId = null;
  let sentUpTo = 0;
  let timer = null;

  const observer = new IntersectionObserver(handleEntries, {
    root,
    threshold: [0, READ_VISIBLE_RATIO, 1],
  });

  function handleEntries(entries) {
    for (const entry of entries) {
      const id = Number(entry.target.dataset.messageId);
      const rootHeight = entry.rootBounds?.height || root.clientHeight;
      const inView = entry.isIntersecting && (
        entry.intersectionRatio >= READ_VISIBLE_RATIO
        || entry.intersectionRect.height >= rootHeight * READ_VISIBLE_RATIO
      );
      if (inView) visibleIds.set(entry.target, id);
      else visibleIds.delete(entry.target);
    }
    collectVisible();
  }

  function collectVisible() {
    if (document.visibilityState !== 'visible') return;
    for (const id of visibleIds.values()) seenUpTo = Math.max(seenUpTo, id);
    schedule(READ_BATCH_MS);
  }

  function schedule(delay) {
    if (timer || seenUpTo === 0) return;
    timer = setTimeout(flush, delay);
  }

  function flush() {
    timer = null;
    if (conversationId == null) return;

    const conversation = store.conversation(conversationId);
    const readUpTo = Math.max(sentUpTo, conversation?.last_read_message_id ?? 0);
    for (const [element, id] of visibleIds) {
      if (id <= readUpTo) {
        observer.unobserve(element);
        visibleIds.delete(element);
      }
    }
    const upTo = seenUpTo;
    seenUpTo = 0;
    if (upTo <= readUpTo) return;

    const target = conversationId;
    sentUpTo = upTo;
    store.markRead(target, upTo);
    api.markRead(target, upTo).catch((error) => {
      console.warn(`Marking conversation ${target} read up to ${upTo} failed: ${error.message}`);
      if (target === conversationId && sentUpTo === upTo) {
        sentUpTo = 0;
        timer = setTimeout(() => resend(target, upTo), RETRY_MS);
      }
    });
  }

  // The store already counts these messages as read, so a retry only has
  // to repeat the request.
  function resend(target, upTo) {
    timer = null;
    if (target !== conversationId || sentUpTo >= upTo) return;
    sentUpTo = upTo;
    api.markRead(target, upTo).catch((error) => {
      console.warn(`Marking conversation ${target} read up to ${upTo} failed again: ${error.message}`);
    });
  }

  function onVisibilityChange() {
    collectVisible();
  }
  document.addEventListener('visibilitychange', onVisibilityChange);

  return {
    observe(element, messageId) {
      element.dataset.messageId = String(messageId);
      observer.observe(element);
    },

    unobserve(element) {
      observer.unobserve(element);
      visibleIds.delete(element);
    },

    reset(nextConversationId) {
      observer.disconnect();
      visibleIds.clear();
      seenUpTo = 0;
      clearTimeout(timer);
      timer = null;
      conversationId = nextConversationId;
      sentUpTo = 0;
    },
  };
}
