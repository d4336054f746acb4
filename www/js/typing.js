// Sends my typing state: typing:true when I start and again every
// TYPING_REFRESH_MS while I keep typing, typing:false when the message is
// sent, the input is cleared, I switch conversations, or I stop typing for
// TYPING_IDLE_MS.

export const TYPING_REFRESH_MS = 3000;
export const TYPING_IDLE_MS = 5000;

/** Creates the typing sender; `send(frame)` writes a frame to the socket. */
export function createTypingSender({ send, now = () => Date.now() }) {
  let conversationId = null;
  let active = false;
  let lastSentAt = 0;
  let idleTimer = null;

  function sendState(target, typing) {
    send({ type: 'typing', conversation_id: target, typing });
  }

  function stop() {
    clearTimeout(idleTimer);
    idleTimer = null;
    if (active) sendState(conversationId, false);
    active = false;
  }

  return {
    /** Reports the composer's text after each edit. */
    input(targetConversationId, text) {
      if (targetConversationId !== conversationId) {
        stop();
        conversationId = targetConversationId;
      }
      if (!text.trim()) {
        stop();
        return;
      }
      if (!active || now() - lastSentAt >= TYPING_REFRESH_MS) {
        sendState(conversationId, true);
        active = true;
        lastSentAt = now();
      }
      clearTimeout(idleTimer);
      idleTimer = setTimeout(stop, TYPING_IDLE_MS);
    },

    stop,
  };
}
