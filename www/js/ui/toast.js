// Short error notices at the bottom of the screen.

import { h } from '../dom.js';

const TOAST_MS = 5000;

let region = null;

/** Shows `text` for a few seconds in a live region that screen readers announce. */
export function notify(text) {
  if (!region) {
    region = h('div', { className: 'toasts', role: 'alert', 'aria-live': 'assertive' });
    document.body.appendChild(region);
  }
  const toast = h('div', { className: 'toast' }, text);
  region.appendChild(toast);
  setTimeout(() => toast.remove(), TOAST_MS);
}
