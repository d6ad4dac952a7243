/*
 * token_cli.c - `switchboard token` (see token_cli.h).
 *
 *   switchboard token --sub ID [--room ID|*] [--grants join,list,...]
 *                     [--ttl 1h] [--name N] [--metadata JSON]
 *                     [--auth-secret S1[,S2...]]
 *
 * The secret comes from --auth-secret or SWITCHBOARD_AUTH_SECRET and is
 * validated by the node's own configuration rules; the first one signs.
 * The token is then verified as a node would verify it, so whatever this
 * prints is accepted, and a claim out of bounds is reported here rather
 * than by a refusing node.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "clock.h"
#include "token.h"
#include "token_cli.h"

#define TTL_MAX_S (366LL * 24 * 3600)

typedef struct {
    const char *sub, *room, *grants, *ttl, *name, *metadata, *secret;
} cli_args;

static const char usage[] =
    "Usage: switchboard token --sub ID [--room ID|*] [--grants join,create,list,admin]\n"
    "                         [--ttl 1h] [--name NAME] [--metadata JSON] [--auth-secret S]\n"
    "\n"
    "Prints an HS256 access token signed with the first secret of --auth-secret\n"
    "(or SWITCHBOARD_AUTH_SECRET). --ttl takes seconds or a number with s, m, h\n"
    "or d (default 1h, at most 366d); --room defaults to none (no room to join),\n"
    "--grants to none (a token good for /ice-servers only).\n";

static int fail(const char *fmt, const char *arg)
{
    fprintf(stderr, "switchboard token: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see switchboard token --help)\n");
    return 2;
}

/* "--name value" or "--name=value"; returns 1 on help, -1 on a mistake. */
static int parse_args(int argc, char **argv, cli_args *a)
{
    static const struct {
        const char *flag;
        size_t offset;
    } flags[] = {
        { "sub", offsetof(cli_args, sub) },
        { "room", offsetof(cli_args, room) },
        { "grants", offsetof(cli_args, grants) },
        { "ttl", offsetof(cli_args, ttl) },
        { "name", offsetof(cli_args, name) },
        { "metadata", offsetof(cli_args, metadata) },
        { "auth-secret", offsetof(cli_args, secret) },
    };
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return 1;
        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        size_t f = 0;
        while (f < sizeof(flags) / sizeof(flags[0])
               && !(strncmp(arg, "--", 2) == 0 && strlen(flags[f].flag) == len - 2
                    && strncmp(arg + 2, flags[f].flag, len - 2) == 0))
            f++;
        if (f == sizeof(flags) / sizeof(flags[0])) {
            fail("unknown argument '%.40s'", arg);
            return -1;
        }
        const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!value) {
            fail("%s needs a value", arg);
            return -1;
        }
        *(const char **)(void *)((char *)a + flags[f].offset) = value;
    }
    return 0;
}

/* "90", "90s", "15m", "1h", "7d" -> seconds; -1 when malformed or out of range. */
static long long parse_ttl(const char *s)
{
    char *end;
    if (!s || *s < '0' || *s > '9')
        return -1;
    long long n = strtoll(s, &end, 10);
    long long unit = !*end               ? 1
                     : !strcmp(end, "s") ? 1
                     : !strcmp(end, "m") ? 60
                     : !strcmp(end, "h") ? 3600
                     : !strcmp(end, "d") ? 86400
                                         : 0;
    if (!unit || n <= 0 || n > TTL_MAX_S / unit)
        return -1;
    return n * unit;
}

/* "join,list" -> ["join","list"]; the words are checked by the verifier. */
static json_t *grant_list(const char *csv)
{
    json_t *arr = json_array();
    for (const char *p = csv; arr && p && *p;) {
        size_t n = strcspn(p, ",");
        if (n)
            json_array_append_new(arr, json_stringn(p, n));
        p += n + (p[n] == ',');
    }
    return arr;
}

static json_t *build_claims(const cli_args *a, long long now, long long ttl, const char **why)
{
    json_t *c = json_pack("{s:s,s:I,s:I,s:o}", "sub", a->sub, "iat", (json_int_t)now, "exp",
                          (json_int_t)(now + ttl), "grants", grant_list(a->grants));
    if (!c) {
        *why = "--sub is not UTF-8";
        return NULL;
    }
    if (a->room)
        json_object_set_new(c, "room", json_string(a->room));
    if (a->name)
        json_object_set_new(c, "name", json_string(a->name));
    if (a->metadata) {
        json_error_t err;
        json_t *m = json_loads(a->metadata, JSON_REJECT_DUPLICATES, &err);
        if (!json_is_object(m)) {
            json_decref(m);
            json_decref(c);
            *why = "--metadata is not a JSON object";
            return NULL;
        }
        json_object_set_new(c, "metadata", m);
    }
    return c;
}

/* The secrets by the node's own rules (length, whitespace), from the flag
 * or the environment. */
static int read_secret(const cli_args *a, sb_getenv_fn getenv_fn, sb_config *cfg)
{
    char err[256], flag[] = "--auth-secret";
    char *argv[] = { "switchboard", flag, (char *)a->secret, NULL };
    if (sb_config_parse(cfg, a->secret ? 3 : 1, argv, getenv_fn, err, sizeof(err)) != SB_CONFIG_OK)
        return fail("%s", err);
    if (!cfg->auth_secret[0])
        return fail("%s", "no secret: set --auth-secret or SWITCHBOARD_AUTH_SECRET");
    return 0;
}

int token_cli_main(int argc, char **argv, sb_getenv_fn getenv_fn)
{
    cli_args a = { 0 };
    int rc = parse_args(argc, argv, &a);
    if (rc == 1) {
        fputs(usage, stdout);
        return 0;
    }
    if (rc < 0)
        return 2;
    long long ttl = parse_ttl(a.ttl ? a.ttl : "1h");
    if (!a.sub)
        return fail("%s", "--sub is required");
    if (ttl < 0)
        return fail("--ttl '%.40s' is not a duration from 1s to 366d", a.ttl);
    static sb_config cfg;
    if (read_secret(&a, getenv_fn, &cfg) != 0)
        return 2;
    sb_token_key keys[SB_TOKEN_KEYS_MAX];
    size_t n_keys = sb_token_keys_parse(cfg.auth_secret, keys, SB_TOKEN_KEYS_MAX);

    long long now = sb_clock_wall_ms() / 1000;
    const char *why = NULL;
    json_t *claims = build_claims(&a, now, ttl, &why);
    if (!claims)
        return fail("%s", why);
    char *token = sb_token_sign(claims, &keys[0]);
    json_decref(claims);
    if (!token)
        return fail("%s", "out of memory");
    sb_token_result r = sb_token_verify(token, strlen(token), keys, n_keys, now, NULL, &why);
    if (r != SB_TOKEN_OK) {
        free(token);
        return fail("a node would refuse this token: %s", why ? why : sb_token_result_text(r));
    }
    printf("%s\n", token);
    free(token);
    return fflush(stdout) == 0 ? 0 : 1;
}
