-- 003: tell the push daemon when sessions end. Logging out, logging out
-- everywhere and bans already refuse new requests; open WebSockets were
-- checked only when they connected. A notification on blinkchat_sessions
-- with the payload "user:ID" (every session of a user) or "jti:JTI" (one
-- session) lets the daemon close those sockets at once.

CREATE OR REPLACE FUNCTION admin_ban_user(p_username text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    banned bigint;
BEGIN
    UPDATE users SET banned_at = clock_timestamp(), token_version = token_version + 1
    WHERE lower(username) = lower(p_username)
    RETURNING id INTO banned;
    IF banned IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM pg_notify('blinkchat_sessions', 'user:' || banned);
    RETURN true;
END
$$;

CREATE OR REPLACE FUNCTION admin_logout_user(p_username text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    target bigint;
BEGIN
    UPDATE users SET token_version = token_version + 1
    WHERE lower(username) = lower(p_username)
    RETURNING id INTO target;
    IF target IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM pg_notify('blinkchat_sessions', 'user:' || target);
    RETURN true;
END
$$;
