// The sidebar: my profile, the conversation list (newest activity first,
// paged with next_cursor as it scrolls) and the buttons for a new chat and
// logging out.

import { h, icon, reconcile, replaceChildren } from '../dom.js';
import { conversationName, listTime, typingText } from '../format.js';
import { conversationAvatar, userAvatar } from './avatar.js';

/**
 * Creates the sidebar inside `root`. `loadMore()` fetches the next page of
 * conversations and returns a promise.
 */
export function createSidebar({ root, store, onNewChat, onLogout, loadMore }) {
  const profile = h('div', { className: 'profile' });
  const newChatButton = h('button', {
    type: 'button',
    className: 'icon-button',
    'aria-label': 'New chat',
    title: 'New chat',
    onclick: onNewChat,
  }, icon('plus'));
  const logoutButton = h('button', {
    type: 'button',
    className: 'icon-button',
    'aria-label': 'Log out',
    title: 'Log out',
    onclick: onLogout,
  }, icon('logout'));

  const list = h('ul', { className: 'conversation-list', 'aria-label': 'Conversations' });
  const empty = h('div', { className: 'list-empty', hidden: true },
    h('p', {}, 'No conversations yet.'),
    h('button', { type: 'button', className: 'button primary', onclick: onNewChat }, 'Start a chat'));
  const footer = h('div', { className: 'list-footer', role: 'status' });
  const scroller = h('div', { className: 'sidebar-scroll' }, list, empty, footer);

  replaceChildren(root,
    h('header', { className: 'sidebar-header' },
      profile,
      h('div', { className: 'header-actions' }, newChatButton, logoutButton)),
    scroller);

  let loading = false;
  let loadFailed = false;

  // Loads the next page when the end of the list comes into view.
  const footerObserver = new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting)) requestMore();
  }, { root: scroller, rootMargin: '200px' });
  footerObserver.observe(footer);

  async function requestMore() {
    if (loading || !store.conversationsLoaded || store.conversationsComplete) return;
    loading = true;
    loadFailed = false;
    render();
    try {
      await loadMore();
    } catch (error) {
      console.warn(`Loading more conversations failed: ${error.message}`);
      loadFailed = true;
    } finally {
      loading = false;
      render();
    }
  }

  let openId = null;

  function renderProfile() {
    const me = store.me;
    if (!me) return;
    const signature = `${me.id}|${me.display_name}|${me.username}`;
    if (profile.dataset.signature === signature) return;
    profile.dataset.signature = signature;
    replaceChildren(profile,
      userAvatar(me, { size: 'sm' }),
      h('div', { className: 'profile-text' },
        h('span', { className: 'profile-name' }, me.display_name),
        h('span', { className: 'profile-username' }, `@${me.username}`)));
  }

  function itemFor(conversation, now) {
    const others = store.otherMembers(conversation);
    const name = conversationName(conversation, others);
    const typingIds = store.typingUserIds(conversation.id, now.getTime());
    const typingUsers = typingIds.map((id) => store.user(id)).filter(Boolean);
    const last = conversation.last_message;
    const partner = conversation.kind === 'direct' ? others[0] : null;
    const time = last?.created_at || conversation.updated_at;

    let preview;
    if (typingUsers.length) {
      preview = conversation.kind === 'direct' ? 'typing…' : typingText(typingUsers);
    } else {
      preview = previewText(conversation, last);
    }
    const isOpen = conversation.id === openId;
    // The open conversation shows new messages in the chat pane, and its
    // count drops as they scroll into view, so its row shows no badge.
    const unread = isOpen ? 0 : conversation.unread_count || 0;

    const signature = JSON.stringify([
      name, others.map((user) => [user.id, user.display_name]), partner?.online,
      preview, typingUsers.length > 0, unread, listTime(time, now), isOpen,
    ]);

    return {
      key: String(conversation.id),
      signature,
      create: () => {
        const label = [
          name,
          partner?.online ? 'online' : null,
          unread ? `${unread} unread` : null,
          typingUsers.length ? preview : (last ? `last message: ${preview}` : null),
        ].filter(Boolean).join(', ');
        return h('li', { className: 'conversation-item' },
          h('a', {
            href: `#/c/${conversation.id}`,
            className: `conversation-link${unread ? ' unread' : ''}`,
            'aria-current': isOpen ? 'page' : null,
            'aria-label': label,
          },
          conversationAvatar(conversation, others),
          h('span', { className: 'item-main' },
            h('span', { className: 'item-top' },
              h('span', { className: 'item-name' }, name),
              h('time', { className: 'item-time', datetime: time || null }, listTime(time, now))),
            h('span', { className: 'item-bottom' },
              h('span', { className: `item-preview${typingUsers.length ? ' typing' : ''}` }, preview),
              unread ? h('span', { className: 'badge', 'aria-hidden': 'true' }, unread > 99 ? '99+' : String(unread)) : null))));
      },
    };
  }

  function previewText(conversation, last) {
    if (!last) return conversation.kind === 'group' ? 'Group created' : 'No messages yet';
    const text = last.body ? last.body.replace(/\s+/g, ' ') : (last.image ? '📷 Photo' : '');
    if (last.sender_id === store.me?.id) return `You: ${text}`;
    if (conversation.kind === 'group') {
      const sender = store.user(last.sender_id);
      return `${sender?.display_name || 'Someone'}: ${text}`;
    }
    return text;
  }

  function render() {
    renderProfile();
    const now = new Date();
    const conversations = store.conversationList();
    reconcile(list, conversations.map((conversation) => itemFor(conversation, now)));

    empty.hidden = !store.conversationsLoaded || conversations.length > 0;
    if (loadFailed) {
      replaceChildren(footer, h('button', { type: 'button', className: 'link-button', onclick: requestMore },
        'Loading failed. Try again'));
    } else if (loading) {
      footer.textContent = 'Loading…';
    } else {
      footer.textContent = '';
    }
  }

  return {
    render,
    setOpen(conversationId) {
      openId = conversationId;
      render();
    },
    /** Checks again whether the end of the list is in view, after a page arrived. */
    checkMore() {
      render();
      const footerTop = footer.getBoundingClientRect().top;
      const scrollerBottom = scroller.getBoundingClientRect().bottom;
      if (footerTop < scrollerBottom + 200) requestMore();
    },
    focusNewChat() {
      newChatButton.focus();
    },
  };
}
