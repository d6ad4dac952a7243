/*
 * test_config.c - defaults, environment, flags, validation, --help, Redis
 * URLs and the CORS origin check.
 *
 * The environment is a table owned by each test (criterion runs every test
 * in its own process), passed to sb_config_parse as its getenv function, so
 * the real environment of the test runner never leaks in.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define MAX_ENV 32
static const char *env_names[MAX_ENV];
static const char *env_values[MAX_ENV];
static int env_count;

static void set_env(const char *name, const char *value)
{
    cr_assert_lt(env_count, MAX_ENV);
    env_names[env_count] = name;
    env_values[env_count] = value;
    env_count++;
}

static const char *fake_getenv(const char *name)
{
    for (int i = env_count - 1; i >= 0; i--) {
        if (strcmp(env_names[i], name) == 0)
            return env_values[i];
    }
    return NULL;
}

/* Parses argv given as NULL-terminated strings after the program name. */
static sb_config_result parse_args(sb_config *cfg, char *err, size_t errlen, ...)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = "switchboard";
    va_list ap;
    va_start(ap, errlen);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        cr_assert_lt(argc, 63);
        argv[argc++] = (char *)a;
    }
    va_end(ap);
    argv[argc] = NULL;
    err[0] = '\0';
    return sb_config_parse(cfg, argc, argv, fake_getenv, err, errlen);
}

#define PARSE(cfg, err, ...) parse_args(cfg, err, sizeof(err), __VA_ARGS__, (const char *)NULL)
#define PARSE_NONE(cfg, err) parse_args(cfg, err, sizeof(err), (const char *)NULL)

static void assert_ok(sb_config_result r, const char *err)
{
    cr_assert_eq(r, SB_CONFIG_OK, "parse failed: %s", err);
}

/* Expects an error that is one line and mentions `needle`. */
static void assert_error(sb_config_result r, const char *err, const char *needle)
{
    cr_assert_eq(r, SB_CONFIG_ERROR, "accepted; wanted an error about %s", needle);
    cr_assert_neq(err[0], '\0', "empty error");
    cr_assert_null(strchr(err, '\n'), "error spans lines: %s", err);
    cr_assert_not_null(strstr(err, needle), "error '%s' does not mention '%s'", err, needle);
}

/* ---- defaults, environment, flags --------------------------------------- */

Test(config, defaults)
{
    sb_config c;
    char err[256];
    assert_ok(PARSE_NONE(&c, err), err);
    cr_assert_str_eq(c.host, "0.0.0.0");
    cr_assert_eq(c.port, 8000);
    cr_assert_str_eq(c.redis_url, "redis://127.0.0.1:6379/0");
    cr_assert_str_eq(c.redis.host, "127.0.0.1");
    cr_assert_eq(c.redis.port, 6379);
    cr_assert_eq(c.redis.db, 0);
    cr_assert_str_eq(c.redis.password, "");
    cr_assert_str_eq(c.redis.username, "");
    cr_assert_str_eq(c.key_prefix, "sb:");
    cr_assert_str_eq(c.cors_origins, "*");
    cr_assert_eq(c.max_message_bytes, 65536);
    cr_assert_str_eq(c.rate_limit, "50:200");
    cr_assert_float_eq(c.rate_per_sec, 50.0, 1e-9);
    cr_assert_float_eq(c.rate_burst, 200.0, 1e-9);
    cr_assert_eq(c.max_connections, 0);
    cr_assert_eq(c.max_queued_bytes, 1048576);
    cr_assert_eq(c.empty_timeout, 300);
    cr_assert_eq(c.departure_timeout, 20);
    cr_assert_eq(c.max_participants, 100);
    cr_assert_eq(c.heartbeat_ttl, 15);
    cr_assert_str_eq(c.stun_urls, "");
    cr_assert_str_eq(c.turn_urls, "");
    cr_assert_str_eq(c.turn_secret, "");
    cr_assert_eq(c.log_level, SB_LOG_INFO);
    cr_assert_eq(c.log_format, SB_LOG_TEXT);
    size_t n = strlen(c.node_id);
    cr_assert_gt(n, 7, "node id '%s'", c.node_id);
    cr_assert_eq(c.node_id[n - 7], '-', "node id '%s'", c.node_id);
}

Test(config, zero_participants_means_unlimited)
{
    sb_config c;
    char err[256];
    assert_ok(PARSE(&c, err, "--max-participants", "0"), err);
    cr_assert_eq(c.max_participants, 0);
}

Test(config, null_getenv_means_no_environment)
{
    sb_config c;
    char err[256];
    char *argv[] = { "switchboard", NULL };
    cr_assert_eq(sb_config_parse(&c, 1, argv, NULL, err, sizeof(err)), SB_CONFIG_OK);
    cr_assert_eq(c.port, 8000);
}

Test(config, environment_overrides_defaults)
{
    set_env("SWITCHBOARD_HOST", "127.0.0.1");
    set_env("SWITCHBOARD_PORT", "9001");
    set_env("SWITCHBOARD_REDIS_URL", "redis://:pw@redis.local:6380/3");
    set_env("SWITCHBOARD_NODE_ID", "node-7");
    set_env("SWITCHBOARD_KEY_PREFIX", "test:");
    set_env("SWITCHBOARD_CORS_ORIGINS", "https://a.example,https://b.example");
    set_env("SWITCHBOARD_MAX_MESSAGE_BYTES", "1024");
    set_env("SWITCHBOARD_RATE_LIMIT", "0");
    set_env("SWITCHBOARD_MAX_CONNECTIONS", "5000");
    set_env("SWITCHBOARD_MAX_QUEUED_BYTES", "2048");
    set_env("SWITCHBOARD_EMPTY_TIMEOUT", "60");
    set_env("SWITCHBOARD_DEPARTURE_TIMEOUT", "5");
    set_env("SWITCHBOARD_MAX_PARTICIPANTS", "8");
    set_env("SWITCHBOARD_HEARTBEAT_TTL", "3");
    set_env("SWITCHBOARD_STUN_URLS", "stun:stun.example:3478");
    set_env("SWITCHBOARD_TURN_URLS", "turn:turn.example:3478");
    set_env("SWITCHBOARD_TURN_SECRET", "s3cret");
    set_env("SWITCHBOARD_LOG_LEVEL", "debug");
    set_env("SWITCHBOARD_LOG_FORMAT", "json");
    sb_config c;
    char err[256];
    assert_ok(PARSE_NONE(&c, err), err);
    cr_assert_str_eq(c.host, "127.0.0.1");
    cr_assert_eq(c.port, 9001);
    cr_assert_str_eq(c.redis.host, "redis.local");
    cr_assert_eq(c.redis.port, 6380);
    cr_assert_eq(c.redis.db, 3);
    cr_assert_str_eq(c.redis.password, "pw");
    cr_assert_str_eq(c.node_id, "node-7");
    cr_assert_str_eq(c.key_prefix, "test:");
    cr_assert_str_eq(c.cors_origins, "https://a.example,https://b.example");
    cr_assert_eq(c.max_message_bytes, 1024);
    cr_assert_str_eq(c.rate_limit, "0");
    cr_assert_float_eq(c.rate_per_sec, 0.0, 1e-9);
    cr_assert_eq(c.max_connections, 5000);
    cr_assert_eq(c.max_queued_bytes, 2048);
    cr_assert_eq(c.empty_timeout, 60);
    cr_assert_eq(c.departure_timeout, 5);
    cr_assert_eq(c.max_participants, 8);
    cr_assert_eq(c.heartbeat_ttl, 3);
    cr_assert_str_eq(c.stun_urls, "stun:stun.example:3478");
    cr_assert_str_eq(c.turn_urls, "turn:turn.example:3478");
    cr_assert_str_eq(c.turn_secret, "s3cret");
    cr_assert_eq(c.log_level, SB_LOG_DEBUG);
    cr_assert_eq(c.log_format, SB_LOG_JSON);
}

Test(config, flag_wins_over_environment)
{
    set_env("SWITCHBOARD_PORT", "9001");
    set_env("SWITCHBOARD_LOG_LEVEL", "debug");
    sb_config c;
    char err[256];
    assert_ok(PARSE(&c, err, "--port", "9002"), err);
    cr_assert_eq(c.port, 9002);
    cr_assert_eq(c.log_level, SB_LOG_DEBUG);
}

Test(config, both_flag_forms)
{
    sb_config c;
    char err[256];
    assert_ok(PARSE(&c, err, "--port=7000", "--host", "::", "--rate-limit=10.5:20",
                    "--cors-origins=", "--turn-secret", "a=b"),
              err);
    cr_assert_eq(c.port, 7000);
    cr_assert_str_eq(c.host, "::");
    cr_assert_float_eq(c.rate_per_sec, 10.5, 1e-9);
    cr_assert_float_eq(c.rate_burst, 20.0, 1e-9);
    cr_assert_str_eq(c.cors_origins, "");
    cr_assert_str_eq(c.turn_secret, "a=b");
}

Test(config, last_flag_wins)
{
    sb_config c;
    char err[256];
    assert_ok(PARSE(&c, err, "--port", "7000", "--port=7001"), err);
    cr_assert_eq(c.port, 7001);
}

Test(config, flag_repairs_bad_environment)
{
    set_env("SWITCHBOARD_PORT", "not-a-port");
    sb_config c;
    char err[256];
    assert_ok(PARSE(&c, err, "--port", "8080"), err);
    cr_assert_eq(c.port, 8080);
}

Test(config, accepted_limits)
{
    sb_config c;
    char err[256];
    assert_ok(PARSE(&c, err, "--port", "1", "--max-message-bytes", "256", "--empty-timeout", "1",
                    "--departure-timeout", "1", "--heartbeat-ttl", "3"),
              err);
    cr_assert_eq(c.port, 1);
    cr_assert_eq(c.max_message_bytes, 256);
    assert_ok(PARSE(&c, err, "--port", "65535", "--max-message-bytes", "16777216"), err);
    cr_assert_eq(c.port, 65535);
    cr_assert_eq(c.max_message_bytes, 16777216);
}

Test(config, node_id_of_100_chars)
{
    char id[101];
    memset(id, 'n', 100);
    id[100] = '\0';
    sb_config c;
    char err[256];
    assert_ok(PARSE(&c, err, "--node-id", id), err);
    cr_assert_str_eq(c.node_id, id);
}

/* ---- errors -------------------------------------------------------------- */

Test(config, unknown_and_malformed_arguments)
{
    sb_config c;
    char err[256];
    assert_error(PARSE(&c, err, "--bogus", "1"), err, "--bogus");
    assert_error(PARSE(&c, err, "--bogus=1"), err, "--bogus");
    assert_error(PARSE(&c, err, "--port"), err, "--port");
    assert_error(PARSE(&c, err, "--port", "--host", "x"), err, "--port");
    assert_error(PARSE(&c, err, "8000"), err, "8000");
    assert_error(PARSE(&c, err, "-p", "8000"), err, "-p");
    assert_error(PARSE(&c, err, "--"), err, "--");
    assert_error(PARSE(&c, err, "--PORT=1"), err, "--PORT");
}

Test(config, numbers_must_be_whole_and_in_range)
{
    const char *bad_ports[] = { "0",   "65536", "-1",  "80x",  "",    " 80",
                                "80 ", "+80",   "8e3", "0x50", "1.5", "99999999999999999999999" };
    sb_config c;
    char err[256];
    for (size_t i = 0; i < sizeof(bad_ports) / sizeof(bad_ports[0]); i++) {
        char arg[64];
        snprintf(arg, sizeof(arg), "--port=%s", bad_ports[i]);
        assert_error(PARSE(&c, err, arg), err, "--port");
    }
    assert_error(PARSE(&c, err, "--empty-timeout", "0"), err, "--empty-timeout");
    assert_error(PARSE(&c, err, "--departure-timeout", "0"), err, "--departure-timeout");
    assert_error(PARSE(&c, err, "--heartbeat-ttl", "2"), err, "--heartbeat-ttl");
    assert_error(PARSE(&c, err, "--max-message-bytes", "255"), err, "--max-message-bytes");
    assert_error(PARSE(&c, err, "--max-message-bytes", "16777217"), err, "--max-message-bytes");
    assert_error(PARSE(&c, err, "--max-connections", "-1"), err, "--max-connections");
    assert_error(PARSE(&c, err, "--max-participants", "-3"), err, "--max-participants");
    assert_error(PARSE(&c, err, "--max-queued-bytes", "10"), err, "--max-queued-bytes");
}

Test(config, environment_errors_name_the_variable)
{
    set_env("SWITCHBOARD_HEARTBEAT_TTL", "1");
    sb_config c;
    char err[256];
    assert_error(PARSE_NONE(&c, err), err, "SWITCHBOARD_HEARTBEAT_TTL");
}

Test(config, names_must_be_safe)
{
    sb_config c;
    char err[256];
    char long_id[102];
    memset(long_id, 'n', 101);
    long_id[101] = '\0';
    const char *bad_ids[] = { "", "node a", "node\na", "node{a}", "a}", "tab\there", long_id };
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        assert_error(PARSE(&c, err, "--node-id", bad_ids[i]), err, "--node-id");
    }
    assert_error(PARSE(&c, err, "--key-prefix", "sb {x}:"), err, "--key-prefix");
    assert_error(PARSE(&c, err, "--key-prefix", "a{"), err, "--key-prefix");
    assert_error(PARSE(&c, err, "--key-prefix", "a b"), err, "--key-prefix");
    assert_error(PARSE(&c, err, "--host", ""), err, "--host");
}

Test(config, strings_must_fit)
{
    char big[2000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    sb_config c;
    char err[256];
    assert_error(PARSE(&c, err, "--cors-origins", big), err, "--cors-origins");
    assert_error(PARSE(&c, err, "--key-prefix", big), err, "--key-prefix");
}

Test(config, enumerations_and_rate)
{
    sb_config c;
    char err[256];
    assert_error(PARSE(&c, err, "--log-level", "verbose"), err, "--log-level");
    assert_error(PARSE(&c, err, "--log-format", "xml"), err, "--log-format");
    assert_error(PARSE(&c, err, "--rate-limit", "50"), err, "--rate-limit");
    assert_error(PARSE(&c, err, "--rate-limit", "0:10"), err, "--rate-limit");
    assert_error(PARSE(&c, err, "--redis-url", "http://x"), err, "--redis-url");
}

Test(config, client_limits)
{
    sb_config c;
    char err[256];
    assert_ok(PARSE_NONE(&c, err), err);
    cr_assert_eq(c.max_rooms, 100000);
    cr_assert_str_eq(c.http_rate_limit, "20:100");
    cr_assert_float_eq(c.http_rate_per_sec, 20.0, 1e-9);
    cr_assert_float_eq(c.http_rate_burst, 100.0, 1e-9);
    cr_assert_eq(c.max_connections_per_ip, 200);
    cr_assert_str_eq(c.trusted_proxies, "");
    cr_assert_eq(c.trusted.count, 0);

    assert_ok(PARSE(&c, err, "--max-rooms", "0", "--http-rate-limit", "0",
                    "--max-connections-per-ip", "0", "--trusted-proxies", "127.0.0.1/32, ::1"),
              err);
    cr_assert_eq(c.max_rooms, 0);
    cr_assert_float_eq(c.http_rate_per_sec, 0.0, 1e-9);
    cr_assert_eq(c.max_connections_per_ip, 0);
    cr_assert_eq(c.trusted.count, 2);

    set_env("SWITCHBOARD_TRUSTED_PROXIES", "10.0.0.0/8");
    set_env("SWITCHBOARD_HTTP_RATE_LIMIT", "0.5:3");
    assert_ok(PARSE_NONE(&c, err), err);
    cr_assert_eq(c.trusted.count, 1);
    cr_assert_float_eq(c.http_rate_per_sec, 0.5, 1e-9);

    assert_error(PARSE(&c, err, "--trusted-proxies", "10.1.2.3/8"), err, "--trusted-proxies");
    assert_error(PARSE(&c, err, "--trusted-proxies", "lb.internal"), err, "--trusted-proxies");
    assert_error(PARSE(&c, err, "--http-rate-limit", "20"), err, "--http-rate-limit");
    assert_error(PARSE(&c, err, "--max-rooms", "-1"), err, "--max-rooms");
    assert_error(PARSE(&c, err, "--max-connections-per-ip", "x"), err, "--max-connections-per-ip");
}

Test(config, secrets_are_not_echoed)
{
    sb_config c;
    char err[256];
    assert_error(PARSE(&c, err, "--redis-url", "redis://:hunter2@host:notaport"), err,
                 "--redis-url");
    cr_assert_null(strstr(err, "hunter2"), "error leaks the password: %s", err);
}

Test(config, error_buffer_is_optional_and_truncates)
{
    sb_config c;
    char *argv[] = { "switchboard", "--bogus", NULL };
    cr_assert_eq(sb_config_parse(&c, 2, argv, NULL, NULL, 0), SB_CONFIG_ERROR);
    char tiny[8];
    cr_assert_eq(sb_config_parse(&c, 2, argv, NULL, tiny, sizeof(tiny)), SB_CONFIG_ERROR);
    cr_assert_eq(strlen(tiny), sizeof(tiny) - 1);
}

/* ---- auth secrets ----------------------------------------------------------- */

#define SECRET_32 "0123456789abcdef0123456789abcdef"

Test(config, auth_secret_off_by_default_on_with_long_secrets)
{
    sb_config c;
    char err[256];
    assert_ok(PARSE_NONE(&c, err), err);
    cr_assert_str_eq(c.auth_secret, "");
    assert_ok(PARSE(&c, err, "--auth-secret", SECRET_32), err);
    cr_assert_str_eq(c.auth_secret, SECRET_32);
    assert_ok(PARSE(&c, err, "--auth-secret", SECRET_32 ",another-secret-of-thirty-two-chars!"),
              err);
    set_env("SWITCHBOARD_AUTH_SECRET", "from-the-environment-0123456789abcdef");
    assert_ok(PARSE_NONE(&c, err), err);
    cr_assert_str_eq(c.auth_secret, "from-the-environment-0123456789abcdef");
    /* an explicit empty flag turns it off again */
    assert_ok(PARSE(&c, err, "--auth-secret="), err);
    cr_assert_str_eq(c.auth_secret, "");
}

Test(config, short_auth_secrets_are_refused_without_echo)
{
    sb_config c;
    char err[256];
    assert_error(PARSE(&c, err, "--auth-secret", "tooshort-hunter2"), err,
                 "secret 1 of 1 has 16 characters; each must have at least 32");
    cr_assert_null(strstr(err, "hunter2"), "error leaks the secret: %s", err);
    assert_error(PARSE(&c, err, "--auth-secret", SECRET_32 ",short-hunter2"), err,
                 "--auth-secret: secret 2 of 2 has 13 characters");
    cr_assert_null(strstr(err, "hunter2"), "error leaks the secret: %s", err);
    assert_error(PARSE(&c, err, "--auth-secret", SECRET_32 ","), err, "secret 2 of 2 has 0");
    assert_error(PARSE(&c, err, "--auth-secret", " " SECRET_32), err, "whitespace");
    set_env("SWITCHBOARD_AUTH_SECRET", "short-hunter2");
    assert_error(PARSE_NONE(&c, err), err, "SWITCHBOARD_AUTH_SECRET");
    cr_assert_null(strstr(err, "hunter2"), "error leaks the secret: %s", err);
}

/* The minimum counts characters, not bytes: 16 two-byte characters are 32
 * bytes but 16 characters; 32 of them pass. */
#define E16 \
    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9" \
    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"

Test(config, auth_secret_minimum_counts_characters)
{
    sb_config c;
    char err[256];
    assert_error(PARSE(&c, err, "--auth-secret", E16), err,
                 "secret 1 of 1 has 16 characters; each must have at least 32");
    assert_ok(PARSE(&c, err, "--auth-secret", E16 E16), err);
}

/* ---- help ----------------------------------------------------------------- */

Test(config, help_flags)
{
    sb_config c;
    char err[256];
    cr_assert_eq(PARSE(&c, err, "--help"), SB_CONFIG_HELP);
    cr_assert_eq(PARSE(&c, err, "-h"), SB_CONFIG_HELP);
    cr_assert_eq(PARSE(&c, err, "--port", "1", "--help"), SB_CONFIG_HELP);
}

Test(config, version_flag)
{
    sb_config c;
    char err[256];
    cr_assert_eq(PARSE(&c, err, "--version"), SB_CONFIG_VERSION);
    cr_assert_eq(PARSE(&c, err, "--port", "1", "--version"), SB_CONFIG_VERSION);
    /* Not a prefix match. */
    assert_error(PARSE(&c, err, "--versions"), err, "--versions");
}

/* The reason alone: the binary adds "(see --help)" once, to every error. */
Test(config, errors_carry_no_hint)
{
    sb_config c;
    char err[256];
    const char *bad[][2] = {
        { "--bogus", "unknown option" },
        { "stray", "unexpected argument" },
        { "--port", "needs a value" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_error(PARSE(&c, err, bad[i][0]), err, bad[i][1]);
        cr_assert_null(strstr(err, "--help"), "the error carries the hint itself: %s", err);
    }
}

Test(config, help_lists_every_option)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    cr_assert_not_null(f);
    sb_config_print_help(f);
    fclose(f);
    const char *expect[][3] = {
        { "--host", "SWITCHBOARD_HOST", "0.0.0.0" },
        { "--port", "SWITCHBOARD_PORT", "8000" },
        { "--redis-url", "SWITCHBOARD_REDIS_URL", "redis://127.0.0.1:6379/0" },
        { "--node-id", "SWITCHBOARD_NODE_ID", "<hostname>" },
        { "--key-prefix", "SWITCHBOARD_KEY_PREFIX", "sb:" },
        { "--cors-origins", "SWITCHBOARD_CORS_ORIGINS", "*" },
        { "--max-message-bytes", "SWITCHBOARD_MAX_MESSAGE_BYTES", "65536" },
        { "--rate-limit", "SWITCHBOARD_RATE_LIMIT", "50:200" },
        { "--max-connections", "SWITCHBOARD_MAX_CONNECTIONS", "0" },
        { "--max-queued-bytes", "SWITCHBOARD_MAX_QUEUED_BYTES", "1048576" },
        { "--empty-timeout", "SWITCHBOARD_EMPTY_TIMEOUT", "300" },
        { "--departure-timeout", "SWITCHBOARD_DEPARTURE_TIMEOUT", "20" },
        { "--max-participants", "SWITCHBOARD_MAX_PARTICIPANTS", "100" },
        { "--heartbeat-ttl", "SWITCHBOARD_HEARTBEAT_TTL", "15" },
        { "--stun-urls", "SWITCHBOARD_STUN_URLS", "none" },
        { "--turn-urls", "SWITCHBOARD_TURN_URLS", "none" },
        { "--turn-secret", "SWITCHBOARD_TURN_SECRET", "none" },
        { "--auth-secret", "SWITCHBOARD_AUTH_SECRET", "none" },
        { "--log-level", "SWITCHBOARD_LOG_LEVEL", "info" },
        { "--log-format", "SWITCHBOARD_LOG_FORMAT", "text" },
        { "--max-rooms", "SWITCHBOARD_MAX_ROOMS", "100000" },
        { "--http-rate-limit", "SWITCHBOARD_HTTP_RATE_LIMIT", "20:100" },
        { "--max-connections-per-ip", "SWITCHBOARD_MAX_CONNECTIONS_PER_IP", "200" },
        { "--trusted-proxies", "SWITCHBOARD_TRUSTED_PROXIES", "none" },
        { "--redis-cluster", "SWITCHBOARD_REDIS_CLUSTER", "none" },
    };
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
        char flag[64];
        snprintf(flag, sizeof(flag), "  %s ", expect[i][0]);
        const char *at = strstr(text, flag);
        cr_assert_not_null(at, "help lacks %s", expect[i][0]);
        /* The variable and the default belong to this option's entry. */
        const char *next = strstr(at + 3, "\n  --");
        size_t span = next ? (size_t)(next - at) : strlen(at);
        char *entry = strndup(at, span);
        cr_assert_not_null(strstr(entry, expect[i][1]), "%s entry lacks %s", expect[i][0],
                           expect[i][1]);
        char def[128];
        snprintf(def, sizeof(def), "default: %s", expect[i][2]);
        cr_assert_not_null(strstr(entry, def), "%s entry lacks '%s'", expect[i][0], def);
        free(entry);
    }
    cr_assert_not_null(strstr(text, "--help"));
    free(text);
}

/* ---- Redis URLs -------------------------------------------------------- */

static sb_redis_target url_ok(const char *url)
{
    sb_redis_target t;
    char err[256] = "";
    memset(&t, 0x5a, sizeof(t));
    cr_assert_eq(sb_redis_url_parse(url, &t, err, sizeof(err)), 0, "%s refused: %s", url, err);
    return t;
}

Test(redis_url, forms)
{
    sb_redis_target t = url_ok("redis://localhost");
    cr_assert_str_eq(t.host, "localhost");
    cr_assert_eq(t.port, 6379);
    cr_assert_eq(t.db, 0);
    cr_assert_str_eq(t.password, "");
    cr_assert_str_eq(t.username, "");

    t = url_ok("redis://10.1.2.3:6380/2");
    cr_assert_str_eq(t.host, "10.1.2.3");
    cr_assert_eq(t.port, 6380);
    cr_assert_eq(t.db, 2);

    t = url_ok("redis://h/");
    cr_assert_eq(t.db, 0);
    t = url_ok("redis://h:1/15");
    cr_assert_eq(t.port, 1);
    cr_assert_eq(t.db, 15);
    t = url_ok("REDIS://Upper.Example");
    cr_assert_str_eq(t.host, "Upper.Example");
}

Test(redis_url, credentials)
{
    sb_redis_target t = url_ok("redis://:secret@h:7000/1");
    cr_assert_str_eq(t.password, "secret");
    cr_assert_str_eq(t.username, "");
    cr_assert_str_eq(t.host, "h");
    cr_assert_eq(t.port, 7000);
    cr_assert_eq(t.db, 1);

    t = url_ok("redis://alice:pw@h");
    cr_assert_str_eq(t.username, "alice");
    cr_assert_str_eq(t.password, "pw");

    t = url_ok("redis://:p%40ss%3Aw%2Fd%25%20x@h");
    cr_assert_str_eq(t.password, "p@ss:w/d% x");

    t = url_ok("redis://:pa@ss/w:rd@h:6390/4");
    cr_assert_str_eq(t.password, "pa@ss/w:rd");
    cr_assert_str_eq(t.host, "h");
    cr_assert_eq(t.port, 6390);
    cr_assert_eq(t.db, 4);

    t = url_ok("redis://b%C3%B6b:%c3%a9@h");
    cr_assert_str_eq(t.username, "b\xc3\xb6"
                                 "b");
    cr_assert_str_eq(t.password, "\xc3\xa9");
}

Test(redis_url, ipv6)
{
    sb_redis_target t = url_ok("redis://[::1]:6381/2");
    cr_assert_str_eq(t.host, "::1");
    cr_assert_eq(t.port, 6381);
    cr_assert_eq(t.db, 2);
    t = url_ok("redis://:x@[fe80::1]");
    cr_assert_str_eq(t.host, "fe80::1");
    cr_assert_eq(t.port, 6379);
}

/* A config is compared whole (a reload, the fuzz target), so the same URL
 * must give the same bytes whatever the memory held before. */
Test(redis_url, same_url_same_bytes)
{
    sb_redis_target a, b;
    memset(&a, 0x11, sizeof(a));
    memset(&b, 0x22, sizeof(b));
    cr_assert_eq(sb_redis_url_parse("redis://:pw@h:6380/3", &a, NULL, 0), 0);
    cr_assert_eq(sb_redis_url_parse("redis://:pw@h:6380/3", &b, NULL, 0), 0);
    cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0);
}

Test(redis_url, refusals)
{
    const char *bad[] = {
        "",
        "localhost:6379",
        "http://h",
        "rediss://h",
        "redis:/h",
        "redis://",
        "redis:///0",
        "redis://:6379",
        "redis://h:0",
        "redis://h:65536",
        "redis://h:abc",
        "redis://h:",
        "redis://h:-1",
        "redis://h:6379:1",
        "redis://h/x",
        "redis://h/-1",
        "redis://h/1/2",
        "redis://h?db=1",
        "redis://h/0#frag",
        "redis://user@h",
        "redis://:%zz@h",
        "redis://:%4@h",
        "redis://:%00@h",
        "redis://[::1",
        "redis://[]:6379",
        "redis://[::1]x",
        "redis://h h",
        /* a bracket inside the host: no URL would spell that host again */
        "redis://[[e59]",
        "redis://[a[::1]",
        "redis://a]b",
        "redis://a[b",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sb_redis_target t;
        memset(&t, 0x5a, sizeof(t));
        sb_redis_target before = t;
        char err[256] = "";
        cr_assert_neq(sb_redis_url_parse(bad[i], &t, err, sizeof(err)), 0, "accepted '%s'", bad[i]);
        cr_assert_neq(err[0], '\0', "no reason for '%s'", bad[i]);
        cr_assert_eq(memcmp(&t, &before, sizeof(t)), 0, "'%s' changed the target", bad[i]);
    }
    char err[64];
    sb_redis_target t;
    cr_assert_neq(sb_redis_url_parse(NULL, &t, err, sizeof(err)), 0);
    cr_assert_not_null(
        strstr((sb_redis_url_parse("rediss://h", &t, err, sizeof(err)), err), "TLS"));
}

Test(redis_url, too_long_parts)
{
    char url[700];
    char host[300];
    memset(host, 'h', sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    snprintf(url, sizeof(url), "redis://%s", host);
    sb_redis_target t;
    char err[128];
    cr_assert_neq(sb_redis_url_parse(url, &t, err, sizeof(err)), 0);
    snprintf(url, sizeof(url), "redis://:%s@h", host);
    cr_assert_neq(sb_redis_url_parse(url, &t, err, sizeof(err)), 0);
}

/* ---- CORS -------------------------------------------------------------- */

Test(cors, star_allows_everything)
{
    sb_config c;
    memset(&c, 0, sizeof(c));
    strcpy(c.cors_origins, "*");
    cr_assert(sb_config_origin_allowed(&c, "https://any.example"));
    cr_assert(sb_config_origin_allowed(&c, "null"));
    cr_assert(sb_config_origin_allowed(&c, NULL));
}

Test(cors, list_needs_exact_match)
{
    sb_config c;
    memset(&c, 0, sizeof(c));
    strcpy(c.cors_origins, "https://a.example, https://b.example:8443 ,http://localhost:3000");
    cr_assert(sb_config_origin_allowed(&c, "https://a.example"));
    cr_assert(sb_config_origin_allowed(&c, "https://b.example:8443"));
    cr_assert(sb_config_origin_allowed(&c, "http://localhost:3000"));
    cr_assert_not(sb_config_origin_allowed(&c, "https://a.example.evil"));
    cr_assert_not(sb_config_origin_allowed(&c, "https://a.exampl"));
    cr_assert_not(sb_config_origin_allowed(&c, "http://a.example"));
    cr_assert_not(sb_config_origin_allowed(&c, "https://b.example"));
    cr_assert_not(sb_config_origin_allowed(&c, ""));
    cr_assert_not(sb_config_origin_allowed(&c, NULL));
}

Test(cors, star_inside_list_and_empty_list)
{
    sb_config c;
    memset(&c, 0, sizeof(c));
    strcpy(c.cors_origins, "https://a.example, *");
    cr_assert(sb_config_origin_allowed(&c, "https://z.example"));
    strcpy(c.cors_origins, "");
    cr_assert_not(sb_config_origin_allowed(&c, "https://a.example"));
    strcpy(c.cors_origins, ",,");
    cr_assert_not(sb_config_origin_allowed(&c, ""));
}

/* ---- TLS ------------------------------------------------------------------ */

Test(config, tls_cert_and_key_from_flags_or_environment)
{
    sb_config c;
    char err[256];
    assert_ok(PARSE_NONE(&c, err), err);
    cr_assert_str_eq(c.tls_cert, "", "TLS is off by default");
    cr_assert_str_eq(c.tls_key, "");
    assert_ok(PARSE(&c, err, "--tls-cert", "/a/cert.pem", "--tls-key=/a/key.pem"), err);
    cr_assert_str_eq(c.tls_cert, "/a/cert.pem");
    cr_assert_str_eq(c.tls_key, "/a/key.pem");
    set_env("SWITCHBOARD_TLS_CERT", "/e/cert.pem");
    set_env("SWITCHBOARD_TLS_KEY", "/e/key.pem");
    assert_ok(PARSE_NONE(&c, err), err);
    cr_assert_str_eq(c.tls_cert, "/e/cert.pem");
    cr_assert_str_eq(c.tls_key, "/e/key.pem");
}

/* One without the other would quietly serve plain HTTP. */
Test(config, tls_cert_and_key_go_together)
{
    sb_config c;
    char err[256];
    assert_error(PARSE(&c, err, "--tls-cert", "/a/cert.pem"), err, "--tls-key");
    assert_error(PARSE(&c, err, "--tls-key", "/a/key.pem"), err, "--tls-cert");
    set_env("SWITCHBOARD_TLS_CERT", "/e/cert.pem");
    assert_error(PARSE_NONE(&c, err), err, "both or neither");
    set_env("SWITCHBOARD_TLS_CERT", "");
    assert_ok(PARSE(&c, err, "--tls-key", ""), err);
}

Test(config, resume_window_and_buffer)
{
    sb_config c;
    char err[256];
    assert_ok(PARSE_NONE(&c, err), err);
    cr_assert_eq(c.resume_window, 30);
    cr_assert_eq(c.resume_buffer_count, 256);
    cr_assert_eq(c.resume_buffer_bytes, 262144);
    assert_ok(PARSE(&c, err, "--resume-window", "0", "--resume-buffer", "3:100"), err);
    cr_assert_eq(c.resume_window, 0);
    cr_assert_eq(c.resume_buffer_count, 3);
    cr_assert_eq(c.resume_buffer_bytes, 100);
    static const char *const bad[] = { "256",    "0:10", "10:0", "-1:10", "10:-1", "a:b",
                                       "10:10x", ":10",  "10:",  "+1:10", "10:+1" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_error(PARSE(&c, err, "--resume-buffer", bad[i]), err, "--resume-buffer");
    assert_error(PARSE(&c, err, "--resume-window", "-1"), err, "--resume-window");
}

/* ---- Redis Cluster seeds ------------------------------------------------ */

Test(config, redis_cluster_off_by_default_and_from_flag_or_environment)
{
    sb_config c;
    char err[256];
    assert_ok(PARSE_NONE(&c, err), err);
    cr_assert_eq(c.cluster.count, 0, "one Redis is the default");
    assert_ok(PARSE(&c, err, "--redis-cluster", "10.0.0.1:7000,redis-b,[::1]:7002"), err);
    cr_assert_eq(c.cluster.count, 3);
    cr_assert_str_eq(c.cluster.addr[0].host, "10.0.0.1");
    cr_assert_eq(c.cluster.addr[0].port, 7000);
    cr_assert_str_eq(c.cluster.addr[1].host, "redis-b");
    cr_assert_eq(c.cluster.addr[1].port, 6379, "the port defaults to 6379");
    cr_assert_str_eq(c.cluster.addr[2].host, "::1");
    cr_assert_eq(c.cluster.addr[2].port, 7002);
    set_env("SWITCHBOARD_REDIS_CLUSTER", "127.0.0.1:7100");
    assert_ok(PARSE_NONE(&c, err), err);
    cr_assert_eq(c.cluster.count, 1);
    cr_assert_eq(c.cluster.addr[0].port, 7100);
    /* Credentials still come from the URL. */
    assert_ok(PARSE(&c, err, "--redis-url", "redis://:pw@ignored:1/0"), err);
    cr_assert_str_eq(c.redis.password, "pw");
}

Test(config, redis_cluster_refusals)
{
    sb_config c;
    char err[256];
    const char *bad[] = { ",",       "a:7000,", "a:7000,,b:7001", "a:0",
                          "a:65536", "a:70x",   "a b:7000",       "[::1:7000",
                          "a:-1",    ":7000",   "{a}:7000",       "a:7000:7001" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_error(PARSE(&c, err, "--redis-cluster", bad[i]), err, "--redis-cluster");
    char many[512] = "";
    for (int i = 0; i < SB_REDIS_SEEDS_MAX + 1; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%sh%d:7000", i ? "," : "", i);
    assert_error(PARSE(&c, err, "--redis-cluster", many), err, "at most 16");
    many[strrchr(many, ',') - many] = '\0';
    assert_ok(PARSE(&c, err, "--redis-cluster", many), err);
    cr_assert_eq(c.cluster.count, SB_REDIS_SEEDS_MAX);
    /* A cluster has database 0 only. */
    assert_error(PARSE(&c, err, "--redis-cluster", "a:7000", "--redis-url", "redis://x/2"), err,
                 "database 0");
}

/* A Sentinel master is one Redis: with a cluster too, one would be unused. */
Test(config, redis_cluster_and_sentinels_exclude_each_other)
{
    sb_config c;
    char err[256];
    assert_error(PARSE(&c, err, "--redis-cluster", "a:7000", "--redis-sentinels", "s:26379"), err,
                 "exclude each other");
    set_env("SWITCHBOARD_REDIS_SENTINELS", "s:26379");
    assert_error(PARSE(&c, err, "--redis-cluster", "a:7000"), err, "exclude each other");
    assert_ok(PARSE(&c, err, "--redis-sentinels", ""), err);
}
