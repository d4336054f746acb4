// The WebSocket to /ws: connects, resumes after a drop from the last applied
// event_id, reconnects with exponential backoff and jitter, and pings.

export const PING_INTERVAL_MS = 25000;
/** A socket that sends no frame this long after a ping or a connect is taken as dead. */
export const PONG_TIMEOUT_MS = 10000;
export const BACKOFF_BASE_MS = 500;
export const BACKOFF_MAX_MS = 30000;

/** Returns the ws: or wss: URL of /ws on the page's origin. */
export function socketUrl(location = globalThis.location) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws`;
}

/**
 * Returns the wait before reconnect attempt number `attempt` (0 first):
 * BACKOFF_BASE_MS doubled per attempt, capped at BACKOFF_MAX_MS, and a random
 * point in its upper half so that many clients do not reconnect in step.
 */
export function backoffDelay(attempt, random = Math.random) {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt, 16));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/**
 * Creates a socket client that stays connected until stop().
 *
 * options.getResumePoint() returns the last applied event_id or null. When it
 * is not null, a resume frame carrying it is sent as soon as the socket opens.
 * options.onHello(frame, { resumed }) receives each hello, options.onEvent(frame)
 * every other frame except pong, options.onStatus({ state, attempt, retryInMs })
 * the connection state: "connecting", "open" or "waiting".
 */
export function createSocket(options) {
  const {
    url,
    getResumePoint,
    onHello,
    onEvent,
    onStatus = () => {},
    WebSocketImpl = globalThis.WebSocket,
    random = Math.random,
  } = options;

  let ws = null;
  let attempt = 0;
  let stopped = true;
  let reconnectTimer = null;
  let pingTimer = null;
  let pongTimer = null;
  let resumed = false;

  function connect() {
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    onStatus({ state: 'connecting', attempt });

    const socket = new WebSocketImpl(url);
    ws = socket;
    resumed = false;
    armDeadline('while connecting');

    socket.onopen = () => {
      if (ws !== socket) return;
      const resumePoint = getResumePoint();
      if (resumePoint != null) {
        socket.send(JSON.stringify({ type: 'resume', last_event_id: resumePoint }));
        resumed = true;
      }
      pingTimer = setInterval(sendPing, PING_INTERVAL_MS);
    };

    socket.onmessage = (messageEvent) => {
      if (ws !== socket) return;
      clearTimeout(pongTimer);
      pongTimer = null;
      let frame;
      try {
        frame = JSON.parse(messageEvent.data);
      } catch {
        console.warn('Ignored a WebSocket frame that is not JSON');
        return;
      }
      if (!frame || typeof frame.type !== 'string') return;
      if (frame.type === 'pong') return;
      if (frame.type === 'hello') {
        attempt = 0;
        // The daemon delays event frames for up to a second after hello,
        // until the client's first frame, so a client that does not resume
        // ends the wait with a ping.
        if (!resumed) sendPing();
        onStatus({ state: 'open', attempt });
        onHello(frame, { resumed });
        return;
      }
      onEvent(frame);
    };

    socket.onclose = () => {
      if (ws !== socket) return;
      dropSocket();
      if (!stopped) scheduleReconnect();
    };

    // Every error is followed by close, which reconnects.
    socket.onerror = () => {};
  }

  function sendPing() {
    if (send({ type: 'ping' })) armDeadline('after a ping');
  }

  // Reconnects unless a frame arrives within PONG_TIMEOUT_MS, so a connection
  // that hangs while connecting or dies without a close is noticed.
  function armDeadline(when) {
    clearTimeout(pongTimer);
    pongTimer = setTimeout(() => {
      console.warn(`WebSocket sent no frame for ${PONG_TIMEOUT_MS / 1000} s ${when}; reconnecting`);
      const socket = ws;
      dropSocket();
      socket?.close();
      if (!stopped) scheduleReconnect();
    }, PONG_TIMEOUT_MS);
  }

  function dropSocket() {
    clearInterval(pingTimer);
    clearTimeout(pongTimer);
    pingTimer = null;
    pongTimer = null;
    ws = null;
  }

  function scheduleReconnect() {
    const delay = backoffDelay(attempt, random);
    attempt += 1;
    onStatus({ state: 'waiting', attempt, retryInMs: delay });
    reconnectTimer = setTimeout(connect, delay);
  }

  /** Sends a frame if the socket is open; returns whether it was sent. */
  function send(frame) {
    if (!ws || ws.readyState !== 1) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      attempt = 0;
      connect();
    },

    /** Closes the socket and stops reconnecting. */
    stop() {
      stopped = true;
      clearTimeout(reconnectTimer);
      reconnectTimer = null;
      const socket = ws;
      dropSocket();
      socket?.close();
    },

    /** Skips the remaining backoff wait, for example when the browser goes online. */
    reconnectNow() {
      if (stopped || ws || !reconnectTimer) return;
      connect();
    },

    send,

    get isOpen() {
      return Boolean(ws && ws.readyState === 1);
    },
  };
}
