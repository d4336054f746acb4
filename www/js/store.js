// Client state: users, conversations and the messages of each conversation.
// REST responses fill it and WebSocket events patch it. The module touches
// neither the DOM nor the network, so it runs under node's test runner too.

/** How long another user's typing:true stays shown without a refresh. */
export const TYPING_TIMEOUT_MS = 6000;

/** Reactions the API accepts, in the order the picker shows them. */
export const REACTION_EMOJI = ['🔥', '❤️', '👍', '😂', '😮', '😢'];

/**
 * Orders messages oldest first: stored messages by (created_at, id), which is
 * the server's pagination order, then unsent ones in the order they were typed.
 */
export function compareMessages(a, b) {
  const aStored = a.id != null;
  const bStored = b.id != null;
  if (aStored && bStored) {
    if (a.created_at !== b.created_at) return a.created_at < b.created_at ? -1 : 1;
    return a.id - b.id;
  }
  if (aStored !== bStored) return aStored ? -1 : 1;
  return a.localSeq - b.localSeq;
}

/** Returns the key a message is stored under: its client_id when known, else its id. */
export function messageKey(message) {
  return message.client_id ? `c:${message.client_id}` : `m:${message.id}`;
}

function activityTime(conversation) {
  const last = conversation.last_message?.created_at || '';
  const updated = conversation.updated_at || '';
  return last > updated ? last : updated;
}

function newerMessage(a, b) {
  if (!a) return b;
  if (!b) return a;
  return compareMessages(a, b) >= 0 ? a : b;
}

/** Creates an empty store. */
export function createStore() {
  const listeners = new Set();
  let localSeq = 0;
  let state = emptyState();

  function emptyState() {
    return {
      me: null,
      users: new Map(),
      conversations: new Map(),
      conversationsCursor: null,
      conversationsComplete: false,
      conversationsLoaded: false,
      threads: new Map(),
      messageConversation: new Map(),
      typing: new Map(),
      lastEventId: null,
    };
  }

  function emit(change) {
    for (const listener of listeners) listener(change);
  }

  // ---- users -------------------------------------------------------------

  function upsertUser(user) {
    if (!user || user.id == null) return;
    const existing = state.users.get(user.id);
    state.users.set(user.id, existing ? { ...existing, ...user } : { ...user });
  }

  // ---- conversations ------------------------------------------------------

  // With `keepPresence`, members already known keep their online state and
  // last_seen_at, for payloads whose presence fields are not live.
  function storeConversation(incoming, { keepPresence = false } = {}) {
    for (const member of incoming.members || []) {
      if (keepPresence && state.users.has(member.id)) {
        const { online, last_seen_at: lastSeenAt, ...profile } = member;
        upsertUser(profile);
      } else {
        upsertUser(member);
      }
    }
    const existing = state.conversations.get(incoming.id);
    const { members, ...fields } = incoming;
    const record = {
      ...existing,
      ...fields,
      member_ids: members ? members.map((member) => member.id) : existing?.member_ids || [],
      seen_up_to: existing?.seen_up_to ?? 0,
    };

    // A REST snapshot may be older than an event already applied.
    record.last_message = newerMessage(existing?.last_message, incoming.last_message) || null;
    if (existing && existing.last_read_message_id > (record.last_read_message_id ?? 0)) {
      record.last_read_message_id = existing.last_read_message_id;
    }
    noteSeenBy(record, record.last_message);
    state.conversations.set(record.id, record);
    if (record.last_message) rememberMessage(record.last_message);
    return record;
  }

  function noteSeenBy(conversation, message) {
    if (!conversation || !message || message.id == null) return;
    if (message.sender_id !== state.me?.id) return;
    if (message.seen_by?.length && message.id > conversation.seen_up_to) {
      conversation.seen_up_to = message.id;
    }
  }

  function rememberMessage(message) {
    if (message.id != null) state.messageConversation.set(message.id, message.conversation_id);
  }

  function isMember(conversation) {
    return conversation.member_ids.length === 0 || conversation.member_ids.includes(state.me?.id);
  }

  // ---- messages -----------------------------------------------------------

  function thread(conversationId) {
    let entry = state.threads.get(conversationId);
    if (!entry) {
      entry = {
        messages: new Map(),
        keysById: new Map(),
        cursor: null,
        hasMore: true,
        loaded: false,
        sorted: null,
      };
      state.threads.set(conversationId, entry);
    }
    return entry;
  }

  // Stores a message from the server. Returns true when the thread had no
  // stored copy of it before (a pending copy with the same client_id does
  // not count), so callers count each message once.
  function storeMessage(message) {
    const entry = thread(message.conversation_id);
    const key = messageKey(message);
    const oldKey = entry.keysById.get(message.id);
    const existing = entry.messages.get(key) || (oldKey && entry.messages.get(oldKey));
    const isNew = !existing || existing.id == null;

    if (oldKey && oldKey !== key) entry.messages.delete(oldKey);
    const record = {
      ...existing,
      ...message,
      reactions: message.reactions || existing?.reactions || {},
      my_reactions: message.my_reactions || existing?.my_reactions || [],
      seen_by: message.seen_by || existing?.seen_by || [],
      status: 'sent',
      error: null,
      retryable: true,
    };
    // The stored copy shows the server's image, so the local upload is done with.
    delete record.attachment;
    entry.messages.set(key, record);
    entry.keysById.set(record.id, key);
    entry.sorted = null;
    rememberMessage(record);

    const conversation = state.conversations.get(record.conversation_id);
    if (conversation) {
      conversation.last_message = newerMessage(conversation.last_message, record);
      if (conversation.last_message === record && record.created_at > (conversation.updated_at || '')) {
        conversation.updated_at = record.created_at;
      }
      noteSeenBy(conversation, record);
    }
    return isNew;
  }

  function findMessage(messageId) {
    const conversationId = state.messageConversation.get(messageId);
    const entry = conversationId != null && state.threads.get(conversationId);
    const key = entry && entry.keysById.get(messageId);
    return { conversationId, entry, message: key ? entry.messages.get(key) : null };
  }

  function setReactions(messageId, reactions, myReactions) {
    const { conversationId, entry, message } = findMessage(messageId);
    if (message) {
      message.reactions = reactions || {};
      if (myReactions) message.my_reactions = myReactions;
      entry.sorted = null;
    }
    const conversation = conversationId != null && state.conversations.get(conversationId);
    if (conversation?.last_message?.id === messageId) {
      conversation.last_message = {
        ...conversation.last_message,
        reactions: reactions || {},
        ...(myReactions ? { my_reactions: myReactions } : {}),
      };
    }
    return conversationId;
  }

  // Moves my read cursor forward and lowers the unread count by the number
  // of newly read messages from others, as far as this store can count them.
  function advanceReadCursor(conversationId, upTo) {
    const conversation = state.conversations.get(conversationId);
    if (!conversation || upTo <= (conversation.last_read_message_id ?? 0)) return false;

    const previous = conversation.last_read_message_id ?? 0;
    const entry = state.threads.get(conversationId);
    const fromOthers = (message) => message.id != null && message.sender_id !== state.me?.id;
    conversation.last_read_message_id = upTo;

    const lastId = conversation.last_message?.id;
    if (lastId != null && upTo >= lastId) {
      conversation.unread_count = 0;
    } else if (entry?.loaded && upTo >= oldestStoredId(entry)) {
      // A loaded thread contains the newest page and every message since, so it
      // has every message after a cursor that points into it.
      conversation.unread_count = [...entry.messages.values()]
        .filter((message) => fromOthers(message) && message.id > upTo).length;
    } else {
      const newlyRead = entry
        ? [...entry.messages.values()].filter((message) => fromOthers(message) && message.id > previous && message.id <= upTo).length
        : 0;
      conversation.unread_count = Math.max(0, (conversation.unread_count || 0) - newlyRead);
    }
    return true;
  }

  function oldestStoredId(entry) {
    let oldest = Infinity;
    for (const message of entry.messages.values()) {
      if (message.id != null && message.id < oldest) oldest = message.id;
    }
    return oldest;
  }

  // ---- events -------------------------------------------------------------

  function applyMessageEvent(event, result) {
    const message = event.message;
    const conversation = state.conversations.get(message.conversation_id);
    const alreadyCounted = conversation?.last_message?.id != null && conversation.last_message.id >= message.id;
    const isNew = storeMessage(message);
    clearTyping(message.conversation_id, message.sender_id);

    if (!conversation) {
      result.fetchConversation = message.conversation_id;
      return;
    }
    const fromOther = message.sender_id !== state.me?.id;
    if (fromOther && isNew && !alreadyCounted && message.id > (conversation.last_read_message_id ?? 0)) {
      conversation.unread_count = (conversation.unread_count || 0) + 1;
    }
  }

  function applyReactionEvent(event) {
    const { message } = findMessage(event.message_id);
    let mine = null;
    if (event.user_id === state.me?.id) {
      const current = new Set(message?.my_reactions || []);
      if (event.on) current.add(event.emoji);
      else current.delete(event.emoji);
      mine = REACTION_EMOJI.filter((emoji) => current.has(emoji));
    }
    setReactions(event.message_id, event.reactions, mine);
  }

  function applySeenEvent(event) {
    if (event.user_id === state.me?.id) {
      advanceReadCursor(event.conversation_id, event.up_to);
      return;
    }
    const conversation = state.conversations.get(event.conversation_id);
    if (conversation && event.up_to > conversation.seen_up_to) conversation.seen_up_to = event.up_to;
  }

  // The event's members carry presence as stored, not as live, so a new
  // conversation is fetched over REST, which reports who is online.
  function applyConversationEvent(event, result) {
    const known = state.conversations.has(event.conversation.id);
    const record = storeConversation(event.conversation, { keepPresence: true });
    if (!isMember(record)) {
      state.conversations.delete(record.id);
      state.threads.delete(record.id);
    } else if (!known) {
      result.fetchConversation = record.id;
    }
  }

  function applyTypingEvent(event, now) {
    if (event.user_id === state.me?.id) return;
    if (event.typing) {
      let users = state.typing.get(event.conversation_id);
      if (!users) {
        users = new Map();
        state.typing.set(event.conversation_id, users);
      }
      users.set(event.user_id, now + TYPING_TIMEOUT_MS);
    } else {
      clearTyping(event.conversation_id, event.user_id);
    }
  }

  function clearTyping(conversationId, userId) {
    const users = state.typing.get(conversationId);
    if (!users || !users.delete(userId)) return false;
    if (users.size === 0) state.typing.delete(conversationId);
    return true;
  }

  // ---- public interface ---------------------------------------------------

  return {
    /** Registers a listener called with a change description after each update. */
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    /** Forgets everything, for logout. */
    reset() {
      state = emptyState();
      emit({ kind: 'reset' });
    },

    get me() {
      return state.me;
    },

    setMe(user) {
      state.me = user ? { ...user } : null;
      if (user) upsertUser(user);
      emit({ kind: 'me' });
    },

    user(id) {
      return state.users.get(id) || null;
    },

    upsertUsers(users) {
      for (const user of users) upsertUser(user);
      emit({ kind: 'users' });
    },

    // -- conversations

    conversation(id) {
      return state.conversations.get(id) || null;
    },

    /** Returns the conversation's members other than me, as user objects. */
    otherMembers(conversation) {
      return conversation.member_ids
        .filter((id) => id !== state.me?.id)
        .map((id) => state.users.get(id))
        .filter(Boolean);
    },

    /** Returns conversations, newest activity first. */
    conversationList() {
      return [...state.conversations.values()].sort((a, b) => {
        const aTime = activityTime(a);
        const bTime = activityTime(b);
        if (aTime !== bTime) return aTime < bTime ? 1 : -1;
        return b.id - a.id;
      });
    },

    get conversationsCursor() {
      return state.conversationsCursor;
    },

    get conversationsComplete() {
      return state.conversationsComplete;
    },

    get conversationsLoaded() {
      return state.conversationsLoaded;
    },

    /**
     * Adds one page of GET /api/conversations. With `replace`, conversations
     * not on the page are dropped, except `keepId` (the open one).
     */
    addConversationsPage(page, { replace = false, keepId = null } = {}) {
      if (replace) {
        for (const id of [...state.conversations.keys()]) {
          if (id !== keepId) state.conversations.delete(id);
        }
      }
      for (const conversation of page.conversations || []) storeConversation(conversation);
      state.conversationsCursor = page.next_cursor ?? null;
      state.conversationsComplete = page.next_cursor == null;
      state.conversationsLoaded = true;
      emit({ kind: 'conversations' });
    },

    upsertConversation(conversation) {
      const record = storeConversation(conversation);
      emit({ kind: 'conversation', conversationId: record.id });
      return record;
    },

    // -- messages

    /** Returns the conversation's messages, oldest first, pending ones last. */
    messages(conversationId) {
      const entry = state.threads.get(conversationId);
      if (!entry) return [];
      if (!entry.sorted) entry.sorted = [...entry.messages.values()].sort(compareMessages);
      return entry.sorted;
    },

    /** Returns { loaded, hasMore, cursor } for the conversation's history. */
    history(conversationId) {
      const entry = state.threads.get(conversationId);
      return entry
        ? { loaded: entry.loaded, hasMore: entry.hasMore, cursor: entry.cursor }
        : { loaded: false, hasMore: true, cursor: null };
    },

    /**
     * Adds one page of GET .../messages. `older` marks a page fetched with
     * `before`. The first page sets the cursor only if no older page came yet.
     */
    addMessagesPage(conversationId, page, { older = false } = {}) {
      const entry = thread(conversationId);
      for (const message of page.messages || []) storeMessage(message);
      if (older || !entry.loaded) {
        entry.cursor = page.next_cursor ?? null;
        entry.hasMore = page.next_cursor != null;
      }
      entry.loaded = true;
      entry.sorted = null;
      emit({ kind: 'messages', conversationId });
    },

    /** Forgets the loaded history of every conversation, keeping unsent messages. */
    dropHistories() {
      for (const entry of state.threads.values()) {
        for (const [key, message] of entry.messages) {
          if (message.id != null) entry.messages.delete(key);
        }
        entry.keysById.clear();
        entry.loaded = false;
        entry.hasMore = true;
        entry.cursor = null;
        entry.sorted = null;
      }
      emit({ kind: 'messages' });
    },

    /**
     * Adds my message before the server has stored it. `attachment` is the
     * image upload the message waits for, if any (see attachment.js).
     */
    addPending(conversationId, { clientId, body = null, imageId = null, image = null, attachment = null }) {
      const entry = thread(conversationId);
      localSeq += 1;
      entry.messages.set(`c:${clientId}`, {
        id: null,
        conversation_id: conversationId,
        sender_id: state.me?.id,
        body,
        image,
        image_id: imageId,
        attachment,
        created_at: new Date().toISOString(),
        client_id: clientId,
        reactions: {},
        my_reactions: [],
        seen_by: [],
        status: 'pending',
        error: null,
        retryable: true,
        localSeq,
      });
      entry.sorted = null;
      emit({ kind: 'messages', conversationId });
    },

    /** Sets the image id and image of an unsent message, once its upload has finished. */
    setPendingImage(conversationId, clientId, { imageId, image }) {
      const message = this.pending(conversationId, clientId);
      if (!message || message.id != null) return;
      message.image_id = imageId;
      message.image = image;
      state.threads.get(conversationId).sorted = null;
      emit({ kind: 'messages', conversationId });
    },

    /** Returns my message with this client_id, stored or not. */
    pending(conversationId, clientId) {
      return state.threads.get(conversationId)?.messages.get(`c:${clientId}`) || null;
    },

    /**
     * Marks an unsent message failed; a message the server already stored
     * stays sent. An error with `retryable: false` (an image the server
     * rejects) offers no retry.
     */
    markSendFailed(conversationId, clientId, error) {
      const message = this.pending(conversationId, clientId);
      if (!message || message.id != null) return;
      message.status = 'failed';
      message.error = error?.message || 'Not sent.';
      message.retryable = error?.retryable !== false;
      state.threads.get(conversationId).sorted = null;
      emit({ kind: 'messages', conversationId });
    },

    markSending(conversationId, clientId) {
      const message = this.pending(conversationId, clientId);
      if (!message || message.id != null) return;
      message.status = 'pending';
      message.error = null;
      message.retryable = true;
      state.threads.get(conversationId).sorted = null;
      emit({ kind: 'messages', conversationId });
    },

    discardPending(conversationId, clientId) {
      const entry = state.threads.get(conversationId);
      const message = entry?.messages.get(`c:${clientId}`);
      if (!message || message.id != null) return;
      entry.messages.delete(`c:${clientId}`);
      entry.sorted = null;
      emit({ kind: 'messages', conversationId });
    },

    /** Stores a message from a REST reply; returns true if it was not stored before. */
    upsertMessage(message) {
      const isNew = storeMessage(message);
      emit({ kind: 'messages', conversationId: message.conversation_id });
      return isNew;
    },

    /** Applies a reaction reply ({reactions, my_reactions}) to a message. */
    setReactions(messageId, reactions, myReactions) {
      const conversationId = setReactions(messageId, reactions, myReactions);
      emit({ kind: 'messages', conversationId });
    },

    /** Moves my read cursor; returns true if it moved. */
    markRead(conversationId, upTo) {
      const moved = advanceReadCursor(conversationId, upTo);
      if (moved) emit({ kind: 'conversation', conversationId });
      return moved;
    },

    /**
     * Returns my message's delivery state: "pending", "failed", "sent" or
     * "seen", or null for another user's message.
     */
    deliveryState(message) {
      if (message.sender_id !== state.me?.id) return null;
      if (message.status === 'pending' || message.status === 'failed') return message.status;
      const conversation = state.conversations.get(message.conversation_id);
      if (message.seen_by?.length) return 'seen';
      if (conversation && message.id != null && conversation.seen_up_to >= message.id) return 'seen';
      return 'sent';
    },

    // -- typing

    /** Returns the ids of users typing in the conversation at `now` (ms). */
    typingUserIds(conversationId, now = Date.now()) {
      const users = state.typing.get(conversationId);
      if (!users) return [];
      return [...users].filter(([, expiresAt]) => expiresAt > now).map(([id]) => id);
    },

    /** Removes typing states older than TYPING_TIMEOUT_MS; returns true if any went. */
    expireTyping(now = Date.now()) {
      let changed = false;
      for (const [conversationId, users] of state.typing) {
        for (const [userId, expiresAt] of users) {
          if (expiresAt <= now) {
            users.delete(userId);
            changed = true;
          }
        }
        if (users.size === 0) state.typing.delete(conversationId);
      }
      if (changed) emit({ kind: 'typing' });
      return changed;
    },

    // -- events

    /** The event_id of the last applied event, an opaque string, or null. */
    get lastEventId() {
      return state.lastEventId;
    },

    setLastEventId(eventId) {
      state.lastEventId = eventId ?? null;
    },

    /**
     * Applies one WebSocket event. Returns { fetchConversation: id } when the
     * event is about a conversation the store did not have yet.
     */
    applyEvent(event, now = Date.now()) {
      const result = {};
      let conversationId = event.conversation_id ?? null;
      switch (event.type) {
        case 'message':
          applyMessageEvent(event, result);
          conversationId = event.message.conversation_id;
          break;
        case 'reaction':
          applyReactionEvent(event);
          break;
        case 'seen':
          applySeenEvent(event);
          break;
        case 'conversation':
          applyConversationEvent(event, result);
          conversationId = event.conversation.id;
          break;
        case 'typing':
          applyTypingEvent(event, now);
          break;
        case 'presence':
          upsertUser({
            id: event.user_id,
            online: event.online,
            ...('last_seen_at' in event ? { last_seen_at: event.last_seen_at } : {}),
          });
          break;
        default:
          return result;
      }
      if (event.event_id != null) state.lastEventId = event.event_id;
      emit({ kind: event.type, conversationId });
      return result;
    },
  };
}
