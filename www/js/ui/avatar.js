// Round avatars with initials, coloured per user, and a presence dot.

import { h } from '../dom.js';
import { avatarHue, initials } from '../format.js';

/** Creates a decorative avatar for one user (screen readers get the name elsewhere). */
export function userAvatar(user, { size = 'md', presence = false } = {}) {
  const avatar = h('span', {
    className: `avatar avatar-${size}`,
    'aria-hidden': 'true',
    style: { '--avatar-hue': String(avatarHue(user?.id ?? 0)) },
  }, initials(user?.display_name || user?.username));
  if (presence) avatar.appendChild(presenceDot(user));
  return avatar;
}

/** Creates a group avatar showing the initials of up to two other members. */
export function groupAvatar(members, { size = 'md' } = {}) {
  const firstTwo = members.slice(0, 2);
  if (firstTwo.length < 2) return userAvatar(firstTwo[0], { size });
  return h('span', { className: `avatar-stack avatar-${size}`, 'aria-hidden': 'true' },
    firstTwo.map((user) => h('span', {
      className: 'avatar',
      style: { '--avatar-hue': String(avatarHue(user.id)) },
    }, initials(user.display_name || user.username))));
}

/** Creates the avatar of a conversation: the other member's, with presence, or the group's. */
export function conversationAvatar(conversation, others, { size = 'md' } = {}) {
  if (conversation.kind === 'direct') return userAvatar(others[0], { size, presence: true });
  return groupAvatar(others, { size });
}

function presenceDot(user) {
  return h('span', { className: `presence-dot${user?.online ? ' online' : ''}` });
}
