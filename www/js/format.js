// Text shown for names, avatars and times. Pure functions of their inputs.

const MINUTE = 60 * 1000;
const DAY = 24 * 60 * MINUTE;

/** Returns up to two initials of a display name, in upper case. */
export function initials(name) {
  const words = String(name || '?').trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return '?';
  const first = [...words[0]][0] || '?';
  const second = words.length > 1 ? [...words[words.length - 1]][0] : '';
  return (first + second).toUpperCase();
}

/** Returns a hue from 0 to 359 that stays the same for one user id. */
export function avatarHue(id) {
  return (Number(id) * 137) % 360;
}

/**
 * Returns the name a conversation is shown under: the other member's
 * display name for a direct chat, else the title, else the members' names.
 */
export function conversationName(conversation, otherMembers) {
  if (conversation.kind === 'direct') {
    return otherMembers[0]?.display_name || otherMembers[0]?.username || 'Unknown user';
  }
  if (conversation.title) return conversation.title;
  return otherMembers.map((user) => user.display_name).join(', ') || 'Group';
}

function startOfDay(date) {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
}

/** Returns whole calendar days between two dates in local time (0 = same day). */
export function daysBetween(earlier, later) {
  return Math.round((startOfDay(later) - startOfDay(earlier)) / DAY);
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const weekdayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'short' });
const longWeekdayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'long' });
const shortDateFormat = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const fullDateFormat = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', year: 'numeric' });
const longDateFormat = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric', hour: '2-digit', minute: '2-digit' });

/** Returns the clock time of a timestamp, such as "14:05". */
export function clockTime(iso) {
  return timeFormat.format(new Date(iso));
}

/** Returns a full date and time for tooltips. */
export function fullTime(iso) {
  return longDateFormat.format(new Date(iso));
}

/** Returns the short time shown in the conversation list. */
export function listTime(iso, now = new Date()) {
  if (!iso) return '';
  const date = new Date(iso);
  const days = daysBetween(date, now);
  if (days <= 0) return timeFormat.format(date);
  if (days === 1) return 'Yesterday';
  if (days < 7) return weekdayFormat.format(date);
  if (date.getFullYear() === now.getFullYear()) return shortDateFormat.format(date);
  return fullDateFormat.format(date);
}

/** Returns the label of a day separator in a chat. */
export function dayLabel(iso, now = new Date()) {
  const date = new Date(iso);
  const days = daysBetween(date, now);
  if (days <= 0) return 'Today';
  if (days === 1) return 'Yesterday';
  if (days < 7) return longWeekdayFormat.format(date);
  if (date.getFullYear() === now.getFullYear()) return shortDateFormat.format(date);
  return fullDateFormat.format(date);
}

/** Returns the local calendar day of a timestamp as "YYYY-M-D", for grouping. */
export function dayKey(iso) {
  const date = new Date(iso);
  return `${date.getFullYear()}-${date.getMonth() + 1}-${date.getDate()}`;
}

/** Returns "online", "last seen …" or an empty string for a user. */
export function presenceText(user, now = new Date()) {
  if (!user) return '';
  if (user.online) return 'online';
  if (!user.last_seen_at) return '';
  const date = new Date(user.last_seen_at);
  const elapsed = now - date;
  if (elapsed < MINUTE) return 'last seen just now';
  if (elapsed < 60 * MINUTE) return `last seen ${Math.floor(elapsed / MINUTE)} min ago`;
  const days = daysBetween(date, now);
  if (days <= 0) return `last seen today at ${timeFormat.format(date)}`;
  if (days === 1) return `last seen yesterday at ${timeFormat.format(date)}`;
  if (days < 7) return `last seen ${longWeekdayFormat.format(date)}`;
  return `last seen ${fullDateFormat.format(date)}`;
}

/** Returns "Alice is typing…", "Alice and Bob are typing…" or "3 people are typing…". */
export function typingText(users) {
  const names = users.map((user) => user.display_name || user.username);
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names.length} people are typing…`;
}
