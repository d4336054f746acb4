// Builds the rows of the message list: day separators and message bubbles
// with image, text, time, delivery ticks, reactions and the failed-send bar.

import { h, icon } from '../dom.js';
import { clockTime, dayKey, dayLabel, fullTime } from '../format.js';
import { REACTION_EMOJI, messageKey } from '../store.js';
import { userAvatar } from './avatar.js';

const IMAGE_MAX_WIDTH_PX = 320;
const IMAGE_MAX_HEIGHT_PX = 360;
/** Box of an image whose size is not known yet, in CSS pixels. */
const IMAGE_FALLBACK_WIDTH_PX = 320;
const IMAGE_FALLBACK_HEIGHT_PX = 240;

/** Messages from one sender less than this apart share a group. */
const GROUP_GAP_MS = 5 * 60 * 1000;

const DELIVERY = {
  pending: { icon: 'clock', label: 'Sending' },
  sent: { icon: 'check', label: 'Sent' },
  seen: { icon: 'checks', label: 'Seen' },
  failed: { icon: 'alert', label: 'Not sent' },
};

/**
 * Returns reconcile() items for a conversation's messages, oldest first, with
 * a separator before each new day and messages grouped by sender.
 *
 * `view` supplies: store, conversation, now (Date), pickerKey (the message
 * whose reaction picker is open) and the handlers onReact(message, emoji),
 * onTogglePicker(message), onRetry(message), onDiscard(message) and
 * onOpenImage(message, alt).
 */
export function messageItems(messages, view) {
  const items = [];
  let previousDay = null;
  for (let index = 0; index < messages.length; index += 1) {
    const message = messages[index];
    const day = dayKey(message.created_at);
    if (day !== previousDay) {
      const label = dayLabel(message.created_at, view.now);
      items.push({
        key: `day:${day}`,
        signature: label,
        create: () => h('li', { className: 'day-separator', role: 'separator' }, h('span', {}, label)),
      });
      previousDay = day;
    }
    const groupStart = !sameGroup(messages[index - 1], message);
    const groupEnd = !sameGroup(message, messages[index + 1]);
    items.push(messageItem(message, { ...view, groupStart, groupEnd }));
  }
  return items;
}

function sameGroup(earlier, later) {
  if (!earlier || !later) return false;
  if (earlier.sender_id !== later.sender_id) return false;
  if (dayKey(earlier.created_at) !== dayKey(later.created_at)) return false;
  return Date.parse(later.created_at) - Date.parse(earlier.created_at) < GROUP_GAP_MS;
}

function messageItem(message, view) {
  const { store, conversation } = view;
  const mine = message.sender_id === store.me?.id;
  const sender = store.user(message.sender_id);
  const showSender = conversation.kind === 'group' && !mine;
  const delivery = store.deliveryState(message);
  const key = messageKey(message);
  const pickerOpen = view.pickerKey === key;
  const time = clockTime(message.created_at);

  const signature = JSON.stringify([
    message.id, message.body, message.image?.thumb_url, message.image?.width, message.image?.height,
    message.attachment?.state, message.status, message.error, message.retryable, delivery,
    message.reactions, message.my_reactions, view.groupStart, view.groupEnd,
    showSender ? sender?.display_name : null, pickerOpen, time,
  ]);

  return {
    key,
    signature,
    message,
    create: () => {
      const classes = ['message-row', mine ? 'mine' : 'theirs'];
      if (view.groupStart) classes.push('group-start');
      if (view.groupEnd) classes.push('group-end');
      if (message.status === 'pending') classes.push('pending');
      if (message.status === 'failed') classes.push('failed');

      const senderName = sender?.display_name || sender?.username || 'Unknown user';
      return h('li', { className: classes.join(' '), 'data-message-id': message.id ?? null },
        showSender && view.groupStart ? h('div', { className: 'sender-name' }, senderName) : null,
        h('div', { className: 'bubble-line' },
          showSender ? avatarSlot(sender, view.groupEnd) : null,
          bubble(message, { mine, senderName, delivery, time, view }),
          message.id != null ? reactButton(message, key, pickerOpen, view) : null),
        pickerOpen ? picker(message, view) : null,
        reactionBar(message, view),
        message.status === 'failed' ? failedBar(message, view) : null);
    },
  };
}

function avatarSlot(sender, show) {
  return h('span', { className: 'avatar-slot' }, show ? userAvatar(sender, { size: 'xs' }) : null);
}

function bubble(message, { mine, senderName, delivery, time, view }) {
  const jumbo = message.body && !message.image && isOnlyEmoji(message.body);
  return h('div', { className: `bubble${jumbo ? ' jumbo' : ''}${message.image ? ' has-image' : ''}` },
    h('span', { className: 'visually-hidden' }, mine ? 'You: ' : `${senderName}: `),
    message.image ? imageBlock(message, { alt: mine ? 'Image you sent' : `Image from ${senderName}`, view }) : null,
    h('div', { className: 'bubble-text' },
      message.body ? h('span', { className: 'message-body' }, linkified(message.body)) : null,
      h('span', { className: 'meta' },
        h('time', { datetime: message.created_at, title: fullTime(message.created_at) }, time),
        delivery ? deliveryTicks(delivery) : null)));
}

// Shows the thumbnail in a box fitted in IMAGE_MAX_WIDTH_PX by
// IMAGE_MAX_HEIGHT_PX from the image's width and height, reserved before it
// loads, so the list does not move when it arrives. The local preview of a
// message still uploading gets the same box from the file's own size.
function imageBlock(message, { alt, view }) {
  const image = message.image;
  const source = image.thumb_url || image.url;
  if (!source) return null;
  const width = image.width || IMAGE_FALLBACK_WIDTH_PX;
  const height = image.height || IMAGE_FALLBACK_HEIGHT_PX;
  const shownWidth = Math.round(Math.min(IMAGE_MAX_WIDTH_PX, IMAGE_MAX_HEIGHT_PX * (width / height), width));
  const picture = h('img', {
    src: source,
    alt,
    width,
    height,
    loading: image.local ? null : 'lazy',
    decoding: 'async',
    style: { width: `${shownWidth}px`, 'aspect-ratio': `${width} / ${height}` },
  });

  if (image.local) {
    const uploading = message.status === 'pending' && message.attachment?.state === 'uploading';
    return h('div', { className: 'message-image local' },
      picture,
      uploading ? uploadProgress(message.attachment) : null);
  }
  return h('a', {
    className: 'message-image',
    href: image.url || source,
    target: '_blank',
    rel: 'noopener noreferrer',
    'aria-haspopup': 'dialog',
    title: 'Open image',
    onclick: (event) => {
      // Modified clicks keep the browser's own handling (a new tab or window).
      if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      view.onOpenImage(message, alt);
    },
  }, picture);
}

// A progress bar over a pending image that follows its upload. The row may
// be rebuilt meanwhile, so a bar that has left the page stops listening.
function uploadProgress(attachment) {
  const bar = h('progress', {
    className: 'image-progress',
    max: 100,
    value: Math.round(attachment.progress * 100),
    'aria-label': 'Uploading image',
  });
  let wasConnected = false;
  const unsubscribe = attachment.subscribe(() => {
    if (!bar.isConnected) {
      if (wasConnected) unsubscribe();
      return;
    }
    wasConnected = true;
    bar.value = Math.round(attachment.progress * 100);
  });
  return bar;
}

function deliveryTicks(state) {
  const { icon: name, label } = DELIVERY[state];
  return h('span', { className: `ticks ticks-${state}`, 'data-delivery': state, role: 'img', 'aria-label': label, title: label },
    icon(name));
}

function reactButton(message, key, pickerOpen, view) {
  return h('button', {
    type: 'button',
    className: 'react-button icon-button',
    'aria-label': 'Add reaction',
    'aria-haspopup': 'true',
    'aria-expanded': pickerOpen ? 'true' : 'false',
    'data-picker-for': key,
    title: 'React',
    onclick: () => view.onTogglePicker(message),
  }, icon('smile'));
}

function picker(message, view) {
  const mine = new Set(message.my_reactions || []);
  const buttons = REACTION_EMOJI.map((emoji) => h('button', {
    type: 'button',
    className: `picker-emoji${mine.has(emoji) ? ' selected' : ''}`,
    'aria-pressed': mine.has(emoji) ? 'true' : 'false',
    'aria-label': `React with ${emoji}`,
    onclick: () => {
      view.onReact(message, emoji);
      view.onTogglePicker(null);
    },
  }, emoji));

  return h('div', {
    className: 'reaction-picker',
    role: 'group',
    'aria-label': 'Pick a reaction',
    onkeydown: (event) => {
      const index = buttons.indexOf(document.activeElement);
      if (event.key === 'Escape') {
        event.stopPropagation();
        view.onTogglePicker(null, { restoreFocus: true });
      } else if (event.key === 'ArrowRight' || event.key === 'ArrowLeft') {
        event.preventDefault();
        const step = event.key === 'ArrowRight' ? 1 : -1;
        buttons[(index + step + buttons.length) % buttons.length].focus();
      }
    },
  }, buttons);
}

function reactionBar(message, view) {
  const counts = Object.entries(message.reactions || {}).filter(([, count]) => count > 0);
  if (counts.length === 0 || message.id == null) return null;
  const mine = new Set(message.my_reactions || []);
  counts.sort(([a], [b]) => REACTION_EMOJI.indexOf(a) - REACTION_EMOJI.indexOf(b));

  return h('div', { className: 'reactions', role: 'group', 'aria-label': 'Reactions' },
    counts.map(([emoji, count]) => h('button', {
      type: 'button',
      className: `reaction${mine.has(emoji) ? ' mine' : ''}`,
      'aria-pressed': mine.has(emoji) ? 'true' : 'false',
      'aria-label': `${emoji} ${count}${mine.has(emoji) ? ', including you' : ''}`,
      'data-emoji': emoji,
      onclick: () => view.onReact(message, emoji),
    }, h('span', { className: 'reaction-emoji' }, emoji), h('span', { className: 'reaction-count' }, String(count)))));
}

function failedBar(message, view) {
  return h('div', { className: 'failed-bar', role: 'alert' },
    h('span', {}, message.error ? `Not sent: ${message.error}` : 'Not sent.'),
    message.retryable === false
      ? null
      : h('button', { type: 'button', className: 'link-button', onclick: () => view.onRetry(message) }, 'Retry'),
    h('button', { type: 'button', className: 'link-button', onclick: () => view.onDiscard(message) }, 'Discard'));
}

const EMOJI_ONLY = /^(?:\p{Extended_Pictographic}|\p{Emoji_Component}|\u200d|\ufe0f|\s)+$/u;

function isOnlyEmoji(text) {
  return [...text.replace(/\s/g, '')].length <= 8 && EMOJI_ONLY.test(text) && /\p{Extended_Pictographic}/u.test(text);
}

const URL_PATTERN = /\bhttps?:\/\/[^\s<>"]+/gi;

// Returns the text as text nodes, with http(s) URLs as links.
function linkified(text) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    const url = match[0].replace(/[.,;:!?)\]}'"]+$/, '');
    const start = match.index;
    if (start > last) parts.push(text.slice(last, start));
    let safe = null;
    try {
      const parsed = new URL(url);
      if (parsed.protocol === 'http:' || parsed.protocol === 'https:') safe = parsed.href;
    } catch {
      // Not a valid URL: it stays plain text.
    }
    parts.push(safe ? h('a', { href: safe, target: '_blank', rel: 'noopener noreferrer nofollow' }, url) : url);
    last = start + url.length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}
