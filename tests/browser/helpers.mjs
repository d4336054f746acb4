// Shared steps of the browser tests: launching Chromium, signing up,
// opening conversations, reading the chat pane and saving screenshots.

import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

export const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Launches headless Chromium; CHROMIUM_PATH overrides the Debian path. */
export async function launchBrowser() {
  await mkdir(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  });
}

/** Saves a full-page screenshot as tests/artifacts/NAME.png. */
export async function screenshot(page, name) {
  await page.screenshot({ path: `${ARTIFACTS}${name}.png` });
}

/**
 * Collects the page's uncaught errors and Content-Security-Policy
 * violations, and prints them and failed API requests to the test log as
 * they happen.
 */
export function watchErrors(page, label) {
  const errors = [];
  page.on('pageerror', (error) => {
    errors.push(error.message);
    console.error(`[${label}] page error: ${error.message}`);
  });
  page.on('response', (response) => {
    const url = new URL(response.url());
    const expected = url.pathname === '/api/me' && response.status() === 401;
    if (url.pathname.startsWith('/api/') && response.status() >= 400 && !expected) {
      console.error(`[${label}] ${response.request().method()} ${url.pathname}${url.search} -> ${response.status()}`);
    }
  });
  page.on('console', (message) => {
    if (message.type() === 'error' && message.text().includes('Content Security Policy')) {
      errors.push(message.text());
      console.error(`[${label}] ${message.text()}`);
    }
  });
  return errors;
}

/** Signs up through the form and waits for the conversation list. */
export async function signUp(page, username, password, displayName) {
  await page.getByRole('button', { name: 'Create an account' }).click();
  await page.locator('#auth-username').fill(username);
  await page.locator('#auth-password').fill(password);
  if (displayName) await page.locator('#auth-display-name').fill(displayName);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.locator('.sidebar-header').waitFor();
}

/** Logs in through the form and waits for the conversation list. */
export async function logIn(page, username, password) {
  await page.locator('#auth-username').fill(username);
  await page.locator('#auth-password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('.sidebar-header').waitFor();
}

/** Starts a direct chat with `username` through the new-chat dialog. */
export async function startDirectChat(page, username) {
  await page.getByRole('button', { name: 'New chat' }).first().click();
  await page.locator('#new-chat-search').fill(username);
  await page.locator('.user-result', { hasText: `@${username}` }).click();
  await page.getByRole('button', { name: 'Start chat' }).click();
  await page.locator('.chat-body:not([hidden])').waitFor();
}

/** Returns the conversation list entry whose name is `name`. */
export function conversationItem(page, name) {
  return page.locator('.conversation-item').filter({ has: page.locator('.item-name', { hasText: name }) });
}

/** Sends a message with the composer and the Enter key. */
export async function sendMessage(page, text) {
  const input = page.locator('#composer-input');
  await input.fill(text);
  await input.press('Enter');
}

/** Returns the message row whose body is exactly `text`. */
export function messageRow(page, text) {
  return page.locator('.message-row').filter({ has: page.locator('.message-body', { hasText: new RegExp(`^${escapeRegExp(text)}$`) }) });
}

/** Returns the bodies of all message rows, top to bottom. */
export function messageBodies(page) {
  return page.locator('.message-row .message-body').allTextContents();
}

/** Returns the delivery state of my message with body `text`. */
export function deliveryOf(page, text) {
  return messageRow(page, text).locator('.ticks').getAttribute('data-delivery');
}

/** Scrolls the message pane to the top, as a person dragging it would. */
export async function scrollMessagesTo(page, top) {
  await page.locator('.messages').evaluate((element, value) => {
    element.scrollTop = value === 'bottom' ? element.scrollHeight : value;
  }, top);
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Polls `read()` until `check(value)` is true or `timeoutMs` passes; returns the last value. */
export async function waitUntil(read, check, { timeoutMs = 5000, intervalMs = 50 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!check(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
    value = await read();
  }
  return value;
}
