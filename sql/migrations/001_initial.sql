-- 001: the initial schema. Users, conversations and their members, messages,
-- reactions, uploads, and the events outbox that the push daemon reads.
-- Every write that other users must see goes through one of the functions at
-- the end, which change the data and append the outbox event in the same
-- transaction, so an event exists exactly when its change committed.

CREATE TABLE users (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username        text NOT NULL CHECK (username ~ '^[A-Za-z0-9_.-]{3,32}$'),
    display_name    text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 64),
    password_hash   text NOT NULL,
    -- Incremented by "log out everywhere" and by bans; tokens carry the
    -- version they were issued under and are refused once it moves on.
    token_version   bigint NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_seen_at    timestamptz
);
-- Usernames are unique regardless of case; the second index serves the
-- prefix search of GET /api/users.
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE INDEX users_username_prefix ON users (lower(username) text_pattern_ops);

-- Single-session logout: the token id (jti) is listed here until the token
-- would have expired anyway.
CREATE TABLE revoked_sessions (
    jti         text PRIMARY KEY,
    expires_at  timestamptz NOT NULL
);

-- Failed logins per key ("user:NAME" or "addr:IP") in a fixed window.
CREATE TABLE login_failures (
    key           text PRIMARY KEY,
    window_start  timestamptz NOT NULL,
    failures      integer NOT NULL
);

CREATE TABLE uploads (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id      bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    store         text NOT NULL CHECK (store IN ('local', 'cloudinary')),
    storage_key   text NOT NULL,
    url           text NOT NULL,
    thumb_url     text NOT NULL,
    content_type  text NOT NULL,
    bytes         bigint NOT NULL CHECK (bytes > 0),
    width         integer NOT NULL CHECK (width > 0),
    height        integer NOT NULL CHECK (height > 0),
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE conversations (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             text NOT NULL CHECK (kind IN ('direct', 'group')),
    title            text CHECK (title IS NULL OR char_length(title) BETWEEN 1 AND 100),
    -- "SMALLER_ID:LARGER_ID" for a direct conversation, so each pair of
    -- users has at most one; NULL for groups.
    direct_key       text UNIQUE,
    created_by       bigint REFERENCES users ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_message_id  bigint,
    -- Time of the last activity: the newest message, or creation.
    updated_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK ((kind = 'direct') = (direct_key IS NOT NULL))
);

CREATE TABLE conversation_members (
    conversation_id       bigint NOT NULL REFERENCES conversations ON DELETE CASCADE,
    user_id               bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    joined_at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- The read cursor: the newest message id this member has seen.
    last_read_message_id  bigint,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX conversation_members_user ON conversation_members (user_id, conversation_id);

CREATE TABLE messages (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id  bigint NOT NULL REFERENCES conversations ON DELETE CASCADE,
    sender_id        bigint NOT NULL REFERENCES users,
    -- The sender's idempotency key: a retried send finds the stored row.
    client_id        uuid NOT NULL,
    body             text CHECK (body IS NULL OR char_length(body) BETWEEN 1 AND 4000),
    image_id         bigint REFERENCES uploads,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (body IS NOT NULL OR image_id IS NOT NULL),
    UNIQUE (sender_id, client_id)
);
-- History pages walk this index with a (created_at, id) keyset.
CREATE INDEX messages_history ON messages (conversation_id, created_at, id);
-- Unread counts count the ids past a member's read cursor.
CREATE INDEX messages_conversation_id ON messages (conversation_id, id);

CREATE TABLE reactions (
    message_id  bigint NOT NULL REFERENCES messages ON DELETE CASCADE,
    user_id     bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    emoji       text NOT NULL CHECK (emoji IN ('🔥', '❤️', '👍', '😂', '😮', '😢')),
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (message_id, user_id, emoji)
);

-- The outbox. Each row records the transaction that wrote it (xid), and
-- readers take only rows whose xid is below the oldest transaction still
-- running, in (xid, id) order. Ids are drawn at insert, not at commit, so
-- "id greater than the last one read" would skip a row whose transaction
-- committed after a reader passed its id; (xid, id) below the snapshot's
-- xmin never changes once read. That pair is the position clients resume
-- from, written "XID-ID".
CREATE TABLE events (
    id               bigint GENERATED ALWAYS AS IDENTITY,
    xid              xid8 NOT NULL DEFAULT pg_current_xact_id(),
    conversation_id  bigint NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('message', 'reaction', 'seen', 'conversation')),
    payload          jsonb NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (xid, id)
);
CREATE INDEX events_conversation ON events (conversation_id, xid, id);

-- The oldest position still kept after pruning; a client resuming from
-- before it must reload over REST.
CREATE TABLE events_horizon (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    xid        xid8 NOT NULL,
    id         bigint NOT NULL
);
INSERT INTO events_horizon (xid, id) VALUES ('0', 0);

-- JSON builders. They produce the objects of the HTTP contract, so the API
-- and the outbox payloads can never disagree on a field.

CREATE FUNCTION api_time(t timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- A timestamp as whole microseconds since the Unix epoch, for cursors.
CREATE FUNCTION time_us(t timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT (extract(epoch FROM t) * 1000000)::bigint
$$;

CREATE FUNCTION us_time(us bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
    SELECT 'epoch'::timestamptz + us * interval '1 microsecond'
$$;

CREATE FUNCTION user_json(u users) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', u.id, 'username', u.username, 'display_name', u.display_name,
        'online', false, 'last_seen_at', api_time(u.last_seen_at))
$$;

CREATE FUNCTION upload_json(up uploads) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', up.id, 'url', up.url, 'thumb_url', up.thumb_url,
        'width', up.width, 'height', up.height)
$$;

CREATE FUNCTION reaction_counts(p_message bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_object_agg(emoji, n), '{}'::jsonb)
    FROM (SELECT emoji, count(*) AS n FROM reactions
          WHERE message_id = p_message GROUP BY emoji) AS counts
$$;

CREATE FUNCTION my_reactions(p_message bigint, p_user bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(emoji ORDER BY created_at, emoji), '[]'::jsonb)
    FROM reactions WHERE message_id = p_message AND user_id = p_user
$$;

-- The message as viewer sees it: client_id and seen_by go to the sender only.
CREATE FUNCTION message_json(m messages, viewer bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', m.id, 'conversation_id', m.conversation_id,
        'sender_id', m.sender_id, 'body', m.body,
        'image', (SELECT upload_json(up) FROM uploads up WHERE up.id = m.image_id),
        'created_at', api_time(m.created_at),
        'reactions', reaction_counts(m.id),
        'my_reactions', my_reactions(m.id, viewer))
    || CASE WHEN viewer = m.sender_id THEN jsonb_build_object(
        'client_id', m.client_id,
        'seen_by', coalesce((SELECT jsonb_agg(cm.user_id ORDER BY cm.user_id)
                             FROM conversation_members cm
                             WHERE cm.conversation_id = m.conversation_id
                               AND cm.user_id <> m.sender_id
                               AND cm.last_read_message_id >= m.id), '[]'::jsonb))
       ELSE '{}'::jsonb END
$$;

-- Messages from others past the member's read cursor. The one definition of
-- an unread count; a cache, where there is one, derives from it.
CREATE FUNCTION unread_count(p_conversation bigint, p_user bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT count(*) FROM conversation_members cm
    JOIN messages m ON m.conversation_id = cm.conversation_id
                   AND m.id > coalesce(cm.last_read_message_id, 0)
    WHERE cm.conversation_id = p_conversation AND cm.user_id = p_user
      AND m.sender_id <> p_user
$$;

CREATE FUNCTION conversation_json(p_conversation bigint, viewer bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', c.id, 'kind', c.kind, 'title', c.title,
        'members', (SELECT jsonb_agg(user_json(u) ORDER BY u.id)
                    FROM conversation_members cm JOIN users u ON u.id = cm.user_id
                    WHERE cm.conversation_id = c.id),
        'last_message', (SELECT message_json(m, viewer) FROM messages m
                         WHERE m.id = c.last_message_id),
        'unread_count', unread_count(c.id, viewer),
        'last_read_message_id', (SELECT cm.last_read_message_id
                                 FROM conversation_members cm
                                 WHERE cm.conversation_id = c.id AND cm.user_id = viewer),
        'updated_at', api_time(c.updated_at))
    FROM conversations c WHERE c.id = p_conversation
$$;

-- Write paths. Each returns a status word that the API maps to HTTP.

CREATE FUNCTION post_message(p_conversation bigint, p_sender bigint,
                             p_client_id uuid, p_body text, p_image bigint,
                             OUT status text, OUT message jsonb,
                             OUT created_us bigint)
LANGUAGE plpgsql AS $$
DECLARE
    m messages;
BEGIN
    PERFORM 1 FROM conversation_members
    WHERE conversation_id = p_conversation AND user_id = p_sender;
    IF NOT FOUND THEN
        status := 'conversation_not_found';
        RETURN;
    END IF;
    IF p_image IS NOT NULL THEN
        PERFORM 1 FROM uploads WHERE id = p_image AND owner_id = p_sender;
        IF NOT FOUND THEN
            status := 'image_not_found';
            RETURN;
        END IF;
    END IF;

    -- A concurrent send with the same key waits here for the first one to
    -- commit, then finds its row below.
    INSERT INTO messages (conversation_id, sender_id, client_id, body, image_id)
    VALUES (p_conversation, p_sender, p_client_id, p_body, p_image)
    ON CONFLICT (sender_id, client_id) DO NOTHING
    RETURNING * INTO m;
    IF NOT FOUND THEN
        SELECT * INTO m FROM messages
        WHERE sender_id = p_sender AND client_id = p_client_id;
        IF m.conversation_id <> p_conversation THEN
            status := 'client_id_conflict';
        ELSE
            status := 'existing';
            message := message_json(m, p_sender);
        END IF;
        RETURN;
    END IF;

    UPDATE conversations c
    SET last_message_id = m.id, updated_at = m.created_at
    WHERE c.id = p_conversation
      AND (c.last_message_id IS NULL
           OR (c.updated_at, c.last_message_id) < (m.created_at, m.id));

    message := message_json(m, p_sender);
    created_us := time_us(m.created_at);
    INSERT INTO events (conversation_id, kind, payload)
    VALUES (p_conversation, 'message', jsonb_build_object('message', message));
    status := 'created';
END
$$;

-- Moves the read cursor forward only; an older up_to changes nothing.
CREATE FUNCTION mark_read(p_conversation bigint, p_user bigint, p_up_to bigint)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM conversation_members
    WHERE conversation_id = p_conversation AND user_id = p_user;
    IF NOT FOUND THEN
        RETURN 'conversation_not_found';
    END IF;
    PERFORM 1 FROM messages WHERE id = p_up_to AND conversation_id = p_conversation;
    IF NOT FOUND THEN
        RETURN 'message_not_found';
    END IF;

    UPDATE conversation_members SET last_read_message_id = p_up_to
    WHERE conversation_id = p_conversation AND user_id = p_user
      AND (last_read_message_id IS NULL OR last_read_message_id < p_up_to);
    IF NOT FOUND THEN
        RETURN 'unchanged';
    END IF;

    INSERT INTO events (conversation_id, kind, payload)
    VALUES (p_conversation, 'seen', jsonb_build_object(
        'conversation_id', p_conversation, 'user_id', p_user, 'up_to', p_up_to));
    RETURN 'moved';
END
$$;

CREATE FUNCTION set_reaction(p_message bigint, p_user bigint, p_emoji text,
                             p_on boolean, OUT status text,
                             OUT reactions jsonb, OUT my_reactions jsonb,
                             OUT conversation_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
    conversation bigint;
    changed boolean;
BEGIN
    SELECT m.conversation_id INTO conversation
    FROM messages m
    JOIN conversation_members cm ON cm.conversation_id = m.conversation_id
                                AND cm.user_id = p_user
    WHERE m.id = p_message;
    IF NOT FOUND THEN
        status := 'message_not_found';
        RETURN;
    END IF;
    set_reaction.conversation_id := conversation;

    IF p_on THEN
        INSERT INTO reactions (message_id, user_id, emoji)
        VALUES (p_message, p_user, p_emoji)
        ON CONFLICT DO NOTHING;
    ELSE
        DELETE FROM reactions
        WHERE message_id = p_message AND user_id = p_user AND emoji = p_emoji;
    END IF;
    changed := FOUND;

    reactions := reaction_counts(p_message);
    my_reactions := my_reactions(p_message, p_user);
    IF changed THEN
        INSERT INTO events (conversation_id, kind, payload)
        VALUES (conversation, 'reaction', jsonb_build_object(
            'conversation_id', conversation, 'message_id', p_message,
            'user_id', p_user, 'emoji', p_emoji, 'on', p_on,
            'reactions', reactions));
        status := 'changed';
    ELSE
        status := 'unchanged';
    END IF;
END
$$;

-- Creates a direct conversation (one other member, no title) or a group,
-- and returns it as the creator sees it. A direct pair that already has a
-- conversation gets it back as 'existing'. The JSON is built here, not by
-- the caller's statement, because a caller's snapshot would not yet see the
-- rows this function inserted.
CREATE FUNCTION create_conversation(p_creator bigint, p_members bigint[],
                                    p_title text, OUT status text,
                                    OUT conversation_id bigint,
                                    OUT conversation jsonb,
                                    OUT member_ids bigint[])
LANGUAGE plpgsql AS $$
DECLARE
    others bigint[];
    pair text;
BEGIN
    others := ARRAY(SELECT DISTINCT x FROM unnest(p_members) AS x
                    WHERE x <> p_creator ORDER BY x);
    IF (SELECT count(*) FROM users WHERE id = ANY (others)) <> cardinality(others) THEN
        status := 'user_not_found';
        RETURN;
    END IF;

    IF cardinality(others) = 1 AND p_title IS NULL THEN
        pair := least(p_creator, others[1]) || ':' || greatest(p_creator, others[1]);
        INSERT INTO conversations (kind, direct_key, created_by)
        VALUES ('direct', pair, p_creator)
        ON CONFLICT (direct_key) DO NOTHING
        RETURNING id INTO conversation_id;
        IF NOT FOUND THEN
            SELECT c.id INTO conversation_id FROM conversations c WHERE c.direct_key = pair;
            status := 'existing';
            conversation := conversation_json(conversation_id, p_creator);
            RETURN;
        END IF;
    ELSE
        INSERT INTO conversations (kind, title, created_by)
        VALUES ('group', p_title, p_creator)
        RETURNING id INTO conversation_id;
    END IF;

    INSERT INTO conversation_members (conversation_id, user_id)
    SELECT create_conversation.conversation_id, x
    FROM unnest(others || p_creator) AS x;

    INSERT INTO events (conversation_id, kind, payload)
    VALUES (conversation_id, 'conversation', jsonb_build_object(
        'conversation', conversation_json(conversation_id, NULL),
        'member_ids', to_jsonb(others || p_creator)));
    conversation := conversation_json(conversation_id, p_creator);
    member_ids := others || p_creator;
    status := 'created';
END
$$;
