// Small DOM helpers. User text only ever reaches the page through
// textContent or attribute values, never through innerHTML.

/**
 * Creates an element. `props` sets properties (className, hidden, onclick…);
 * keys starting with "aria-", "data-" or listed in ATTRIBUTES are set as
 * attributes, and `style` takes an object of CSS properties. Children may be nodes, strings (inserted as text) or falsy
 * values (skipped).
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'style') {
      // Set through the CSSOM, which a Content-Security-Policy without
      // 'unsafe-inline' styles still allows, unlike a style attribute.
      for (const [property, setting] of Object.entries(value)) element.style.setProperty(property, setting);
    } else if (key.startsWith('aria-') || key.startsWith('data-') || ATTRIBUTES.has(key)) {
      element.setAttribute(key, value === true ? '' : String(value));
    } else if (key.startsWith('on') && typeof value === 'function') {
      element.addEventListener(key.slice(2), value);
    } else {
      element[key] = value;
    }
  }
  append(element, children);
  return element;
}

const ATTRIBUTES = new Set([
  'role', 'for', 'type', 'name', 'autocomplete', 'inputmode', 'enterkeyhint',
  'tabindex', 'title', 'placeholder', 'minlength', 'maxlength', 'pattern',
  'required', 'autocapitalize', 'spellcheck', 'rows', 'width', 'height',
  'loading', 'decoding', 'alt', 'src', 'href', 'target', 'rel', 'datetime',
  'list', 'id',
]);

function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) {
      append(parent, child);
    } else if (child instanceof Node) {
      parent.appendChild(child);
    } else {
      parent.appendChild(document.createTextNode(String(child)));
    }
  }
}

/** Replaces every child of `parent` with `children`. */
export function replaceChildren(parent, ...children) {
  parent.textContent = '';
  append(parent, children);
}

/** Creates a decorative inline SVG icon, hidden from screen readers. */
export function icon(name) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.classList.add('icon');
  for (const d of ICONS[name] || []) {
    const path = document.createElementNS('http://www.w3.org/2000/svg', 'path');
    path.setAttribute('d', d);
    svg.appendChild(path);
  }
  return svg;
}

const ICONS = {
  back: ['M15 5l-7 7 7 7'],
  send: ['M4 12l16-8-6 16-2.5-6.5z', 'M11.5 13.5L20 4'],
  plus: ['M12 5v14', 'M5 12h14'],
  smile: ['M12 21a9 9 0 100-18 9 9 0 000 18z', 'M8.5 14.5c1 1.3 2.2 2 3.5 2s2.5-.7 3.5-2', 'M9 9.5h.01', 'M15 9.5h.01'],
  logout: ['M15 4h3a2 2 0 012 2v12a2 2 0 01-2 2h-3', 'M10 17l-5-5 5-5', 'M5 12h11'],
  close: ['M6 6l12 12', 'M18 6L6 18'],
  down: ['M12 5v14', 'M6 13l6 6 6-6'],
  clock: ['M12 21a9 9 0 100-18 9 9 0 000 18z', 'M12 7v5l3 2'],
  check: ['M5 12.5l4.5 4.5L19 7.5'],
  checks: ['M2.5 12.5L7 17l9.5-9.5', 'M11.5 16.2l.8.8 9.5-9.5'],
  alert: ['M12 21a9 9 0 100-18 9 9 0 000 18z', 'M12 7.5v5.5', 'M12 16.5h.01'],
  image: ['M5 4h14a1 1 0 011 1v14a1 1 0 01-1 1H5a1 1 0 01-1-1V5a1 1 0 011-1z', 'M4 16l5-5 4 4 3-3 4 4', 'M15 8.5h.01'],
  search: ['M11 18a7 7 0 100-14 7 7 0 000 14z', 'M20 20l-4-4'],
};

/**
 * Makes `container`'s children match `items` ({ key, signature, create }) in
 * order. An element is kept while its key and signature stay the same and is
 * rebuilt with create() when the signature changes. Keeps keyboard focus on
 * a rebuilt element. Calls onRemove(element) for each element dropped or
 * replaced and onCreate(element, item) for each new one.
 */
export function reconcile(container, items, { onRemove, onCreate } = {}) {
  const existing = new Map();
  for (const child of container.children) {
    if (child.dataset.key) existing.set(child.dataset.key, child);
  }

  let cursor = container.firstElementChild;
  for (const item of items) {
    let element = existing.get(item.key);
    existing.delete(item.key);
    if (element && element.dataset.signature !== item.signature) {
      const replacement = build(item);
      const hadFocus = element.contains(document.activeElement);
      element.replaceWith(replacement);
      onRemove?.(element);
      onCreate?.(replacement, item);
      if (hadFocus) focusWithin(replacement);
      if (cursor === element) cursor = replacement;
      element = replacement;
    } else if (!element) {
      element = build(item);
      onCreate?.(element, item);
    }
    if (element !== cursor) {
      container.insertBefore(element, cursor);
    } else {
      cursor = cursor.nextElementSibling;
    }
  }

  for (const element of existing.values()) {
    element.remove();
    onRemove?.(element);
  }
}

function build(item) {
  const element = item.create();
  element.dataset.key = item.key;
  element.dataset.signature = item.signature;
  return element;
}

function focusWithin(element) {
  const target = element.matches('a[href], button, [tabindex]')
    ? element
    : element.querySelector('a[href], button, [tabindex]');
  target?.focus({ preventScroll: true });
}
