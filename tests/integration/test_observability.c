/*
 * test_observability.c - what operators read (docs/design.md#observability):
 * GET /metrics must be valid Prometheus text exposition whose counters
 * move with the traffic (messages in and out, connections, cross-node
 * relay, HTTP requests, errors by kind), and a node started with
 * --log-format json must write nothing but JSON objects, one per line,
 * with ts/level/node/msg and the room and user of a join.
 */
#include "harness.h"
#include "protocol.h"

#include <ctype.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* ---- Prometheus text exposition ---- */

#define MAX_SAMPLES 256
#define MAX_FAMILIES 64

typedef struct {
    char key[256]; /* name{labels} exactly as exposed (labels verbatim) */
    double value;
} sample;

typedef struct {
    sample s[MAX_SAMPLES];
    int n;
    char family[MAX_FAMILIES][160];
    char type[MAX_FAMILIES][32];
    int n_families;
} scrape;

static bool name_start(char c)
{
    return isalpha((unsigned char)c) || c == '_' || c == ':';
}

static bool name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == ':';
}

/* Length of a metric name at p (0 when there is none). */
static size_t metric_name_len(const char *p)
{
    if (!name_start(*p))
        return 0;
    size_t n = 1;
    while (name_char(p[n]))
        n++;
    return n;
}

/* Length of a {label="value",...} block at p, or 0 when malformed. */
static size_t labels_len(const char *p)
{
    if (*p != '{')
        return 0;
    size_t i = 1;
    for (int guard = 0; guard < 64; guard++) {
        if (p[i] == '}')
            return i + 1;
        if (!(isalpha((unsigned char)p[i]) || p[i] == '_'))
            return 0;
        while (isalnum((unsigned char)p[i]) || p[i] == '_')
            i++;
        if (p[i] != '=' || p[i + 1] != '"')
            return 0;
        i += 2;
        while (p[i] && p[i] != '"') {
            if (p[i] == '\\') {
                if (!strchr("\\\"n", p[i + 1]))
                    return 0;
                i++;
            }
            if (p[i] == '\n')
                return 0;
            i++;
        }
        if (p[i] != '"')
            return 0;
        i++;
        if (p[i] == ',')
            i++;
        else if (p[i] != '}')
            return 0;
    }
    return 0;
}

/* The family a sample name belongs to under the declared types. */
static int family_of(const scrape *sc, const char *name)
{
    for (int f = 0; f < sc->n_families; f++) {
        size_t fl = strlen(sc->family[f]);
        if (strncmp(name, sc->family[f], fl) != 0)
            continue;
        const char *rest = name + fl;
        if (*rest == '\0')
            return f;
        bool histo = strcmp(sc->type[f], "histogram") == 0;
        bool summary = strcmp(sc->type[f], "summary") == 0;
        if ((histo && strcmp(rest, "_bucket") == 0)
            || ((histo || summary) && (strcmp(rest, "_sum") == 0 || strcmp(rest, "_count") == 0)))
            return f;
    }
    return -1;
}

/* Parse and validate a /metrics body; fails the test on the first line
 * that is not valid text exposition. */
static void parse_metrics(const char *body, scrape *sc)
{
    memset(sc, 0, sizeof *sc);
    size_t blen = strlen(body);
    cr_assert(blen > 0 && body[blen - 1] == '\n', "metrics body does not end with a line feed");
    const char *line = body;
    for (int lineno = 1; *line && lineno < 10000; lineno++) {
        const char *eol = strchr(line, '\n');
        size_t len = (size_t)(eol - line);
        char text[512];
        cr_assert(len < sizeof text, "metrics line %d is too long", lineno);
        memcpy(text, line, len);
        text[len] = '\0';
        line = eol + 1;
        if (len == 0)
            continue;
        if (text[0] == '#') {
            char kw[16], name[160], type[32];
            if (sscanf(text, "# %15s %159s %31s", kw, name, type) >= 2 && strcmp(kw, "TYPE") == 0) {
                cr_assert(metric_name_len(name) == strlen(name), "line %d: bad metric name in %s",
                          lineno, text);
                cr_assert(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0
                              || strcmp(type, "histogram") == 0 || strcmp(type, "summary") == 0
                              || strcmp(type, "untyped") == 0,
                          "line %d: unknown type in %s", lineno, text);
                for (int f = 0; f < sc->n_families; f++)
                    cr_assert(strcmp(sc->family[f], name) != 0, "line %d: second TYPE for %s",
                              lineno, name);
                cr_assert(sc->n_families < MAX_FAMILIES);
                snprintf(sc->family[sc->n_families], sizeof sc->family[0], "%s", name);
                snprintf(sc->type[sc->n_families], sizeof sc->type[0], "%s", type);
                sc->n_families++;
            } else if (sscanf(text, "# %15s", kw) == 1 && strcmp(kw, "HELP") == 0) {
                cr_assert(sscanf(text, "# HELP %159s", name) == 1
                              && metric_name_len(name) == strlen(name),
                          "line %d: bad HELP line: %s", lineno, text);
            }
            continue;
        }
        size_t nl = metric_name_len(text);
        cr_assert(nl > 0, "line %d does not start with a metric name: %s", lineno, text);
        char name[160];
        snprintf(name, sizeof name, "%.*s", (int)nl, text);
        size_t ll = text[nl] == '{' ? labels_len(text + nl) : 0;
        cr_assert(text[nl] != '{' || ll > 0, "line %d: malformed labels: %s", lineno, text);
        size_t keylen = nl + ll;
        cr_assert(text[keylen] == ' ', "line %d: no single space before the value: %s", lineno,
                  text);
        const char *v = text + keylen + 1;
        char *end = NULL;
        double value = strtod(v, &end);
        cr_assert(end != v, "line %d: value is not a number: %s", lineno, text);
        if (*end == ' ') { /* optional timestamp: an integer */
            char *tend = NULL;
            strtoll(end + 1, &tend, 10);
            cr_assert(tend != end + 1 && *tend == '\0', "line %d: bad timestamp: %s", lineno, text);
        } else {
            cr_assert(*end == '\0', "line %d: junk after the value: %s", lineno, text);
        }
        int f = family_of(sc, name);
        cr_assert(f >= 0, "line %d: metric %s has no # TYPE line before it", lineno, name);
        if (strcmp(sc->type[f], "counter") == 0)
            cr_assert(value >= 0 && !isnan(value), "line %d: negative counter: %s", lineno, text);
        for (int i = 0; i < sc->n; i++)
            cr_assert(strncmp(sc->s[i].key, text, keylen) != 0 || sc->s[i].key[keylen] != '\0',
                      "line %d: sample %.*s appears twice", lineno, (int)keylen, text);
        cr_assert(sc->n < MAX_SAMPLES, "too many samples");
        snprintf(sc->s[sc->n].key, sizeof sc->s[0].key, "%.*s", (int)keylen, text);
        sc->s[sc->n].value = value;
        sc->n++;
    }
}

static void scrape_node(int port, scrape *sc)
{
    http_resp r = h_http(port, "GET", "/metrics", NULL, NULL);
    cr_assert_eq(r.status, 200, "GET /metrics answered %d: %s", r.status, r.body);
    char ct[128];
    cr_assert(http_header(&r, "Content-Type", ct, sizeof ct) && strstr(ct, "text/plain"),
              "metrics Content-Type is not text/plain:\n%s", r.head);
    parse_metrics(r.body, sc);
    http_resp_free(&r);
}

static double metric(const scrape *sc, const char *key)
{
    for (int i = 0; i < sc->n; i++)
        if (strcmp(sc->s[i].key, key) == 0)
            return sc->s[i].value;
    cr_assert_fail("metric %s is not exposed", key);
    return NAN;
}

static void expect_increase(const scrape *before, const scrape *after, const char *key,
                            const char *node)
{
    double b = metric(before, key), a = metric(after, key);
    cr_assert(a > b, "%s on %s did not increase after traffic: %g before, %g after", key, node, b,
              a);
}

IT_TEST(observe, metrics_parse_and_counters_move, h_setup_two)
{
    int n1 = h_node_port(0), n2 = h_node_port(1);
    scrape *before[2], *after[2];
    for (int k = 0; k < 2; k++) {
        before[k] = calloc(1, sizeof(scrape));
        after[k] = calloc(1, sizeof(scrape));
    }
    scrape_node(n1, before[0]);
    scrape_node(n2, before[1]);

    char room[37];
    ws_client *a, *b;
    h_room_of_two(n1, n2, room, &a, &b);
    for (int i = 0; i < 3; i++) {
        h_sendf(a, "{\"type\":\"offer\",\"data\":{\"n\":%d}}", i);
        char d[32];
        snprintf(d, sizeof d, "{\"n\":%d}", i);
        h_expect_relay(b, "offer", a, d, NULL);
        h_sendf(b, "{\"type\":\"answer\",\"data\":{\"n\":%d}}", i);
        h_expect_relay(a, "answer", b, d, NULL);
    }
    h_sendf(a, "{this is not json");
    h_expect_error(a, SB_ERR_INVALID_JSON);
    h_sendf(b, "[1,2");
    h_expect_error(b, SB_ERR_INVALID_JSON);
    json_t *r = h_get_room(n2, room);
    json_decref(r);

    scrape_node(n1, after[0]);
    scrape_node(n2, after[1]);
    static const char *const counters[] = {
        "switchboard_messages_received_total", "switchboard_messages_sent_total",
        "switchboard_connections_total",       "switchboard_relay_published_total",
        "switchboard_http_requests_total",     "switchboard_errors_total{kind=\"invalid_json\"}",
    };
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
            expect_increase(before[k], after[k], counters[i], h_node_id(k));
    /* Every counter family is declared as one. */
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++) {
        char fam[128];
        snprintf(fam, sizeof fam, "%.*s", (int)strcspn(counters[i], "{"), counters[i]);
        int f = family_of(after[0], fam);
        cr_assert(f >= 0 && strcmp(after[0]->type[f], "counter") == 0, "%s is not TYPE counter",
                  fam);
    }
    /* An error of another kind did not move. */
    cr_assert_eq(metric(after[0], "switchboard_errors_total{kind=\"room_full\"}"),
                 metric(before[0], "switchboard_errors_total{kind=\"room_full\"}"),
                 "errors_total{kind=\"room_full\"} moved without a full room");
    cr_assert_eq(metric(after[0], "switchboard_connections"), 1, "connections gauge on node-a");
    for (int k = 0; k < 2; k++) {
        free(before[k]);
        free(after[k]);
    }
}

/* ---- JSON logs ---- */

IT_TEST(observe, json_logs_are_json_lines, h_setup_redis)
{
    int idx = h_node_start("node-j", "--log-format", "json", "--log-level", "info", NULL);
    int port = h_node_port(idx);
    char room[37];
    ws_client *a, *b;
    h_room_of_two(port, port, room, &a, &b);
    char ids[2][64];
    snprintf(ids[0], sizeof ids[0], "%s", a->user_id);
    snprintf(ids[1], sizeof ids[1], "%s", b->user_id);
    h_sendf(a, "{\"type\":\"offer\",\"data\":{\"text\":\"quote \\\" backslash \\\\ tab \\t é\"}}");
    json_t *j = h_recv(b, "the offer");
    json_decref(j);
    h_sendf(a, "not json at all");
    h_expect_error(a, SB_ERR_INVALID_JSON);
    ws_close(b);
    h_expect_user_event(a, "user-left", ids[1], room);
    ws_close(a);
    http_resp r = h_http(port, "GET", "/rooms/not-a-room-id", NULL, NULL);
    http_resp_free(&r);

    /* Stop it so the log is complete (start, joins, leaves, stop). */
    h_node_signal(idx, SIGTERM);
    int status = 0;
    cr_assert(h_node_wait_exit(idx, H_STOP_TIMEOUT_MS, &status), "node did not exit after SIGTERM");
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0x%x after SIGTERM",
              status);

    FILE *f = fopen(h_node_log(idx), "r");
    cr_assert(f, "cannot open %s", h_node_log(idx));
    char line[8192];
    int n_lines = 0, n_joins = 0;
    bool joined[2] = { false, false };
    for (int guard = 0; guard < 100000 && fgets(line, sizeof line, f); guard++) {
        n_lines++;
        size_t len = strlen(line);
        cr_assert(len > 0 && line[len - 1] == '\n', "log line %d is cut or too long: %.300s",
                  n_lines, line);
        json_error_t e;
        json_t *o = json_loadb(line, len - 1, 0, &e);
        cr_assert(json_is_object(o), "log line %d is not a JSON object (%s): %.300s", n_lines,
                  e.text, line);
        const char *ts = h_jstr(o, "ts"), *level = h_jstr(o, "level");
        const char *node = h_jstr(o, "node"), *msg = h_jstr(o, "msg");
        cr_assert(ts && h_parse_iso8601_utc(ts) > 0, "log line %d: \"ts\" is not ISO 8601 UTC: %s",
                  n_lines, line);
        cr_assert(level
                      && (strcmp(level, "debug") == 0 || strcmp(level, "info") == 0
                          || strcmp(level, "warn") == 0 || strcmp(level, "error") == 0),
                  "log line %d: bad \"level\": %s", n_lines, line);
        cr_assert(h_streq(node, "node-j"), "log line %d: \"node\" is not node-j: %s", n_lines,
                  line);
        cr_assert(msg && *msg, "log line %d: no \"msg\": %s", n_lines, line);
        if (strncmp(msg, "joined", 6) == 0) {
            n_joins++;
            const char *room_f = h_jstr(o, "room"), *user = h_jstr(o, "user");
            cr_assert(h_streq(room_f, room), "join log line without the room: %s", line);
            cr_assert(h_streq(user, ids[0]) || h_streq(user, ids[1]),
                      "join log line without the user: %s", line);
            joined[h_streq(user, ids[1])] = true;
        } else if (strcmp(msg, "left") == 0) {
            cr_assert(h_streq(h_jstr(o, "room"), room) && h_jstr(o, "user"),
                      "leave log line without the room and user: %s", line);
        }
        json_decref(o);
    }
    fclose(f);
    cr_assert(n_lines > 0, "the node wrote no log lines at --log-level info");
    cr_assert(n_joins == 2 && joined[0] && joined[1],
              "expected one \"joined\" log line per join (2), found %d", n_joins);
}
