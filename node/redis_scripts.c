/*
 * redis_scripts.c - the Lua scripts as the node loads them (part of the
 * Redis module; the texts are in redis_scripts.h and
 * redis_scripts_resume.h).
 *
 * Each link loads every script right after its connect (SCRIPT LOAD) and
 * requests call them by SHA1 (EVALSHA), so the SHA1s are computed once at
 * start from exactly the texts loaded. On Redis Cluster a room's channel
 * is a shard channel, so each 'PUBLISH' in a script becomes 'SPUBLISH'
 * (docs/design.md#redis-cluster).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "redis_bus_internal.h"
#include "redis_scripts.h"

static const char *const script_text[] = {
    [S_JOIN] = SCRIPT_JOIN,
    [S_LEAVE] = SCRIPT_LEAVE,
    [S_CREATE] = SCRIPT_CREATE,
    [S_GET] = SCRIPT_GET,
    [S_LIST] = SCRIPT_LIST,
    [S_BRIEF] = SCRIPT_BRIEF,
    [S_DELETE] = SCRIPT_DELETE,
    [S_REFRESH] = SCRIPT_REFRESH,
    [S_RESTORE] = SCRIPT_RESTORE,
    [S_REAP_NODE] = SCRIPT_REAP_NODE,
    [S_REAP_ROOM] = SCRIPT_REAP_ROOM,
    [S_REAP_FORGET] = SCRIPT_REAP_FORGET,
    [S_JOIN_AUTH] = SCRIPT_JOIN_AUTH,
    [S_HOLD] = SCRIPT_HOLD,
    [S_RESUME] = SCRIPT_RESUME,
    [S_GAP] = SCRIPT_GAP,
    [S_EXPIRE_AWAY] = SCRIPT_EXPIRE_AWAY,
    [S_GAP_FRONT] = SCRIPT_GAP_FRONT,
};
/* One text per script of enum bus_script (each named by its index). */
_Static_assert(sizeof(script_text) / sizeof(script_text[0]) == S_COUNT, "a script has no text");

static const char *loaded[S_COUNT]; /* the texts loaded: SPUBLISH on a cluster */
static char sha[S_COUNT][41];

static void compute_shas(void)
{
    for (int i = 0; i < S_COUNT; i++) {
        unsigned char digest[SHA_DIGEST_LENGTH];
        SHA1((const unsigned char *)loaded[i], strlen(loaded[i]), digest);
        for (int j = 0; j < SHA_DIGEST_LENGTH; j++)
            snprintf(sha[i] + 2 * j, 3, "%02x", digest[j]);
    }
}

/* The scripts as loaded: on a cluster each 'PUBLISH' is 'SPUBLISH' (the
 * room's channel is a shard channel in the room's slot). */
int bus_scripts_prepare(bool cluster)
{
    static char *shard[S_COUNT];
    for (int i = 0; i < S_COUNT; i++) {
        /* The table's size is checked at compile time, a gap in it here. */
        if (!script_text[i])
            return -1;
        loaded[i] = script_text[i];
        if (!cluster || !strstr(script_text[i], "'PUBLISH'"))
            continue;
        if (!shard[i]) {
            size_t n = 0;
            for (const char *p = script_text[i]; (p = strstr(p, "'PUBLISH'")); p++)
                n++;
            if (!(shard[i] = malloc(strlen(script_text[i]) + n + 1)))
                return -1;
            char *out = shard[i];
            for (const char *p = script_text[i]; *p;) {
                if (strncmp(p, "'PUBLISH'", 9) == 0) {
                    memcpy(out, "'SPUBLISH'", 10);
                    out += 10;
                    p += 9;
                } else {
                    *out++ = *p++;
                }
            }
            *out = '\0';
        }
        loaded[i] = shard[i];
    }
    compute_shas();
    return 0;
}

const char *const *bus_script_texts(void)
{
    return loaded;
}

const char *bus_script_sha(int script)
{
    return sha[script];
}
