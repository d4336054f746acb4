// Starts the client: checks the session, shows the login screen or the
// app, loads state over REST and keeps it live over the WebSocket.

import { api, onUnauthorized } from './api.js';
import { createSender } from './sender.js';
import { createSocket, socketUrl } from './socket.js';
import { createStore } from './store.js';
import { createTypingSender } from './typing.js';
import { showAuth } from './ui/auth.js';
import { createChatView } from './ui/chat.js';
import { createSidebar } from './ui/list.js';
import { createNewChatDialog } from './ui/newchat.js';
import { notify } from './ui/toast.js';

const CONVERSATION_PAGE_SIZE = 30;
const TYPING_SWEEP_MS = 1000;
const CLOCK_REFRESH_MS = 30000;
/** Maximum wait for the first hello before the REST load goes ahead without it. */
const FIRST_HELLO_WAIT_MS = 1500;
/** Failed reconnects after which the client checks whether the session still exists. */
const SESSION_CHECK_ATTEMPTS = 3;

const store = createStore();
const sender = createSender({ store, api });

const elements = {
  boot: document.getElementById('boot'),
  auth: document.getElementById('auth'),
  app: document.getElementById('app'),
  sidebar: document.getElementById('sidebar'),
  chat: document.getElementById('chat'),
  connection: document.getElementById('connection'),
};

let socket = null;
let helloSeen = false;
// True when the first REST load after login went out before the first
// hello, so that snapshot may be older than the socket's start position.
let loadedBeforeHello = false;
let resolveFirstHello = null;
let authScreen = null;
let sidebar = null;
let chat = null;
let newChatDialog = null;

const typingSender = createTypingSender({ send: (frame) => socket?.send(frame) });

// ---- rendering ----------------------------------------------------------------

let renderQueued = false;

function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  // Hidden tabs get no animation frames, but the title and lists should still follow.
  const run = () => {
    renderQueued = false;
    renderAll();
  };
  if (document.visibilityState === 'visible') requestAnimationFrame(run);
  else setTimeout(run, 50);
}

function renderAll() {
  if (!store.me || !sidebar) return;
  sidebar.render();
  chat.render();
  const unread = store.conversationList().reduce((sum, conversation) => sum + (conversation.unread_count || 0), 0);
  document.title = unread ? `(${unread}) BlinkChat` : 'BlinkChat';
}

store.subscribe(scheduleRender);
setInterval(() => store.expireTyping(), TYPING_SWEEP_MS);
setInterval(scheduleRender, CLOCK_REFRESH_MS);

// ---- REST loading ----------------------------------------------------------

async function loadConversations({ replace = false } = {}) {
  const page = await api.listConversations(null, CONVERSATION_PAGE_SIZE);
  store.addConversationsPage(page, { replace, keepId: chat?.conversationId ?? null });
  sidebar?.checkMore();
}

async function loadMoreConversations() {
  const page = await api.listConversations(store.conversationsCursor, CONVERSATION_PAGE_SIZE);
  store.addConversationsPage(page);
  sidebar?.checkMore();
}

async function fetchConversation(id) {
  try {
    const reply = await api.getConversation(id);
    store.upsertConversation(reply.conversation);
  } catch (error) {
    if (error.status !== 404) console.warn(`Loading conversation ${id} failed: ${error.message}`);
  }
}

function reloadEverything() {
  store.dropHistories();
  chat.reload();
  loadConversations({ replace: true }).catch((error) => notify(`Reloading conversations failed: ${error.message}`));
}

// ---- WebSocket ----------------------------------------------------------------

function handleHello(frame, { resumed }) {
  const firstConnect = !helloSeen;
  helloSeen = true;
  resolveFirstHello?.();
  resolveFirstHello = null;
  if (resumed) return;

  // No resume point: events between the last one applied and this hello
  // are unknown, so anything but the first connect reloads over REST.
  store.setLastEventId(frame.last_event_id ?? null);
  if (!firstConnect) {
    reloadEverything();
  } else if (loadedBeforeHello) {
    // The first REST load went out before this position, so an event in
    // between is in neither. Loading again merges whatever it missed.
    loadConversations().catch((error) => console.warn(`Refreshing conversations failed: ${error.message}`));
    chat.refresh();
  }
}

function handleEvent(frame) {
  if (frame.type === 'resync_required') {
    store.setLastEventId(null);
    reloadEverything();
    return;
  }
  if (frame.type === 'error') {
    console.warn(`WebSocket error from the server: ${frame.code}: ${frame.message}`);
    return;
  }
  const result = store.applyEvent(frame);
  if (result.fetchConversation != null) fetchConversation(result.fetchConversation);
}

function showConnection(status) {
  const banner = elements.connection;
  if (status.state === 'open' || (status.state === 'connecting' && !helloSeen)) {
    banner.hidden = true;
    return;
  }
  banner.hidden = false;
  banner.textContent = status.state === 'waiting'
    ? `Connection lost. Reconnecting in ${Math.ceil(status.retryInMs / 1000)} s…`
    : 'Reconnecting…';

  if (status.state === 'waiting' && status.attempt === SESSION_CHECK_ATTEMPTS) {
    api.me().catch((error) => {
      if (error.status === 401) endSession('Your session has ended. Log in again.');
    });
  }
}

function startSocket() {
  socket = createSocket({
    url: socketUrl(),
    getResumePoint: () => store.lastEventId,
    onHello: handleHello,
    onEvent: handleEvent,
    onStatus: showConnection,
  });
  socket.start();
}

window.addEventListener('online', () => socket?.reconnectNow());
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') {
    socket?.reconnectNow();
    scheduleRender();
  }
});

// ---- routing ----------------------------------------------------------------

/** Returns the conversation id in a "#/c/ID" hash, or null. */
function routeConversationId() {
  const match = /^#\/c\/(\d+)$/.exec(location.hash);
  return match ? Number(match[1]) : null;
}

function applyRoute() {
  if (!chat) return;
  const id = routeConversationId();
  if (id != null && !store.conversation(id)) fetchConversation(id);
  elements.app.dataset.view = id == null ? 'list' : 'chat';
  sidebar.setOpen(id);
  chat.open(id, { focus: window.matchMedia('(pointer: fine)').matches });
}

window.addEventListener('hashchange', applyRoute);

// ---- session ----------------------------------------------------------------

function buildApp() {
  if (sidebar) return;
  newChatDialog = createNewChatDialog({
    api,
    store,
    onCreated: (conversation) => {
      store.upsertConversation(conversation);
      location.hash = `#/c/${conversation.id}`;
    },
  });
  sidebar = createSidebar({
    root: elements.sidebar,
    store,
    onNewChat: () => newChatDialog.open(),
    onLogout: logout,
    loadMore: loadMoreConversations,
  });
  chat = createChatView({
    root: elements.chat,
    store,
    api,
    sender,
    typingSender,
    notify,
    onBack: () => {
      location.hash = '#/';
    },
  });
}

function startApp(user) {
  authScreen?.dispose();
  authScreen = null;
  elements.boot.hidden = true;
  elements.auth.hidden = true;
  elements.auth.textContent = '';
  elements.app.hidden = false;

  store.setMe(user);
  buildApp();
  helloSeen = false;
  loadedBeforeHello = false;
  const firstHello = new Promise((resolve) => {
    resolveFirstHello = resolve;
  });
  startSocket();
  scheduleRender();

  // Loading after the first hello means every later event reaches the
  // socket, so the REST snapshot and the live events leave no gap.
  const waitLimit = new Promise((resolve) => setTimeout(resolve, FIRST_HELLO_WAIT_MS));
  Promise.race([firstHello, waitLimit]).then(() => {
    if (store.me?.id !== user.id) return;
    loadedBeforeHello = !helloSeen;
    loadConversations().catch((error) => notify(`Loading conversations failed: ${error.message}`));
    applyRoute();
  });
}

function showLogin(message = '') {
  elements.boot.hidden = true;
  elements.app.hidden = true;
  elements.auth.hidden = false;
  authScreen = showAuth({
    root: elements.auth,
    login: async (username, password) => (await api.login(username, password)).user,
    register: async (username, password, displayName) => (await api.register(username, password, displayName)).user,
    onAuthenticated: startApp,
  });
  if (message) notify(message);
}

// Forgets the local session state, after the server ended or revoked the session.
function endSession(message) {
  socket?.stop();
  socket = null;
  typingSender.stop();
  chat?.clear();
  store.reset();
  elements.connection.hidden = true;
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  showLogin(message);
}

async function logout() {
  typingSender.stop();
  try {
    await api.logout();
  } catch (error) {
    if (error.status !== 401) {
      notify(`Logging out failed: ${error.message}`);
      return;
    }
  }
  endSession('');
}

onUnauthorized(() => {
  if (store.me) endSession('Your session has ended. Log in again.');
});

async function boot() {
  try {
    const reply = await api.me();
    startApp(reply.user);
  } catch (error) {
    if (error.status === 401) {
      showLogin();
      return;
    }
    elements.boot.hidden = false;
    elements.boot.textContent = '';
    const text = document.createElement('p');
    text.textContent = `BlinkChat could not start: ${error.message}`;
    const retry = document.createElement('button');
    retry.type = 'button';
    retry.className = 'button primary';
    retry.textContent = 'Try again';
    retry.addEventListener('click', () => location.reload());
    elements.boot.append(text, retry);
  }
}

boot();
