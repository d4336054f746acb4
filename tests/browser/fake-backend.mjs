// An in-memory stand-in for the BlinkChat REST API and /ws push socket,
// wired into Playwright browser contexts with route() and routeWebSocket().
// It serves the static client from www/ under FAKE_ORIGIN, so client tests
// run without PostgreSQL, Redis, lighttpd or the push daemon. It follows the
// contract's shapes and rules closely enough to drive the client. The real
// stack is tested separately.

import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FAKE_ORIGIN = 'http://blinkchat.test';
const WWW_ROOT = fileURLToPath(new URL('../../www/', import.meta.url));
const ALLOWED_EMOJI = ['🔥', '❤️', '👍', '😂', '😮', '😢'];
// The policy the deployed web server sends with the client's files.
const CONTENT_SECURITY_POLICY = "default-src 'self'; script-src 'self'; style-src 'self'; "
  + "img-src 'self' data: blob:; connect-src 'self' ws://blinkchat.test; object-src 'none'; "
  + "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
};

function apiError(status, code, message, headers = {}) {
  return { status, body: { error: { code, message } }, headers };
}

/** Creates an empty fake backend. */
export function createFakeBackend() {
  const users = [];
  const passwords = new Map();
  const conversations = [];
  const messages = [];
  const events = [];
  const sockets = new Set();
  let clock = Date.parse('2026-12-01T09:00:00.000Z');

  const backend = {
    /** Number of upcoming message POSTs that fail with 503 without storing the message. */
    failNextSends: 0,
    /** Number of upcoming message POSTs that store the message but respond 503, as if the reply was lost. */
    loseNextReplies: 0,
    /** When set, message POSTs wait for this promise before responding. */
    holdSends: null,
    /** Read cursor POSTs received, as { userId, conversationId, upTo }. */
    readRequests: [],
    /** Every request under /api, as "METHOD path". */
    requestLog: [],
    users,
    conversations,
    messages,
  };

  function now() {
    clock = Math.max(clock + 1, Date.now());
    return new Date(clock).toISOString();
  }

  function publicUser(user) {
    const online = [...sockets].some((socket) => socket.userId === user.id);
    return {
      id: user.id,
      username: user.username,
      display_name: user.display_name,
      online,
      last_seen_at: user.last_seen_at,
    };
  }

  function membership(conversation, userId) {
    return conversation.members.find((member) => member.userId === userId);
  }

  function messageFor(message, viewerId) {
    const reactions = {};
    for (const reaction of message.reactions) reactions[reaction.emoji] = (reactions[reaction.emoji] || 0) + 1;
    const result = {
      id: message.id,
      conversation_id: message.conversation_id,
      sender_id: message.sender_id,
      body: message.body,
      image: message.image || null,
      created_at: message.created_at,
      reactions,
      my_reactions: ALLOWED_EMOJI.filter((emoji) =>
        message.reactions.some((reaction) => reaction.userId === viewerId && reaction.emoji === emoji)),
    };
    if (viewerId === message.sender_id) {
      result.client_id = message.client_id;
      const conversation = conversations.find((item) => item.id === message.conversation_id);
      result.seen_by = conversation.members
        .filter((member) => member.userId !== viewerId && member.lastRead >= message.id)
        .map((member) => member.userId);
    }
    return result;
  }

  function conversationFor(conversation, viewerId) {
    const member = membership(conversation, viewerId);
    const history = messages.filter((message) => message.conversation_id === conversation.id);
    const last = history[history.length - 1] || null;
    return {
      id: conversation.id,
      kind: conversation.kind,
      title: conversation.title,
      members: conversation.members.map((item) => publicUser(users.find((user) => user.id === item.userId))),
      last_message: last ? messageFor(last, viewerId) : null,
      unread_count: history.filter((message) => message.sender_id !== viewerId && message.id > member.lastRead).length,
      last_read_message_id: member.lastRead || null,
      updated_at: last ? last.created_at : conversation.created_at,
    };
  }

  // ---- outbox and sockets ---------------------------------------------------------

  function record(userIds, build) {
    const event = { position: events.length + 1, userIds, build };
    events.push(event);
    for (const socket of sockets) {
      if (socket.live && userIds.includes(socket.userId)) deliver(socket, event);
    }
  }

  function deliver(socket, event) {
    socket.send({ ...event.build(socket.userId), event_id: `pos-${event.position}` });
  }

  function broadcastEphemeral(userIds, frame, exceptSocket = null) {
    for (const socket of sockets) {
      if (socket !== exceptSocket && socket.live && userIds.includes(socket.userId)) socket.send(frame);
    }
  }

  function partnersOf(userId) {
    const ids = new Set();
    for (const conversation of conversations) {
      if (membership(conversation, userId)) for (const member of conversation.members) ids.add(member.userId);
    }
    ids.delete(userId);
    return [...ids];
  }

  function setPresence(userId) {
    const user = users.find((item) => item.id === userId);
    const online = [...sockets].some((socket) => socket.userId === userId);
    if (!online) user.last_seen_at = new Date().toISOString();
    broadcastEphemeral(partnersOf(userId), { type: 'presence', user_id: userId, online, last_seen_at: user.last_seen_at });
  }

  // ---- REST ---------------------------------------------------------------------

  function createUser(username, password, displayName) {
    const user = { id: users.length + 1, username, display_name: displayName || username, last_seen_at: null };
    users.push(user);
    passwords.set(user.id, password);
    return user;
  }

  function storeMessage(conversation, senderId, body, clientId, image = null) {
    const message = {
      id: messages.length + 1,
      conversation_id: conversation.id,
      sender_id: senderId,
      body,
      image,
      client_id: clientId,
      created_at: now(),
      reactions: [],
    };
    messages.push(message);
    const memberIds = conversation.members.map((member) => member.userId);
    record(memberIds, (viewerId) => ({ type: 'message', message: messageFor(message, viewerId) }));
    return message;
  }

  const routes = [
    ['POST', /^\/api\/auth\/register$/, (session, body) => {
      if (!/^[a-z0-9_.-]{3,32}$/i.test(body?.username || '')) return apiError(400, 'invalid_username', 'username must be 3 to 32 characters of a-z 0-9 _ . -');
      if ((body.password || '').length < 8) return apiError(400, 'invalid_password', 'password must be 8 to 1024 bytes');
      if (users.some((user) => user.username.toLowerCase() === body.username.toLowerCase())) {
        return apiError(409, 'username_taken', 'username is taken');
      }
      const user = createUser(body.username, body.password, body.display_name);
      session.userId = user.id;
      return { status: 201, body: { user: publicUser(user) } };
    }],
    ['POST', /^\/api\/auth\/login$/, (session, body) => {
      if (body?.username === 'limited') return apiError(429, 'rate_limited', 'too many login attempts', { 'Retry-After': '42' });
      const user = users.find((item) => item.username.toLowerCase() === String(body?.username).toLowerCase());
      if (!user || passwords.get(user.id) !== body.password) return apiError(401, 'invalid_credentials', 'wrong username or password');
      session.userId = user.id;
      return { status: 200, body: { user: publicUser(user) } };
    }],
    ['POST', /^\/api\/auth\/logout$/, (session) => {
      session.userId = null;
      return { status: 204 };
    }],
    ['GET', /^\/api\/me$/, (session, body, user) => ({ status: 200, body: { user: publicUser(user) } })],
    ['GET', /^\/api\/users$/, (session, body, user, match, query) => {
      const prefix = (query.get('q') || '').toLowerCase();
      const found = users.filter((item) => item.id !== user.id && item.username.toLowerCase().startsWith(prefix));
      return { status: 200, body: { users: found.slice(0, 20).map(publicUser) } };
    }],
    ['GET', /^\/api\/conversations$/, (session, body, user, match, query) => {
      const mine = conversations
        .filter((conversation) => membership(conversation, user.id))
        .map((conversation) => conversationFor(conversation, user.id))
        .sort((a, b) => (a.updated_at === b.updated_at ? b.id - a.id : (a.updated_at < b.updated_at ? 1 : -1)));
      const limit = Math.min(Number(query.get('limit') || 30), 100);
      const start = query.get('before') ? Number(query.get('before')) : 0;
      const page = mine.slice(start, start + limit);
      const next = start + limit < mine.length ? String(start + limit) : null;
      return { status: 200, body: { conversations: page, next_cursor: next } };
    }],
    ['POST', /^\/api\/conversations$/, (session, body, user) => {
      const ids = [...new Set(body.member_ids || [])].filter((id) => id !== user.id);
      if (ids.some((id) => !users.some((item) => item.id === id))) return apiError(404, 'user_not_found', 'a member does not exist');
      if (ids.length === 1 && !body.title) {
        const existing = conversations.find((conversation) => conversation.kind === 'direct'
          && membership(conversation, user.id) && membership(conversation, ids[0]));
        if (existing) return { status: 200, body: { conversation: conversationFor(existing, user.id) } };
      } else if (ids.length < 2 || !body.title) {
        return apiError(400, 'invalid_members', 'a group needs at least two other members and a title');
      }
      const conversation = {
        id: conversations.length + 1,
        kind: ids.length === 1 ? 'direct' : 'group',
        title: ids.length === 1 ? null : body.title,
        created_at: now(),
        members: [user.id, ...ids].map((userId) => ({ userId, lastRead: 0 })),
      };
      conversations.push(conversation);
      const memberIds = conversation.members.map((member) => member.userId);
      record(memberIds, (viewerId) => ({ type: 'conversation', conversation: conversationFor(conversation, viewerId) }));
      return { status: 201, body: { conversation: conversationFor(conversation, user.id) } };
    }],
    ['GET', /^\/api\/conversations\/(\d+)$/, (session, body, user, match) => {
      const conversation = conversations.find((item) => item.id === Number(match[1]));
      if (!conversation || !membership(conversation, user.id)) return apiError(404, 'not_found', 'conversation not found');
      return { status: 200, body: { conversation: conversationFor(conversation, user.id) } };
    }],
    ['GET', /^\/api\/conversations\/(\d+)\/messages$/, (session, body, user, match, query) => {
      const conversation = conversations.find((item) => item.id === Number(match[1]));
      if (!conversation || !membership(conversation, user.id)) return apiError(404, 'not_found', 'conversation not found');
      const limit = Math.min(Number(query.get('limit') || 30), 100);
      const before = query.get('before') ? Number(query.get('before')) : Infinity;
      const older = messages
        .filter((message) => message.conversation_id === conversation.id && message.id < before)
        .reverse();
      const page = older.slice(0, limit);
      const next = older.length > limit ? String(page[page.length - 1].id) : null;
      return { status: 200, body: { messages: page.map((message) => messageFor(message, user.id)), next_cursor: next } };
    }],
    ['POST', /^\/api\/conversations\/(\d+)\/messages$/, async (session, body, user, match) => {
      const conversation = conversations.find((item) => item.id === Number(match[1]));
      if (!conversation || !membership(conversation, user.id)) return apiError(404, 'not_found', 'conversation not found');
      if (backend.holdSends) await backend.holdSends;
      if (backend.failNextSends > 0) {
        backend.failNextSends -= 1;
        return apiError(503, 'unavailable', 'the service is unavailable, try again');
      }
      const repeat = messages.find((message) => message.sender_id === user.id
        && message.conversation_id === conversation.id && message.client_id === body.client_id);
      if (repeat) return { status: 200, body: { message: messageFor(repeat, user.id) } };
      if (typeof body.body !== 'string' || !body.body.trim()) return apiError(400, 'invalid_body', 'body must be 1 to 4000 characters');
      const message = storeMessage(conversation, user.id, body.body, body.client_id);
      if (backend.loseNextReplies > 0) {
        backend.loseNextReplies -= 1;
        return apiError(503, 'unavailable', 'the service is unavailable, try again');
      }
      return { status: 201, body: { message: messageFor(message, user.id) } };
    }],
    ['POST', /^\/api\/conversations\/(\d+)\/read$/, (session, body, user, match) => {
      const conversation = conversations.find((item) => item.id === Number(match[1]));
      const member = conversation && membership(conversation, user.id);
      if (!member) return apiError(404, 'not_found', 'conversation not found');
      backend.readRequests.push({ userId: user.id, conversationId: conversation.id, upTo: body.up_to });
      if (body.up_to > member.lastRead) {
        member.lastRead = body.up_to;
        const memberIds = conversation.members.map((item) => item.userId);
        record(memberIds, () => ({ type: 'seen', conversation_id: conversation.id, user_id: user.id, up_to: body.up_to }));
      }
      return { status: 204 };
    }],
    ['PUT', /^\/api\/messages\/(\d+)\/reactions\/(.+)$/, (session, body, user, match) => react(user, match, true)],
    ['DELETE', /^\/api\/messages\/(\d+)\/reactions\/(.+)$/, (session, body, user, match) => react(user, match, false)],
  ];

  function react(user, match, on) {
    const message = messages.find((item) => item.id === Number(match[1]));
    const conversation = message && conversations.find((item) => item.id === message.conversation_id);
    if (!conversation || !membership(conversation, user.id)) return apiError(404, 'not_found', 'message not found');
    const emoji = decodeURIComponent(match[2]);
    if (!ALLOWED_EMOJI.includes(emoji)) return apiError(400, 'invalid_emoji', 'emoji is not allowed');
    const index = message.reactions.findIndex((reaction) => reaction.userId === user.id && reaction.emoji === emoji);
    const changed = on ? index < 0 : index >= 0;
    if (on && index < 0) message.reactions.push({ userId: user.id, emoji });
    if (!on && index >= 0) message.reactions.splice(index, 1);
    const view = messageFor(message, user.id);
    if (changed) {
      const memberIds = conversation.members.map((item) => item.userId);
      record(memberIds, () => ({
        type: 'reaction',
        conversation_id: conversation.id,
        message_id: message.id,
        user_id: user.id,
        emoji,
        on,
        reactions: view.reactions,
      }));
    }
    return { status: 200, body: { reactions: view.reactions, my_reactions: view.my_reactions } };
  }

  async function handleApi(session, method, url, headers, postData) {
    backend.requestLog.push(`${method} ${url.pathname}`);
    if (method !== 'GET' && headers['content-type'] !== 'application/json') {
      return apiError(415, 'unsupported_media_type', 'send JSON with Content-Type: application/json');
    }
    let body = null;
    if (postData) {
      try {
        body = JSON.parse(postData);
      } catch {
        return apiError(400, 'invalid_json', 'the body is not valid JSON');
      }
    }
    for (const [routeMethod, pattern, handler] of routes) {
      const match = pattern.exec(url.pathname);
      if (!match || routeMethod !== method) continue;
      const user = users.find((item) => item.id === session.userId);
      const open = url.pathname.startsWith('/api/auth/register') || url.pathname.startsWith('/api/auth/login');
      if (!open && !user) return apiError(401, 'unauthenticated', 'log in first');
      return handler(session, body, user, match, url.searchParams);
    }
    return apiError(404, 'not_found', `no route for ${method} ${url.pathname}`);
  }

  async function serveStatic(route, url) {
    let path = url.pathname === '/' ? '/index.html' : url.pathname;
    path = normalize(path).replace(/^(\.\.[/\\])+/, '');
    try {
      const body = await readFile(join(WWW_ROOT, path));
      await route.fulfill({
        status: 200,
        body,
        headers: {
          'Content-Type': CONTENT_TYPES[extname(path)] || 'application/octet-stream',
          'Content-Security-Policy': CONTENT_SECURITY_POLICY,
        },
      });
    } catch {
      await route.fulfill({ status: 404, body: 'not found' });
    }
  }

  /**
   * Connects a browser context to this backend. The returned session object
   * replaces the session cookie, and cutSockets() closes the context's sockets.
   */
  backend.attach = async (context) => {
    const session = { userId: null, blockSockets: false };
    const contextSockets = new Set();

    await context.route(`${FAKE_ORIGIN}/**`, async (route) => {
      const request = route.request();
      const url = new URL(request.url());
      if (!url.pathname.startsWith('/api/')) return serveStatic(route, url);
      const result = await handleApi(session, request.method(), url, await request.allHeaders(), request.postData());
      await route.fulfill({
        status: result.status,
        headers: { 'Content-Type': 'application/json; charset=utf-8', ...result.headers },
        body: result.body ? JSON.stringify(result.body) : '',
      });
    });

    await context.routeWebSocket(`${FAKE_ORIGIN.replace('http', 'ws')}/ws`, (ws) => {
      if (!session.userId || session.blockSockets) {
        ws.close({ code: 1008, reason: 'unauthenticated' });
        return;
      }
      const socket = {
        userId: session.userId,
        live: false,
        ws,
        frames: [],
        send(frame) {
          this.frames.push(frame);
          ws.send(JSON.stringify(frame));
        },
      };
      sockets.add(socket);
      contextSockets.add(socket);
      socket.send({ type: 'hello', user_id: socket.userId, last_event_id: `pos-${events.length}` });
      socket.live = true;
      setPresence(socket.userId);

      ws.onMessage((data) => {
        const frame = JSON.parse(data);
        socket.received = [...(socket.received || []), frame];
        if (frame.type === 'ping') {
          socket.send({ type: 'pong' });
        } else if (frame.type === 'resume') {
          const from = Number(String(frame.last_event_id).replace('pos-', ''));
          for (const event of events.slice(from)) {
            if (event.userIds.includes(socket.userId)) deliver(socket, event);
          }
        } else if (frame.type === 'typing') {
          const conversation = conversations.find((item) => item.id === frame.conversation_id);
          if (!conversation || !membership(conversation, socket.userId)) return;
          const others = conversation.members.map((member) => member.userId);
          broadcastEphemeral(others, {
            type: 'typing', conversation_id: conversation.id, user_id: socket.userId, typing: Boolean(frame.typing),
          }, socket);
        }
      });
      ws.onClose(() => {
        sockets.delete(socket);
        contextSockets.delete(socket);
        setPresence(socket.userId);
      });
    });

    return {
      session,
      sockets: contextSockets,
      /** Closes this context's sockets; with `block`, refuses new ones until unblockSockets(). */
      cutSockets({ block = false } = {}) {
        session.blockSockets = block;
        for (const socket of [...contextSockets]) {
          sockets.delete(socket);
          contextSockets.delete(socket);
          socket.ws.close({ code: 1006, reason: 'cut by the test' });
        }
      },
      unblockSockets() {
        session.blockSockets = false;
      },
    };
  };

  /** Adds a user directly; returns the user record. */
  backend.addUser = (username, password, displayName) => createUser(username, password, displayName);

  /** Adds a conversation between users directly, without an event. */
  backend.addConversation = (memberIds, title = null) => {
    const conversation = {
      id: conversations.length + 1,
      kind: memberIds.length === 2 ? 'direct' : 'group',
      title,
      created_at: now(),
      members: memberIds.map((userId) => ({ userId, lastRead: 0 })),
    };
    conversations.push(conversation);
    return conversation;
  };

  /** Stores `count` messages alternating between two senders, without events. */
  backend.seedMessages = (conversation, senderIds, count) => {
    for (let index = 0; index < count; index += 1) {
      messages.push({
        id: messages.length + 1,
        conversation_id: conversation.id,
        sender_id: senderIds[index % senderIds.length],
        body: `Seeded message ${index + 1}`,
        client_id: `seed-${conversation.id}-${index}`,
        created_at: now(),
        reactions: [],
      });
    }
  };

  /** Sends a message as `userId` through the same path as the API; `image` is an image object or null. */
  backend.sendAs = (userId, conversation, body, image = null) =>
    storeMessage(conversation, userId, body, `server-${messages.length + 1}`, image);

  /** Sends a typing frame as `userId` to the other members. */
  backend.typingAs = (userId, conversation, typing) => {
    const others = conversation.members.map((member) => member.userId).filter((id) => id !== userId);
    broadcastEphemeral(others, { type: 'typing', conversation_id: conversation.id, user_id: userId, typing });
  };

  /** Sends a frame to every socket of `userId`. */
  backend.sendFrame = (userId, frame) => broadcastEphemeral([userId], frame);

  return backend;
}
