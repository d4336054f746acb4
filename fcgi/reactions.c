/* Reactions: add or remove one emoji of the caller on a message. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cache.h"
#include "db.h"

/* The allowed reactions. U+2764 alone is taken as the red heart that the
 * emoji presentation selector U+FE0F makes of it. */
static const char *const allowed_emoji[] = {
    "\xF0\x9F\x94\xA5",         /* U+1F525 fire */
    "\xE2\x9D\xA4\xEF\xB8\x8F", /* U+2764 U+FE0F red heart */
    "\xF0\x9F\x91\x8D",         /* U+1F44D thumbs up */
    "\xF0\x9F\x98\x82",         /* U+1F602 face with tears of joy */
    "\xF0\x9F\x98\xAE",         /* U+1F62E face with open mouth */
    "\xF0\x9F\x98\xA2",         /* U+1F622 crying face */
};

static const char *canonical_emoji(const char *emoji)
{
    if (strcmp(emoji, "\xE2\x9D\xA4") == 0)
        return allowed_emoji[1];
    for (size_t i = 0; i < sizeof(allowed_emoji) / sizeof(allowed_emoji[0]); i++) {
        if (strcmp(emoji, allowed_emoji[i]) == 0)
            return allowed_emoji[i];
    }
    return NULL;
}

static void set_reaction(struct request *req, int on)
{
    const char *emoji = canonical_emoji(req->params[1]);
    char user[24];
    const char *params[4] = {req->params[0], user, emoji, on ? "true" : "false"};
    PGresult *res;
    int unavailable;

    if (emoji == NULL) {
        respond_error(req, ERR_INVALID_EMOJI, NULL);
        return;
    }
    snprintf(user, sizeof(user), "%lld", req->user_id);
    res = db_exec(STMT_REACTION_SET, 4, params, &unavailable);
    if (res == NULL) {
        respond_db_error(req, unavailable);
        return;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "message_not_found") == 0) {
        respond_error(req, ERR_MESSAGE_NOT_FOUND, NULL);
    } else {
        respond_raw_json(req, 200, "{\"reactions\":");
        buf_puts(&req->out, PQgetvalue(res, 0, 1));
        buf_puts(&req->out, ",\"my_reactions\":");
        buf_puts(&req->out, PQgetvalue(res, 0, 2));
        buf_puts(&req->out, "}");
        req->wrote_outbox = strcmp(PQgetvalue(res, 0, 0), "changed") == 0;
        if (req->wrote_outbox)
            cache_conversation_changed(atoll(PQgetvalue(res, 0, 3)), 0, NULL, 0);
    }
    PQclear(res);
}

void reactions_put(struct request *req)
{
    set_reaction(req, 1);
}

void reactions_delete(struct request *req)
{
    set_reaction(req, 0);
}
