/*
 * config.c - node configuration from flags and SWITCHBOARD_* variables.
 *
 * One static table describes every option: its flag, its environment
 * variable, its type, its default, its range and its help text. Defaults,
 * the environment, the command line and --help are all driven from it, so
 * an option cannot be documented under one name and read under another,
 * and adding one is a single line.
 *
 * Parsing runs in two phases. First each option's raw text is resolved
 * (default, then variable, then flag; the last one wins) while remembering
 * where it came from. Only then is each winning value converted and
 * validated, so a malformed variable that a flag overrides is harmless, and
 * an error names exactly the flag or variable the operator has to fix.
 *
 * Validation is strict: numbers must be whole decimal numbers with nothing
 * after them ("80x" is not 80), and every value is range-checked, because
 * a typo in a deployment should stop the node at start with a one-line
 * reason rather than surface later as odd behaviour. Values that end up in
 * Redis keys or in the inter-node envelope header (node id, key prefix)
 * may not contain whitespace, control characters or the braces Redis
 * Cluster uses for hash tags.
 *
 * Error messages never echo free-form strings such as the Redis URL, the
 * TURN secret or the auth secrets, which may carry credentials.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "ratelimit.h"
#include "token.h"

/* Seconds are turned into milliseconds by the node; staying below this keeps
 * that product within an int. */
#define TIMEOUT_MAX 2000000
#define NODE_ID_MAX 100

typedef enum { OPT_STRING, OPT_INT, OPT_SIZE, OPT_LEVEL, OPT_FORMAT } opt_kind;

/* Extra validation of a stored value; may fill derived fields of cfg.
 * Returns 0, or -1 with a reason in why. */
typedef int (*opt_check)(const char *value, sb_config *cfg, char *why, size_t whylen);

typedef struct {
    const char *flag; /* without the leading "--" */
    const char *env;
    const char *metavar;
    opt_kind kind;
    const char *def; /* NULL: computed at parse time */
    const char *help;
    size_t offset;
    size_t size;        /* capacity of a string field */
    long long min, max; /* bounds of a number */
    opt_check check;
} sb_option;

static int check_host(const char *value, sb_config *cfg, char *why, size_t whylen);
static int check_redis_url(const char *value, sb_config *cfg, char *why, size_t whylen);
static int check_redis_cluster(const char *value, sb_config *cfg, char *why, size_t whylen);
static int check_sentinels(const char *value, sb_config *cfg, char *why, size_t whylen);
static int check_master_name(const char *value, sb_config *cfg, char *why, size_t whylen);
static int check_node_id(const char *value, sb_config *cfg, char *why, size_t whylen);
static int check_key_prefix(const char *value, sb_config *cfg, char *why, size_t whylen);
static int check_rate_limit(const char *value, sb_config *cfg, char *why, size_t whylen);
static int check_http_rate_limit(const char *value, sb_config *cfg, char *why, size_t whylen);
/* MESSAGES:BYTES, both whole and at least 1. */
static int check_resume_buffer(const char *value, sb_config *cfg, char *why, size_t whylen)
{
    char *end;
    errno = 0;
    long count = strtol(value, &end, 10);
    long bytes = 0;
    bool ok = end != value && *end == ':' && count >= 1 && count <= 1000000 && errno == 0;
    if (ok) {
        const char *b = end + 1;
        bytes = strtol(b, &end, 10);
        ok = end != b && *end == '\0' && bytes >= 1 && bytes <= 1073741824L && errno == 0
             && value[0] != '+' && b[0] != '+' && b[0] != '-';
    }
    if (!ok) {
        snprintf(why, whylen,
                 "must be MESSAGES:BYTES, whole numbers of at least 1 (e.g. 256:262144)");
        return -1;
    }
    cfg->resume_buffer_count = (int)count;
    cfg->resume_buffer_bytes = bytes;
    return 0;
}

static int check_trusted_proxies(const char *value, sb_config *cfg, char *why, size_t whylen);
static int check_resume_buffer(const char *value, sb_config *cfg, char *why, size_t whylen);
static int check_auth_secret(const char *value, sb_config *cfg, char *why, size_t whylen);

#define FIELD(f) offsetof(sb_config, f), sizeof(((sb_config *)0)->f)

static const sb_option options[] = {
    { "host", "SWITCHBOARD_HOST", "ADDR", OPT_STRING, "0.0.0.0", "Address to listen on.",
      FIELD(host), 0, 0, check_host },
    { "port", "SWITCHBOARD_PORT", "N", OPT_INT, "8000", "TCP port for HTTP and WebSocket.",
      FIELD(port), 1, 65535, NULL },
    { "redis-url", "SWITCHBOARD_REDIS_URL", "URL", OPT_STRING, "redis://127.0.0.1:6379/0",
      "Redis server, redis://[[user]:password@]host[:port][/db].", FIELD(redis_url), 0, 0,
      check_redis_url },
    { "redis-cluster", "SWITCHBOARD_REDIS_CLUSTER", "HOST:PORT,...", OPT_STRING, "",
      "Redis Cluster seed nodes (up to 16); set, the node uses the cluster and only the "
      "credentials of --redis-url.",
      FIELD(redis_cluster), 0, 0, check_redis_cluster },
    /* Redis Sentinel (docs/design.md#sentinel). */
    { "redis-sentinels", "SWITCHBOARD_REDIS_SENTINELS", "HOST:PORT,...", OPT_STRING, "",
      "Redis Sentinels to ask for the master (port 26379 when left out); set, the host and "
      "port of --redis-url are not used.",
      FIELD(redis_sentinels), 0, 0, check_sentinels },
    { "redis-master-name", "SWITCHBOARD_REDIS_MASTER_NAME", "NAME", OPT_STRING, "mymaster",
      "Name of the master the sentinels watch.", FIELD(redis_master_name), 0, 0,
      check_master_name },
    { "node-id", "SWITCHBOARD_NODE_ID", "ID", OPT_STRING, NULL,
      "Name of this node in Redis and in logs (at most 100 characters).", FIELD(node_id), 0, 0,
      check_node_id },
    { "key-prefix", "SWITCHBOARD_KEY_PREFIX", "PREFIX", OPT_STRING,
      "sb:", "Prefix of every Redis key and channel.", FIELD(key_prefix), 0, 0, check_key_prefix },
    { "cors-origins", "SWITCHBOARD_CORS_ORIGINS", "LIST", OPT_STRING, "*",
      "Comma-separated origins allowed by CORS; * allows any.", FIELD(cors_origins), 0, 0, NULL },
    { "max-message-bytes", "SWITCHBOARD_MAX_MESSAGE_BYTES", "BYTES", OPT_SIZE, "65536",
      "Largest WebSocket message accepted (256 to 16777216).", FIELD(max_message_bytes), 256,
      16777216, NULL },
    { "rate-limit", "SWITCHBOARD_RATE_LIMIT", "RATE:BURST", OPT_STRING, "50:200",
      "Messages per second per connection and burst size; 0 = unlimited.", FIELD(rate_limit), 0, 0,
      check_rate_limit },
    { "max-connections", "SWITCHBOARD_MAX_CONNECTIONS", "N", OPT_INT, "0",
      "Most simultaneous TCP connections (HTTP and WebSocket); 0 = the file-descriptor limit "
      "less a reserve.",
      FIELD(max_connections), 0, INT_MAX, NULL },
    { "max-queued-bytes", "SWITCHBOARD_MAX_QUEUED_BYTES", "BYTES", OPT_SIZE, "1048576",
      "Outgoing bytes queued for one connection before it is dropped.", FIELD(max_queued_bytes),
      1024, 1073741824, NULL },
    { "overload-backlog", "SWITCHBOARD_OVERLOAD_BACKLOG", "BYTES", OPT_SIZE, "4194304",
      "Bytes a node's subscriber may fall behind in Redis before every node stops reading from "
      "its clients (until under a quarter of it); 0 = never.",
      FIELD(overload_backlog), 0, 1073741824, NULL },
    { "max-rooms", "SWITCHBOARD_MAX_ROOMS", "N", OPT_INT, "100000",
      "Most rooms in the cluster (counted in Redis); past it create-room answers 429; 0 = no "
      "limit.",
      FIELD(max_rooms), 0, INT_MAX, NULL },
    { "http-rate-limit", "SWITCHBOARD_HTTP_RATE_LIMIT", "RATE:BURST", OPT_STRING, "20:100",
      "REST requests per second per client address and burst size (health checks and "
      "/metrics are exempt); 0 = unlimited.",
      FIELD(http_rate_limit), 0, 0, check_http_rate_limit },
    { "max-connections-per-ip", "SWITCHBOARD_MAX_CONNECTIONS_PER_IP", "N", OPT_INT, "200",
      "Most WebSockets per client address; past it an upgrade answers 429; 0 = no limit.",
      FIELD(max_connections_per_ip), 0, INT_MAX, NULL },
    { "trusted-proxies", "SWITCHBOARD_TRUSTED_PROXIES", "CIDRS", OPT_STRING, "",
      "Comma-separated CIDRs of load balancers whose X-Forwarded-For names the client.",
      FIELD(trusted_proxies), 0, 0, check_trusted_proxies },
    { "empty-timeout", "SWITCHBOARD_EMPTY_TIMEOUT", "SECONDS", OPT_INT, "300",
      "Lifetime of a created room that nobody joins.", FIELD(empty_timeout), 1, TIMEOUT_MAX, NULL },
    { "departure-timeout", "SWITCHBOARD_DEPARTURE_TIMEOUT", "SECONDS", OPT_INT, "20",
      "How long a room outlives its last participant.", FIELD(departure_timeout), 1, TIMEOUT_MAX,
      NULL },
    { "max-participants", "SWITCHBOARD_MAX_PARTICIPANTS", "N", OPT_INT, "100",
      "Default room capacity (a mesh call's size); 0 = unlimited.", FIELD(max_participants), 0,
      INT_MAX, NULL },
    { "heartbeat-ttl", "SWITCHBOARD_HEARTBEAT_TTL", "SECONDS", OPT_INT, "15",
      "Expiry of the node heartbeat, refreshed every third of it (at least 3).",
      FIELD(heartbeat_ttl), 3, TIMEOUT_MAX, NULL },
    { "ping-interval", "SWITCHBOARD_PING_INTERVAL", "SECONDS", OPT_INT, "20",
      "A WebSocket silent this long gets a ping.", FIELD(ping_interval), 1, 3600, NULL },
    { "ping-timeout", "SWITCHBOARD_PING_TIMEOUT", "SECONDS", OPT_INT, "15",
      "Then, silent this much longer, it is dropped (others see user-left).", FIELD(ping_timeout),
      1, 3600, NULL },
    { "resume-window", "SWITCHBOARD_RESUME_WINDOW", "SECONDS", OPT_INT, "30",
      "How long a participant whose socket was lost is held for a resume; 0 = off.",
      FIELD(resume_window), 0, TIMEOUT_MAX, NULL },
    { "resume-buffer", "SWITCHBOARD_RESUME_BUFFER", "MESSAGES:BYTES", OPT_STRING, "256:262144",
      "Messages and bytes kept in Redis for a held participant.", FIELD(resume_buffer), 0, 0,
      check_resume_buffer },
    { "stun-urls", "SWITCHBOARD_STUN_URLS", "URLS", OPT_STRING, "",
      "Comma-separated STUN URLs served by /ice-servers.", FIELD(stun_urls), 0, 0, NULL },
    { "turn-urls", "SWITCHBOARD_TURN_URLS", "URLS", OPT_STRING, "",
      "Comma-separated TURN URLs served by /ice-servers.", FIELD(turn_urls), 0, 0, NULL },
    { "turn-secret", "SWITCHBOARD_TURN_SECRET", "SECRET", OPT_STRING, "",
      "Shared secret for time-limited TURN credentials (coturn use-auth-secret).",
      FIELD(turn_secret), 0, 0, NULL },
    /* Access control (docs/design.md#access-control). */
    { "auth-secret", "SWITCHBOARD_AUTH_SECRET", "S1[,S2...]", OPT_STRING, "",
      "Turns auth on: comma-separated HS256 secrets of at least 32 characters; a token signed "
      "with any of them is valid, the first signs new ones. Unset: anyone may list and join "
      "rooms.",
      FIELD(auth_secret), 0, 0, check_auth_secret },
    /* TLS without a load balancer (README, Configuration). */
    { "tls-cert", "SWITCHBOARD_TLS_CERT", "FILE", OPT_STRING, "",
      "PEM certificate (with its chain) for https:// and wss:// on --port; needs --tls-key.",
      FIELD(tls_cert), 0, 0, NULL },
    { "tls-key", "SWITCHBOARD_TLS_KEY", "FILE", OPT_STRING, "",
      "PEM private key of --tls-cert; needs --tls-cert.", FIELD(tls_key), 0, 0, NULL },
    { "log-level", "SWITCHBOARD_LOG_LEVEL", "LEVEL", OPT_LEVEL, "info",
      "debug, info, warn or error.", FIELD(log_level), 0, 0, NULL },
    { "log-format", "SWITCHBOARD_LOG_FORMAT", "FORMAT", OPT_FORMAT, "text",
      "text or json (one JSON object per line).", FIELD(log_format), 0, 0, NULL },
};

#define OPTION_COUNT (sizeof(options) / sizeof(options[0]))

/* Where an option's winning value came from, for error messages. */
typedef enum { FROM_DEFAULT, FROM_ENV, FROM_FLAG } value_source;

typedef struct {
    const char *value;
    value_source source;
} resolved_value;

/* ------------------------------------------------------------------------
 * Small validators
 * ------------------------------------------------------------------------ */

/* A whole decimal number, optionally negative, with nothing around it. */
static int parse_whole_number(const char *s, long long *out)
{
    const char *digits = (*s == '-') ? s + 1 : s;
    size_t n = strlen(digits);
    /* 18 digits always fit a long long, and no accepted range needs more. */
    if (n == 0 || n > 18)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)digits[i]))
            return -1;
    }
    *out = strtoll(s, NULL, 10);
    return 0;
}

/* Characters that may not appear in a node id or key prefix: they would
 * split the envelope header, a log line or a Redis Cluster hash tag. */
static bool has_forbidden_name_char(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p <= ' ' || *p == 0x7f || *p == '{' || *p == '}')
            return true;
    }
    return false;
}

static int check_host(const char *value, sb_config *cfg, char *why, size_t whylen)
{
    (void)cfg;
    if (value[0] == '\0' || has_forbidden_name_char(value)) {
        snprintf(why, whylen, "must be a non-empty address without spaces");
        return -1;
    }
    return 0;
}

static int check_redis_url(const char *value, sb_config *cfg, char *why, size_t whylen)
{
    return sb_redis_url_parse(value, &cfg->redis, why, whylen);
}

static int check_redis_cluster(const char *value, sb_config *cfg, char *why, size_t whylen)
{
    return sb_redis_seeds_parse(value, &cfg->cluster, why, whylen);
}

/* Empty: one Redis, at --redis-url. */
static int check_sentinels(const char *value, sb_config *cfg, char *why, size_t whylen)
{
    cfg->n_sentinels = 0;
    if (value[0] == '\0')
        return 0;
    int n = sb_hostport_list_parse(value, SB_SENTINEL_DEFAULT_PORT, cfg->sentinels,
                                   SB_SENTINELS_MAX, why, whylen);
    if (n < 0)
        return -1;
    cfg->n_sentinels = n;
    return 0;
}

static int check_master_name(const char *value, sb_config *cfg, char *why, size_t whylen)
{
    (void)cfg;
    if (!sb_master_name_valid(value)) {
        snprintf(why, whylen, "must be 1 to %d characters without spaces or control characters",
                 SB_MASTER_NAME_MAX);
        return -1;
    }
    return 0;
}

static int check_node_id(const char *value, sb_config *cfg, char *why, size_t whylen)
{
    (void)cfg;
    if (value[0] == '\0' || strlen(value) > NODE_ID_MAX || has_forbidden_name_char(value)) {
        snprintf(why, whylen,
                 "must be 1 to %d characters without spaces, control characters or braces",
                 NODE_ID_MAX);
        return -1;
    }
    return 0;
}

static int check_key_prefix(const char *value, sb_config *cfg, char *why, size_t whylen)
{
    (void)cfg;
    if (has_forbidden_name_char(value)) {
        snprintf(why, whylen, "must not contain spaces, control characters or braces");
        return -1;
    }
    return 0;
}

static int check_rate_limit(const char *value, sb_config *cfg, char *why, size_t whylen)
{
    if (sb_ratelimit_parse(value, &cfg->rate_per_sec, &cfg->rate_burst) != 0) {
        snprintf(why, whylen,
                 "must be RATE:BURST with RATE > 0 and a whole BURST >= 1 (e.g. 50:200), "
                 "or 0 for unlimited");
        return -1;
    }
    return 0;
}

static int check_http_rate_limit(const char *value, sb_config *cfg, char *why, size_t whylen)
{
    if (sb_ratelimit_parse(value, &cfg->http_rate_per_sec, &cfg->http_rate_burst) != 0) {
        snprintf(why, whylen,
                 "must be RATE:BURST with RATE > 0 and a whole BURST >= 1 (e.g. 20:100), "
                 "or 0 for unlimited");
        return -1;
    }
    return 0;
}

static int check_trusted_proxies(const char *value, sb_config *cfg, char *why, size_t whylen)
{
    return sb_cidr_list_parse(value, &cfg->trusted, why, whylen);
}

/* Characters of a secret: bytes that begin a UTF-8 sequence, so that a
 * secret of multi-byte characters needs as many characters as any other. */
static size_t secret_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xc0) != 0x80;
    return n;
}

/* Each secret long enough to resist guessing, and spelled without the
 * stray whitespace a copy and paste adds. The reason names the secret by
 * its place in the list, never by its bytes. */
static int check_auth_secret(const char *value, sb_config *cfg, char *why, size_t whylen)
{
    (void)cfg;
    sb_token_key keys[SB_TOKEN_KEYS_MAX + 1];
    size_t n = sb_token_keys_parse(value, keys, SB_TOKEN_KEYS_MAX + 1);
    if (n > SB_TOKEN_KEYS_MAX) {
        snprintf(why, whylen, "lists more than %d secrets", SB_TOKEN_KEYS_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const char *k = keys[i].bytes;
        size_t len = keys[i].len, chars = secret_chars(k, len);
        if (chars < SB_TOKEN_SECRET_MIN) {
            snprintf(why, whylen,
                     "secret %zu of %zu has %zu characters; each must have at least %d", i + 1, n,
                     chars, SB_TOKEN_SECRET_MIN);
            return -1;
        }
        if (isspace((unsigned char)k[0]) || isspace((unsigned char)k[len - 1])) {
            snprintf(why, whylen, "secret %zu of %zu begins or ends with whitespace", i + 1, n);
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Storing one value
 * ------------------------------------------------------------------------ */

/* A value safe to quote in a one-line error: short, no control bytes. */
static void quotable(const char *value, char out[48])
{
    size_t n = 0;
    for (; value[n] && n < 40; n++) {
        unsigned char c = (unsigned char)value[n];
        out[n] = (c < ' ' || c == 0x7f) ? '?' : (char)c;
    }
    strcpy(out + n, value[n] ? "..." : "");
}

static int store_number(const sb_option *opt, const char *value, sb_config *cfg, char *why,
                        size_t whylen)
{
    long long n;
    char shown[48];
    if (parse_whole_number(value, &n) != 0 || n < opt->min || n > opt->max) {
        quotable(value, shown);
        snprintf(why, whylen, "must be a whole number from %lld to %lld, got '%s'", opt->min,
                 opt->max, shown);
        return -1;
    }
    char *field = (char *)cfg + opt->offset;
    if (opt->kind == OPT_INT)
        *(int *)(void *)field = (int)n;
    else
        *(size_t *)(void *)field = (size_t)n;
    return 0;
}

static int store_value(const sb_option *opt, const char *value, sb_config *cfg, char *why,
                       size_t whylen)
{
    char *field = (char *)cfg + opt->offset;
    char shown[48];
    switch (opt->kind) {
    case OPT_STRING:
        if (strlen(value) >= opt->size) {
            snprintf(why, whylen, "is too long (at most %zu characters)", opt->size - 1);
            return -1;
        }
        memcpy(field, value, strlen(value) + 1);
        break;
    case OPT_INT:
    case OPT_SIZE:
        if (store_number(opt, value, cfg, why, whylen) != 0)
            return -1;
        break;
    case OPT_LEVEL:
        if (sb_log_level_parse(value, (sb_log_level *)(void *)field) != 0) {
            quotable(value, shown);
            snprintf(why, whylen, "must be debug, info, warn or error, got '%s'", shown);
            return -1;
        }
        break;
    case OPT_FORMAT:
        if (sb_log_format_parse(value, (sb_log_format *)(void *)field) != 0) {
            quotable(value, shown);
            snprintf(why, whylen, "must be text or json, got '%s'", shown);
            return -1;
        }
        break;
    }
    return opt->check ? opt->check(value, cfg, why, whylen) : 0;
}

/* ------------------------------------------------------------------------
 * Resolving values: default, then environment, then flags
 * ------------------------------------------------------------------------ */

static const sb_option *find_option(const char *name, size_t len)
{
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        if (strlen(options[i].flag) == len && memcmp(options[i].flag, name, len) == 0) {
            return &options[i];
        }
    }
    return NULL;
}

static void resolve_from_env(resolved_value *vals, sb_getenv_fn getenv_fn)
{
    if (getenv_fn == NULL)
        return;
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        const char *v = getenv_fn(options[i].env);
        if (v != NULL) {
            vals[i].value = v;
            vals[i].source = FROM_ENV;
        }
    }
}

/* Walks argv; returns SB_CONFIG_OK, SB_CONFIG_HELP, SB_CONFIG_VERSION or
 * SB_CONFIG_ERROR. */
static sb_config_result resolve_from_argv(resolved_value *vals, int argc, char **argv, char *err,
                                          size_t errlen)
{
    char shown[48];
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return SB_CONFIG_HELP;
        if (strcmp(arg, "--version") == 0)
            return SB_CONFIG_VERSION;
        if (strncmp(arg, "--", 2) != 0) {
            quotable(arg, shown);
            snprintf(err, errlen, "unexpected argument '%s'", shown);
            return SB_CONFIG_ERROR;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        const sb_option *opt = find_option(name, name_len);
        if (opt == NULL) {
            quotable(arg, shown);
            if (eq != NULL && (size_t)(eq - arg) < 40)
                shown[eq - arg] = '\0';
            snprintf(err, errlen, "unknown option '%s'", shown);
            return SB_CONFIG_ERROR;
        }
        const char *value = NULL;
        if (eq != NULL) {
            value = eq + 1;
        } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
            /* A following flag means the value was forgotten; swallowing
             * it would hide that mistake. "--name=--x" still passes one. */
            value = argv[++i];
        } else {
            snprintf(err, errlen, "--%s needs a value", opt->flag);
            return SB_CONFIG_ERROR;
        }
        vals[opt - options].value = value;
        vals[opt - options].source = FROM_FLAG;
    }
    return SB_CONFIG_OK;
}

static void describe_source(const sb_option *opt, value_source source, char *out, size_t size)
{
    if (source == FROM_ENV)
        snprintf(out, size, "%s (--%s)", opt->env, opt->flag);
    else if (source == FROM_FLAG)
        snprintf(out, size, "--%s", opt->flag);
    else
        snprintf(out, size, "default of --%s", opt->flag);
}

sb_config_result sb_config_parse(sb_config *cfg, int argc, char **argv, sb_getenv_fn getenv_fn,
                                 char *err, size_t errlen)
{
    resolved_value vals[OPTION_COUNT];
    char node_default[NODE_ID_MAX + 1];

    memset(cfg, 0, sizeof(*cfg));
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    char scratch[1];
    if (err == NULL || errlen == 0) {
        err = scratch;
        errlen = sizeof(scratch);
    }

    for (size_t i = 0; i < OPTION_COUNT; i++) {
        vals[i].value = options[i].def;
        vals[i].source = FROM_DEFAULT;
    }
    resolve_from_env(vals, getenv_fn);
    sb_config_result r = resolve_from_argv(vals, argc, argv, err, errlen);
    if (r != SB_CONFIG_OK)
        return r;

    for (size_t i = 0; i < OPTION_COUNT; i++) {
        const char *value = vals[i].value;
        if (value == NULL) {
            /* Only the node id has a computed default, and only an id
             * nobody chose is worth a fresh random suffix. */
            sb_id_node_default(node_default, sizeof(node_default));
            value = node_default;
        }
        char why[256];
        if (store_value(&options[i], value, cfg, why, sizeof(why)) != 0) {
            char where[96];
            describe_source(&options[i], vals[i].source, where, sizeof(where));
            snprintf(err, errlen, "%s: %s", where, why);
            return SB_CONFIG_ERROR;
        }
    }
    /* A Sentinel master is one Redis; a cluster has masters of its own. */
    if (cfg->cluster.count && cfg->n_sentinels) {
        snprintf(err, errlen, "--redis-cluster and --redis-sentinels exclude each other");
        return SB_CONFIG_ERROR;
    }
    /* A cluster has database 0 only: a URL naming another was meant for
     * another deployment. */
    if (cfg->cluster.count && cfg->redis.db != 0) {
        snprintf(err, errlen,
                 "--redis-cluster: Redis Cluster has database 0 only, and --redis-url names %d",
                 cfg->redis.db);
        return SB_CONFIG_ERROR;
    }
    /* One without the other is a half-done TLS set-up: serving plain
     * HTTP instead would hide it. */
    if ((cfg->tls_cert[0] == '\0') != (cfg->tls_key[0] == '\0')) {
        snprintf(err, errlen, "--tls-cert and --tls-key go together: give both or neither");
        return SB_CONFIG_ERROR;
    }
    return SB_CONFIG_OK;
}

/* ------------------------------------------------------------------------
 * Help
 * ------------------------------------------------------------------------ */

void sb_config_print_help(FILE *out)
{
    fputs("Usage: switchboard [options]\n"
          "       switchboard token --help   (mint an access token)\n"
          "\n"
          "Switchboard, a WebRTC signaling server. Every option can also be set by its\n"
          "environment variable; a flag wins over its variable. Flags take\n"
          "\"--name value\" or \"--name=value\".\n"
          "\n",
          out);
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        const sb_option *opt = &options[i];
        const char *def = opt->def == NULL      ? "<hostname>-<6 random hex digits>"
                          : opt->def[0] == '\0' ? "none"
                                                : opt->def;
        fprintf(out, "  --%s %s\n      %s\n      [env %s, default: %s]\n", opt->flag, opt->metavar,
                opt->help, opt->env, def);
    }
    fputs("  -h, --help\n      Show this help and exit.\n"
          "  --version\n      Print \"switchboard <version>\" and exit.\n",
          out);
}

/* ------------------------------------------------------------------------
 * CORS origins
 * ------------------------------------------------------------------------ */

static void trim(const char **start, const char **end)
{
    while (*start < *end && isspace((unsigned char)**start))
        (*start)++;
    while (*end > *start && isspace((unsigned char)(*end)[-1]))
        (*end)--;
}

int sb_config_origin_allowed(const sb_config *cfg, const char *origin)
{
    const char *p = cfg->cors_origins;
    size_t origin_len = origin ? strlen(origin) : 0;
    while (*p) {
        const char *comma = strchr(p, ',');
        const char *start = p, *end = comma ? comma : p + strlen(p);
        trim(&start, &end);
        size_t n = (size_t)(end - start);
        if (n == 1 && *start == '*')
            return 1;
        if (origin != NULL && n == origin_len && n > 0 && memcmp(start, origin, n) == 0)
            return 1;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return 0;
}
