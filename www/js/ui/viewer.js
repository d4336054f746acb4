// The full-size image overlay: a modal <dialog> that shows an image's url
// fitted to the window, with its caption. Escape, the close button and a
// click beside the image close it, and focus returns to what opened it.

import { h, icon } from '../dom.js';

/** Space kept free beside and below the image, in CSS pixels (the figure's padding). */
const MARGIN_PX = 24;
/** Gap between the image and its caption, in CSS pixels. */
const CAPTION_GAP_PX = 10;

/**
 * Returns the { width, height } at which an image of `width` by `height`
 * fits in `maxWidth` by `maxHeight`, never enlarged past its own size.
 */
export function fitSize(width, height, maxWidth, maxHeight) {
  const scale = Math.min(1, maxWidth / width, maxHeight / height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

// Returns a CSS url() value for `url`, quoted so that no character of it
// can end the string.
function cssUrl(url) {
  return `url("${url.replace(/["\\]/g, '\\$&').replace(/[\n\r\f]/g, '')}")`;
}

/** Creates the viewer and adds its dialog to the page. */
export function createImageViewer() {
  const image = h('img', { className: 'viewer-image', alt: '' });
  const caption = h('p', { className: 'viewer-caption', id: 'viewer-caption' });
  const title = h('h2', { className: 'visually-hidden', id: 'viewer-title' });
  const closeButton = h('button', {
    type: 'button',
    className: 'icon-button viewer-close',
    'aria-label': 'Close image',
    title: 'Close (Esc)',
    onclick: () => dialog.close(),
  }, icon('close'));
  const openLink = h('a', { className: 'viewer-open', target: '_blank', rel: 'noopener noreferrer' }, 'Open original');

  const bar = h('div', { className: 'viewer-bar' }, title, openLink, closeButton);
  const dialog = h('dialog', {
    className: 'image-viewer',
    'aria-labelledby': 'viewer-title',
    'aria-describedby': 'viewer-caption',
  },
  bar,
  h('figure', { className: 'viewer-figure' }, image, caption));
  document.body.appendChild(dialog);

  let returnFocus = null;
  let current = null;

  // Sizes the image to fit below the bar and above the caption; the
  // dialog must be open, so that both have a height.
  function layout() {
    if (!current || !dialog.open) return;
    const captionHeight = caption.hidden ? 0 : caption.offsetHeight + CAPTION_GAP_PX;
    const size = fitSize(
      current.width || image.naturalWidth || 1,
      current.height || image.naturalHeight || 1,
      window.innerWidth - 2 * MARGIN_PX,
      window.innerHeight - bar.offsetHeight - captionHeight - MARGIN_PX,
    );
    image.style.width = `${size.width}px`;
    image.style.height = `${size.height}px`;
  }

  // The thumbnail, usually cached by the chat already, fills the box until
  // the full image arrives.
  image.addEventListener('load', () => {
    image.style.backgroundImage = '';
    if (!current?.width) layout();
  });
  // A click on the backdrop targets the dialog itself, outside the content.
  dialog.addEventListener('click', (event) => {
    if (event.target === dialog || event.target.classList.contains('viewer-figure')) dialog.close();
  });
  dialog.addEventListener('close', () => {
    current = null;
    image.removeAttribute('src');
    image.style.backgroundImage = '';
    const target = returnFocus?.();
    returnFocus = null;
    target?.focus({ preventScroll: true });
  });
  window.addEventListener('resize', layout);

  return {
    /**
     * Shows `imageObject` (the API's image) with alt text `alt` and an
     * optional caption. focusTarget() returns the element to focus on
     * close, looked up then because the list may have rebuilt the opener.
     */
    open(imageObject, { alt, caption: text = '', focusTarget }) {
      current = imageObject;
      returnFocus = focusTarget;
      title.textContent = alt;
      caption.textContent = text;
      caption.hidden = !text;
      image.alt = alt;
      if (imageObject.width && imageObject.height) {
        image.width = imageObject.width;
        image.height = imageObject.height;
      } else {
        image.removeAttribute('width');
        image.removeAttribute('height');
      }
      image.style.backgroundImage = imageObject.thumb_url ? cssUrl(imageObject.thumb_url) : '';
      image.src = imageObject.url;
      openLink.href = imageObject.url;
      if (!dialog.open) dialog.showModal();
      layout();
      closeButton.focus();
    },

    close() {
      if (dialog.open) dialog.close();
    },

    get isOpen() {
      return dialog.open;
    },
  };
}
