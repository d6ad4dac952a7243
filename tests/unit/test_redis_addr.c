/*
 * test_redis_addr.c - Redis Sentinel addresses: the --redis-sentinels list,
 * the master name, the reply of SENTINEL get-master-addr-by-name and the
 * +switch-master event; and the two flags as sb_config_parse reads them.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "redis_addr.h"

static int list(const char *s, sb_hostport *out, size_t max, char *err, size_t errlen)
{
    memset(out, 0x5a, max * sizeof(*out));
    return sb_hostport_list_parse(s, SB_SENTINEL_DEFAULT_PORT, out, max, err, errlen);
}

Test(redis_addr, list_forms)
{
    sb_hostport a[SB_SENTINELS_MAX];
    char err[256] = "";
    cr_assert_eq(list("127.0.0.1:26380", a, SB_SENTINELS_MAX, err, sizeof(err)), 1, "%s", err);
    cr_assert_str_eq(a[0].host, "127.0.0.1");
    cr_assert_eq(a[0].port, 26380);

    cr_assert_eq(list(" s1.example:1 , s-2_b , [::1]:26381,[fe80::1%eth0]", a, SB_SENTINELS_MAX,
                      err, sizeof(err)),
                 4, "%s", err);
    cr_assert_str_eq(a[0].host, "s1.example");
    cr_assert_eq(a[0].port, 1);
    cr_assert_str_eq(a[1].host, "s-2_b");
    cr_assert_eq(a[1].port, SB_SENTINEL_DEFAULT_PORT, "a missing port is the default");
    cr_assert_str_eq(a[2].host, "::1");
    cr_assert_eq(a[2].port, 26381);
    cr_assert_str_eq(a[3].host, "fe80::1%eth0");
    cr_assert_eq(a[3].port, SB_SENTINEL_DEFAULT_PORT);
    cr_assert_eq(list("h:65535", a, SB_SENTINELS_MAX, err, sizeof(err)), 1);
    cr_assert_eq(a[0].port, 65535);
}

Test(redis_addr, list_refusals)
{
    const char *bad[] = {
        "",      ",",    "h:1,",      ",h:1",  "h:1,,h:2", "h:",    "h:0",   "h:65536", "h:-1",
        "h:+1",  "h:1x", "h:123456",  "h :1",  "h:1 2",    "a b",   "[::1",  "[::1]x",  "[::1]:",
        "[h]:1", "[]:1", "h\t\x01:1", "h/x:1", "h@x:1",    "{h}:1", "h:1:2", ":1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sb_hostport a[4];
        char err[256] = "";
        cr_assert_eq(list(bad[i], a, 4, err, sizeof(err)), -1, "accepted '%s'", bad[i]);
        cr_assert_neq(err[0], '\0');
        cr_assert_null(strchr(err, '\n'));
    }
    char long_host[300];
    memset(long_host, 'a', sizeof(long_host) - 1);
    long_host[sizeof(long_host) - 1] = '\0';
    sb_hostport a[SB_SENTINELS_MAX];
    cr_assert_eq(list(long_host, a, SB_SENTINELS_MAX, NULL, 0), -1, "a host too long");
}

Test(redis_addr, list_bound)
{
    char text[1024] = "";
    sb_hostport a[SB_SENTINELS_MAX];
    for (int i = 0; i < SB_SENTINELS_MAX; i++)
        snprintf(text + strlen(text), sizeof(text) - strlen(text), "%sh%d:%d", i ? "," : "", i,
                 1000 + i);
    cr_assert_eq(list(text, a, SB_SENTINELS_MAX, NULL, 0), SB_SENTINELS_MAX);
    cr_assert_str_eq(a[SB_SENTINELS_MAX - 1].host, "h15");
    char err[256] = "";
    strcat(text, ",one:1");
    cr_assert_eq(list(text, a, SB_SENTINELS_MAX, err, sizeof(err)), -1);
    cr_assert_not_null(strstr(err, "too many"), "%s", err);
}

Test(redis_addr, master_names)
{
    cr_assert(sb_master_name_valid("mymaster"));
    cr_assert(sb_master_name_valid("a"));
    cr_assert(sb_master_name_valid("switchboard-prod_1.eu"));
    char max[SB_MASTER_NAME_MAX + 2];
    memset(max, 'n', SB_MASTER_NAME_MAX);
    max[SB_MASTER_NAME_MAX] = '\0';
    cr_assert(sb_master_name_valid(max));
    max[SB_MASTER_NAME_MAX] = 'n';
    max[SB_MASTER_NAME_MAX + 1] = '\0';
    cr_assert_not(sb_master_name_valid(max));
    cr_assert_not(sb_master_name_valid(""));
    cr_assert_not(sb_master_name_valid("my master"));
    cr_assert_not(sb_master_name_valid("tab\tname"));
    cr_assert_not(sb_master_name_valid("nl\n"));
    cr_assert_not(sb_master_name_valid("del\x7f"));
    cr_assert_not(sb_master_name_valid("caf\xc3\xa9"));
}

static int addr(const char *host, const char *port, sb_hostport *out)
{
    return sb_sentinel_addr_parse(host, strlen(host), port, strlen(port), out);
}

Test(redis_addr, master_reply)
{
    sb_hostport a;
    cr_assert_eq(addr("10.0.0.7", "6379", &a), 0);
    cr_assert_str_eq(a.host, "10.0.0.7");
    cr_assert_eq(a.port, 6379);
    cr_assert_eq(addr("redis-1.internal", "1", &a), 0);
    cr_assert_eq(addr("2001:db8::2", "7000", &a), 0);
    cr_assert_str_eq(a.host, "2001:db8::2");
    /* Not NUL-terminated: only the given lengths count. */
    cr_assert_eq(sb_sentinel_addr_parse("hostXX", 4, "80XX", 2, &a), 0);
    cr_assert_str_eq(a.host, "host");
    cr_assert_eq(a.port, 80);
    const char *bad[][2] = {
        { "", "6379" },   { "h", "" },      { "h", "0" },        { "h", "65536" },
        { "h", "-1" },    { "h", "63 79" }, { "h h", "6379" },   { "h\r\n", "6379" },
        { "[::1]", "1" }, { "h", "0x10" },  { "h/../", "6379" }, { "h", "6379\n" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&a, 0x5a, sizeof(a));
        cr_assert_eq(addr(bad[i][0], bad[i][1], &a), -1, "accepted %s %s", bad[i][0], bad[i][1]);
    }
}

static int sw(const char *msg, const char *name, sb_hostport *out)
{
    return sb_sentinel_switch_parse(msg, strlen(msg), name, out);
}

Test(redis_addr, switch_master)
{
    sb_hostport a;
    cr_assert_eq(sw("mymaster 127.0.0.1 6380 127.0.0.1 6381", "mymaster", &a), 1);
    cr_assert_str_eq(a.host, "127.0.0.1");
    cr_assert_eq(a.port, 6381);
    cr_assert_eq(sw("mymaster ::1 6380 ::2 7000", "mymaster", &a), 1);
    cr_assert_str_eq(a.host, "::2");
    cr_assert_eq(a.port, 7000);

    memset(&a, 0x5a, sizeof(a));
    sb_hostport before = a;
    cr_assert_eq(sw("other 127.0.0.1 6380 127.0.0.1 6381", "mymaster", &a), 0);
    cr_assert_eq(sw("mymaster2 127.0.0.1 6380 127.0.0.1 6381", "mymaster", &a), 0);
    cr_assert_eq(sw("mymaste 127.0.0.1 6380 127.0.0.1 6381", "mymaster", &a), 0);
    cr_assert_eq(memcmp(&a, &before, sizeof(a)), 0, "another master's event changed *out");

    const char *bad[] = {
        "",
        "mymaster",
        "mymaster 127.0.0.1 6380 127.0.0.1",
        "mymaster 127.0.0.1 6380 127.0.0.1 6381 extra",
        "mymaster 127.0.0.1 6380 127.0.0.1 6381 ",
        " mymaster 127.0.0.1 6380 127.0.0.1 6381",
        "mymaster  127.0.0.1 6380 127.0.0.1 6381",
        "mymaster 127.0.0.1 6380 127.0.0.1 0",
        "mymaster 127.0.0.1 6380 127.0.0.1 x",
        "mymaster 127.0.0.1 6380 h\x01 6381",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(sw(bad[i], "mymaster", &a), -1, "accepted '%s'", bad[i]);
}

/* ---- the flags ------------------------------------------------------------ */

static const char *env_sentinels;

static const char *fake_getenv(const char *name)
{
    return strcmp(name, "SWITCHBOARD_REDIS_SENTINELS") == 0 ? env_sentinels : NULL;
}

static sb_config_result parse(sb_config *c, char *err, size_t errlen, const char *a1,
                              const char *a2)
{
    char *argv[] = { "switchboard", (char *)a1, (char *)a2, NULL };
    int argc = a1 ? (a2 ? 3 : 2) : 1;
    return sb_config_parse(c, argc, argv, fake_getenv, err, errlen);
}

Test(sentinel_config, single_redis_by_default)
{
    sb_config c;
    char err[256] = "";
    cr_assert_eq(parse(&c, err, sizeof(err), NULL, NULL), SB_CONFIG_OK, "%s", err);
    cr_assert_eq(c.n_sentinels, 0);
    cr_assert_str_eq(c.redis_sentinels, "");
    cr_assert_str_eq(c.redis_master_name, "mymaster");
}

Test(sentinel_config, flags_and_environment)
{
    sb_config c;
    char err[256] = "";
    env_sentinels = "10.0.0.1,10.0.0.2:26380";
    cr_assert_eq(parse(&c, err, sizeof(err), "--redis-master-name=sb", NULL), SB_CONFIG_OK, "%s",
                 err);
    cr_assert_eq(c.n_sentinels, 2);
    cr_assert_str_eq(c.sentinels[0].host, "10.0.0.1");
    cr_assert_eq(c.sentinels[0].port, 26379);
    cr_assert_eq(c.sentinels[1].port, 26380);
    cr_assert_str_eq(c.redis_master_name, "sb");
    /* The flag wins, and an empty one turns Sentinel off. */
    cr_assert_eq(parse(&c, err, sizeof(err), "--redis-sentinels", "h:1"), SB_CONFIG_OK);
    cr_assert_eq(c.n_sentinels, 1);
    cr_assert_eq(parse(&c, err, sizeof(err), "--redis-sentinels=", NULL), SB_CONFIG_OK);
    cr_assert_eq(c.n_sentinels, 0);
}

Test(sentinel_config, bad_values_stop_the_node)
{
    sb_config c;
    char err[256] = "";
    env_sentinels = "h:99999";
    cr_assert_eq(parse(&c, err, sizeof(err), NULL, NULL), SB_CONFIG_ERROR);
    cr_assert_not_null(strstr(err, "SWITCHBOARD_REDIS_SENTINELS"), "%s", err);
    cr_assert_null(strstr(err, "99999"), "the value is not echoed: %s", err);
    env_sentinels = NULL;
    cr_assert_eq(parse(&c, err, sizeof(err), "--redis-sentinels", "h:1,,h:2"), SB_CONFIG_ERROR);
    cr_assert_not_null(strstr(err, "--redis-sentinels"), "%s", err);
    cr_assert_eq(parse(&c, err, sizeof(err), "--redis-master-name", "a b"), SB_CONFIG_ERROR);
    cr_assert_not_null(strstr(err, "--redis-master-name"), "%s", err);
    cr_assert_eq(parse(&c, err, sizeof(err), "--redis-master-name=", NULL), SB_CONFIG_ERROR);
}
