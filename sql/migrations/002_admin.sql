-- 002: administration from psql. Views to look around and functions for the
-- operator's routine tasks; each is safe to run on a live installation.

-- Revokes every session of a user at once and keeps them out until
-- unbanned: the token version moves on and the password hash is disabled.
ALTER TABLE users ADD COLUMN banned_at timestamptz;

CREATE FUNCTION admin_ban_user(p_username text) RETURNS boolean
LANGUAGE sql AS $$
    UPDATE users SET banned_at = clock_timestamp(), token_version = token_version + 1
    WHERE lower(username) = lower(p_username)
    RETURNING true
$$;

CREATE FUNCTION admin_unban_user(p_username text) RETURNS boolean
LANGUAGE sql AS $$
    UPDATE users SET banned_at = NULL
    WHERE lower(username) = lower(p_username)
    RETURNING true
$$;

-- Logs a user out of every device.
CREATE FUNCTION admin_logout_user(p_username text) RETURNS boolean
LANGUAGE sql AS $$
    UPDATE users SET token_version = token_version + 1
    WHERE lower(username) = lower(p_username)
    RETURNING true
$$;

-- Deletes outbox events older than p_keep and expired revocations and login
-- failures. Clients resuming from before the new horizon get
-- resync_required. Returns the number of events deleted.
CREATE FUNCTION admin_prune(p_keep interval DEFAULT interval '7 days') RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    newest events;
    deleted bigint;
BEGIN
    SELECT * INTO newest FROM events
    WHERE created_at < clock_timestamp() - p_keep
    ORDER BY xid DESC, id DESC LIMIT 1;
    IF NOT FOUND THEN
        deleted := 0;
    ELSE
        UPDATE events_horizon SET xid = newest.xid, id = newest.id;
        DELETE FROM events WHERE (xid, id) <= (newest.xid, newest.id);
        GET DIAGNOSTICS deleted = ROW_COUNT;
    END IF;
    DELETE FROM revoked_sessions WHERE expires_at < clock_timestamp();
    DELETE FROM login_failures WHERE window_start < clock_timestamp() - interval '1 day';
    RETURN deleted;
END
$$;

CREATE VIEW admin_users AS
SELECT u.id, u.username, u.display_name, u.created_at, u.last_seen_at,
       u.banned_at IS NOT NULL AS banned,
       (SELECT count(*) FROM messages m WHERE m.sender_id = u.id) AS messages_sent
FROM users u;

CREATE VIEW admin_conversations AS
SELECT c.id, c.kind, c.title, c.created_at, c.updated_at,
       (SELECT count(*) FROM conversation_members cm WHERE cm.conversation_id = c.id) AS members,
       (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) AS messages
FROM conversations c;
