/*
 * config.c - fuzz target: the node's flags and SWITCHBOARD_* variables.
 *
 * The input is read as lines. A line "SWITCHBOARD_<NAME>=<value>" is an
 * environment variable, any other line one argv element (after the
 * program name). sb_config_parse then either
 *
 *  - refuses with a one-line reason free of control characters that, when
 *    it is about the Redis URL, the TURN secret or the auth secrets, does not echo them; or
 *  - answers --help or --version; or
 *  - succeeds with a configuration that holds every documented bound:
 *    strings terminated within their fields, numbers in range, node id and
 *    key prefix usable in Redis keys and the envelope header, the Redis
 *    target, both rates, the trusted proxies and the sentinels exactly
 *    what their own parsers make of the strings kept, and the same answer
 *    when asked again.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "ratelimit.h"
#include "redis_addr.h"

#define MAX_LINES 64
#define ENV_PREFIX "SWITCHBOARD_"

static char *env_names[MAX_LINES];
static const char *env_values[MAX_LINES];
static int env_count;

/* Latest definition wins, as in a real environment built by `export`. */
static const char *fuzz_getenv(const char *name)
{
    for (int i = env_count - 1; i >= 0; i--)
        if (strcmp(env_names[i], name) == 0)
            return env_values[i];
    return NULL;
}

static int has_forbidden_name_char(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == 0x7f || *p == '{' || *p == '}')
            return 1;
    return 0;
}

#define TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)
#define IN_RANGE(v, lo, hi) ((v) >= (lo) && (v) <= (hi))

static void check_config(const sb_config *c)
{
    FUZZ_CHECK(TERMINATED(c->host) && TERMINATED(c->redis_url) && TERMINATED(c->node_id)
                   && TERMINATED(c->key_prefix) && TERMINATED(c->cors_origins)
                   && TERMINATED(c->rate_limit) && TERMINATED(c->stun_urls)
                   && TERMINATED(c->turn_urls) && TERMINATED(c->turn_secret),
               "a string field is not terminated");
    FUZZ_CHECK(c->host[0] && !has_forbidden_name_char(c->host), "host '%s'", c->host);
    FUZZ_CHECK(IN_RANGE(strlen(c->node_id), 1, 100) && !has_forbidden_name_char(c->node_id),
               "node id '%s'", c->node_id);
    FUZZ_CHECK(!has_forbidden_name_char(c->key_prefix), "key prefix '%s'", c->key_prefix);
    FUZZ_CHECK(IN_RANGE(c->port, 1, 65535), "port %d", c->port);
    FUZZ_CHECK(IN_RANGE(c->max_message_bytes, 256, 16777216), "max message %zu",
               c->max_message_bytes);
    FUZZ_CHECK(IN_RANGE(c->max_queued_bytes, 1024, 1073741824), "max queued %zu",
               c->max_queued_bytes);
    FUZZ_CHECK(c->max_connections >= 0 && c->max_participants >= 0, "negative limit");
    FUZZ_CHECK(IN_RANGE(c->empty_timeout, 1, 2000000) && IN_RANGE(c->departure_timeout, 1, 2000000)
                   && IN_RANGE(c->heartbeat_ttl, 3, 2000000),
               "timeout out of range");
    FUZZ_CHECK(IN_RANGE(c->ping_interval, 1, 3600) && IN_RANGE(c->ping_timeout, 1, 3600),
               "ping out of range");
    FUZZ_CHECK(IN_RANGE((int)c->log_level, SB_LOG_DEBUG, SB_LOG_ERROR)
                   && IN_RANGE((int)c->log_format, SB_LOG_TEXT, SB_LOG_JSON),
               "log setting out of range");

    sb_redis_target t;
    FUZZ_CHECK(sb_redis_url_parse(c->redis_url, &t, NULL, 0) == 0, "kept a bad Redis URL");
    FUZZ_CHECK(strcmp(t.host, c->redis.host) == 0 && t.port == c->redis.port && t.db == c->redis.db
                   && strcmp(t.username, c->redis.username) == 0
                   && strcmp(t.password, c->redis.password) == 0,
               "Redis target differs from its URL");
    sb_redis_seeds seeds;
    FUZZ_CHECK(TERMINATED(c->redis_cluster)
                   && sb_redis_seeds_parse(c->redis_cluster, &seeds, NULL, 0) == 0
                   && memcmp(&seeds, &c->cluster, sizeof(seeds)) == 0,
               "cluster seeds differ from '%s'", c->redis_cluster);
    FUZZ_CHECK(c->cluster.count <= SB_REDIS_SEEDS_MAX
                   && (c->cluster.count == 0 || c->redis.db == 0),
               "%zu cluster seeds with database %d", c->cluster.count, c->redis.db);
    for (size_t i = 0; i < c->cluster.count; i++)
        FUZZ_CHECK(c->cluster.addr[i].host[0] && !has_forbidden_name_char(c->cluster.addr[i].host)
                       && IN_RANGE(c->cluster.addr[i].port, 1, 65535),
                   "cluster seed %zu", i);
    double rate, burst;
    FUZZ_CHECK(sb_ratelimit_parse(c->rate_limit, &rate, &burst) == 0 && rate == c->rate_per_sec
                   && burst == c->rate_burst,
               "rate differs from '%s'", c->rate_limit);

    FUZZ_CHECK(TERMINATED(c->http_rate_limit) && TERMINATED(c->trusted_proxies),
               "a string field is not terminated");
    FUZZ_CHECK(c->max_rooms >= 0 && c->max_connections_per_ip >= 0, "negative limit");
    FUZZ_CHECK(sb_ratelimit_parse(c->http_rate_limit, &rate, &burst) == 0
                   && rate == c->http_rate_per_sec && burst == c->http_rate_burst,
               "REST rate differs from '%s'", c->http_rate_limit);
    sb_cidr_list trusted;
    FUZZ_CHECK(sb_cidr_list_parse(c->trusted_proxies, &trusted, NULL, 0) == 0
                   && trusted.count == c->trusted.count
                   && memcmp(trusted.items, c->trusted.items, sizeof(trusted.items)) == 0,
               "trusted proxies differ from '%s'", c->trusted_proxies);

    /* Sentinel: the list kept is what its parser reads, every address
     * dialable, the master name one word. */
    FUZZ_CHECK(TERMINATED(c->redis_sentinels) && TERMINATED(c->redis_master_name),
               "a string field is not terminated");
    FUZZ_CHECK(sb_master_name_valid(c->redis_master_name), "master name '%s'",
               c->redis_master_name);
    sb_hostport sentinels[SB_SENTINELS_MAX];
    memset(sentinels, 0, sizeof(sentinels));
    int n = c->redis_sentinels[0] ? sb_hostport_list_parse(c->redis_sentinels,
                                                            SB_SENTINEL_DEFAULT_PORT, sentinels,
                                                            SB_SENTINELS_MAX, NULL, 0)
                                  : 0;
    FUZZ_CHECK(n == c->n_sentinels
                   && memcmp(sentinels, c->sentinels, (size_t)n * sizeof(sentinels[0])) == 0,
               "sentinels differ from '%s'", c->redis_sentinels);
    for (int i = 0; i < c->n_sentinels; i++)
        FUZZ_CHECK(sb_host_valid(c->sentinels[i].host, strlen(c->sentinels[i].host))
                       && IN_RANGE(c->sentinels[i].port, 1, 65535)
                       && !strpbrk(c->sentinels[i].host, " ,[]{}"),
                   "sentinel %d '%s:%d'", i, c->sentinels[i].host, c->sentinels[i].port);
}

/* An error about the option (named by its flag or variable) must not
 * contain its value, which may carry a credential. Only a value with a
 * byte outside ASCII is certain not to occur in the fixed, ASCII text of
 * the reasons, so only such a value proves an echo. */
static void check_not_echoed(const char *err, const char *flag, const char *env, const char *value)
{
    int non_ascii = 0;
    for (const unsigned char *p = (const unsigned char *)value; p && *p; p++)
        non_ascii |= *p >= 0x80;
    if (!non_ascii)
        return;
    if (strncmp(err, flag, strlen(flag)) != 0 && strncmp(err, env, strlen(env)) != 0)
        return;
    FUZZ_CHECK(strstr(err, value) == NULL, "error echoes a secret: %s", err);
}

/* The value the parser will take for an option: the last flag, else the
 * variable. Only used for the echo check, so "--name value" is enough. */
static const char *given(int argc, char **argv, const char *flag)
{
    const char *v = NULL;
    size_t n = strlen(flag);
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], flag, n) != 0)
            continue;
        if (argv[i][n] == '=')
            v = argv[i] + n + 1;
        else if (argv[i][n] == '\0' && i + 1 < argc)
            v = argv[i + 1];
    }
    return v;
}

static void check_error(const char *err, int argc, char **argv)
{
    FUZZ_CHECK(err[0] != '\0', "refused without a reason");
    for (const unsigned char *p = (const unsigned char *)err; *p; p++)
        FUZZ_CHECK(*p >= ' ' && *p != 0x7f, "control character in the error: %s", err);
    const char *url = given(argc, argv, "--redis-url");
    const char *secret = given(argc, argv, "--turn-secret");
    const char *auth = given(argc, argv, "--auth-secret");
    check_not_echoed(err, "--redis-url", "SWITCHBOARD_REDIS_URL",
                     url ? url : fuzz_getenv("SWITCHBOARD_REDIS_URL"));
    check_not_echoed(err, "--turn-secret", "SWITCHBOARD_TURN_SECRET",
                     secret ? secret : fuzz_getenv("SWITCHBOARD_TURN_SECRET"));
    check_not_echoed(err, "--auth-secret", "SWITCHBOARD_AUTH_SECRET",
                     auth ? auth : fuzz_getenv("SWITCHBOARD_AUTH_SECRET"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size, NULL);
    char *argv[MAX_LINES + 2];
    int argc = 0;
    argv[argc++] = "switchboard";
    env_count = 0;
    for (char *line = text, *next; line != NULL && argc <= MAX_LINES; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        char *eq = strchr(line, '=');
        if (strncmp(line, ENV_PREFIX, strlen(ENV_PREFIX)) == 0 && eq != NULL
            && env_count < MAX_LINES) {
            *eq = '\0';
            env_names[env_count] = line;
            env_values[env_count++] = eq + 1;
        } else {
            argv[argc++] = line;
        }
    }
    argv[argc] = NULL;

    sb_config cfg, again;
    char err[256], err2[256];
    sb_config_result r = sb_config_parse(&cfg, argc, argv, fuzz_getenv, err, sizeof(err));
    FUZZ_CHECK(r == SB_CONFIG_OK || r == SB_CONFIG_HELP || r == SB_CONFIG_VERSION
                   || r == SB_CONFIG_ERROR,
               "result %d", r);
    if (r == SB_CONFIG_ERROR)
        check_error(err, argc, argv);
    if (r == SB_CONFIG_OK)
        check_config(&cfg);

    /* Asked again, the same answer; only a node id nobody chose is fresh. */
    sb_config_result r2 = sb_config_parse(&again, argc, argv, fuzz_getenv, err2, sizeof(err2));
    FUZZ_CHECK(r2 == r, "a second parse answered %d, the first %d", r2, r);
    if (r == SB_CONFIG_ERROR)
        FUZZ_CHECK(strcmp(err, err2) == 0, "a second parse gave another error");
    if (r == SB_CONFIG_OK) {
        memcpy(again.node_id, cfg.node_id, sizeof(cfg.node_id));
        FUZZ_CHECK(memcmp(&cfg, &again, sizeof(cfg)) == 0, "a second parse gave another config");
    }
    free(text);
    return 0;
}
