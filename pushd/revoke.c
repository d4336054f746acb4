/* Closing the sockets of ended sessions; see revoke.h. */
#define _POSIX_C_SOURCE 200809L
#include "revoke.h"

#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sockets.h"
#include "text.h"
#include "users.h"

static void close_user_sockets(struct user *user, const char *jti)
{
    for (struct push_socket *s = user->sockets; s != NULL; s = s->next_of_user) {
        if (jti == NULL || strcmp(s->jti, jti) == 0)
            socket_close(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "session ended");
    }
}

static void close_session_sockets(struct user *user, void *arg)
{
    close_user_sockets(user, arg);
}

void revoke_sessions(const char *payload)
{
    if (strncmp(payload, "user:", 5) == 0) {
        long long user_id = text_parse_id(payload + 5);
        struct user *user = user_id > 0 ? users_find(user_id) : NULL;

        if (user_id <= 0)
            log_warn("revoke: ignored notification with an invalid user id");
        else if (user != NULL)
            close_user_sockets(user, NULL);
    } else if (strncmp(payload, "jti:", 4) == 0 && strlen(payload + 4) == SESSION_JTI_LEN) {
        users_for_each(close_session_sockets, (void *)(payload + 4));
    } else {
        log_warn("revoke: ignored notification with an unknown payload");
    }
}
