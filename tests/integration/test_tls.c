/*
 * test_tls.c - https:// and wss:// (README, Running as a cluster, and
 * Configuration): the node's own --tls-cert/--tls-key, with sockets the
 * node accepts itself and hands to lws, and HAProxy terminating TLS from
 * the configuration scripts/haproxy-config.sh writes, with its redirect of
 * plain HTTP. Certificates are made with `openssl req` in the test's
 * directory, and the clients verify them (netutil.c): a client trusting
 * another certificate is refused.
 */
#include "harness.h"
#include "harness_internal.h"
#include "netutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

typedef struct {
    char cert[PATH_MAX]; /* what a client trusts (self-signed) */
    char key[PATH_MAX];
    char pem[PATH_MAX]; /* cert then key: HAProxy's crt */
} test_cert;

/* A self-signed certificate for localhost and 127.0.0.1, named `name`. */
static void make_cert(const char *name, test_cert *c)
{
    snprintf(c->cert, sizeof c->cert, "%s/%s-cert.pem", h_test_dir(), name);
    snprintf(c->key, sizeof c->key, "%s/%s-key.pem", h_test_dir(), name);
    snprintf(c->pem, sizeof c->pem, "%s/%s.pem", h_test_dir(), name);
    const char *argv[] = { "openssl",       "req",      "-x509",
                           "-newkey",       "rsa:2048", "-nodes",
                           "-days",         "2",        "-subj",
                           "/CN=localhost", "-addext",  "subjectAltName=DNS:localhost,IP:127.0.0.1",
                           "-keyout",       c->key,     "-out",
                           c->cert,         NULL };
    int st = h_run(argv, NULL, NULL, "openssl.log", 30000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "openssl req failed; see openssl.log");
    char *cert = read_file_text(c->cert, 65536), *key = read_file_text(c->key, 65536);
    FILE *f = fopen(c->pem, "w");
    cr_assert(f && cert && key, "cannot write %s", c->pem);
    fprintf(f, "%s%s", cert, key);
    fclose(f);
    free(cert);
    free(key);
}

/* https REST and a wss relay between two clients, all on `port`. */
static void expect_https_and_wss(int port)
{
    http_resp r = h_http(port, "GET", "/", NULL, NULL);
    json_t *j = http_json(&r);
    cr_assert(r.status == 200 && h_jstr(j, "node_id"), "GET / over https: %d %s", r.status, r.body);
    json_decref(j);
    http_resp_free(&r);
    char room[37];
    h_create_room_into(port, NULL, room);
    ws_client *a = h_join(port, room, NULL);
    ws_client *b = h_join(port, room, NULL);
    h_expect_user_event(a, "user-joined", b->user_id, room);
    h_sendf(a, "{\"type\":\"offer\",\"data\":{\"over\":\"wss\"}}");
    h_expect_relay(b, "offer", a, "{\"over\":\"wss\"}", NULL);
    h_sendf(b, "{\"type\":\"answer\",\"data\":{\"back\":1},\"to\":\"%s\"}", a->user_id);
    h_expect_relay(a, "answer", b, "{\"back\":1}", a->user_id);
    ws_close(a);
    ws_close(b);
}

/* A request to port fails: no HTTP answer over plain TCP, or the
 * certificate is not trusted. */
static void expect_no_answer(int port, const char *what)
{
    http_resp r;
    char err[512] = "";
    int rc = http_request(port, "GET", "/", NULL, NULL, 0, 3000, &r, err, sizeof err);
    if (rc == 0) {
        int status = r.status;
        http_resp_free(&r);
        cr_assert_fail("%s: answered %d", what, status);
    }
}

static int start_tls_node(const test_cert *c)
{
    cr_assert(net_set_tls(0, c->cert) == 0, "cannot load %s", c->cert);
    return h_node_port(h_node_start("tls1", "--tls-cert", c->cert, "--tls-key", c->key, NULL));
}

IT_TEST(tls, node_serves_https_and_wss, h_setup_redis)
{
    test_cert c, other;
    make_cert("node", &c);
    make_cert("other", &other);
    int port = start_tls_node(&c);
    expect_https_and_wss(port);

    /* The client verifies: trusting another certificate, it refuses the
     * node's, for the reason a browser would give. */
    net_set_tls(0, other.cert);
    expect_no_answer(port, "a client trusting another certificate");
    cr_assert(strstr(net_tls_error(), "self-signed certificate")
                  || strstr(net_tls_error(), "self signed certificate"),
              "refused for another reason: %s", net_tls_error());
    /* No cleartext service on the TLS port. */
    net_set_tls(0, NULL);
    expect_no_answer(port, "plain HTTP to the TLS port");
    net_set_tls(0, c.cert);
    expect_https_and_wss(port);
}

/* The header deadline covers the TLS handshake: a client that connects
 * and says nothing, and one that finishes the handshake and sends no
 * request, are both closed after LISTENER_HEADER_DEADLINE_MS (5 s), with
 * no cleartext 408 written into a TLS stream. */
IT_TEST(tls, header_deadline_covers_the_handshake, h_setup_redis)
{
    test_cert c;
    make_cert("node", &c);
    int port = start_tls_node(&c);
    long long start = h_now_ms();
    int silent = net_connect(port, 0);
    int no_request = net_connect_http(port, 0);
    cr_assert(silent >= 0 && no_request >= 0, "connect: %s %s", strerror(errno), net_tls_error());
    char buf[256];
    long long deadline = start + 12000;
    ssize_t n = net_read_some(silent, buf, sizeof buf, deadline);
    long long silent_ms = h_now_ms() - start;
    cr_assert(n == 0 || n == -1, "a silent TCP client got %zd bytes instead of a close", n);
    ssize_t m = net_read_some(no_request, buf, sizeof buf, deadline);
    long long no_request_ms = h_now_ms() - start;
    cr_assert(m == 0 || m == -1, "a TLS client without a request got %zd (not a close)", m);
    cr_assert(silent_ms >= 4000 && silent_ms < 9000, "silent TCP client closed after %lld ms",
              silent_ms);
    cr_assert(no_request_ms >= 4000 && no_request_ms < 9000,
              "TLS client without a request closed after %lld ms", no_request_ms);
    net_close(silent);
    net_close(no_request);
    expect_https_and_wss(port); /* and the node serves the others */
}

/* Run the node with argv's extra flags; it must exit != 0 at once, saying
 * `why` in its output. */
static void expect_start_refused(const char *cert, const char *key, const char *why)
{
    char redis[64], port[16], log[PATH_MAX];
    snprintf(redis, sizeof redis, "redis://127.0.0.1:%d/0", h_redis_port());
    snprintf(port, sizeof port, "%d", h_free_port());
    snprintf(log, sizeof log, "%s/refused.log", h_test_dir());
    const char *argv[12] = { SB_NODE_BIN, "--host",      "127.0.0.1", "--port",
                             port,        "--redis-url", redis };
    int a = 7;
    if (cert) {
        argv[a++] = "--tls-cert";
        argv[a++] = cert;
    }
    if (key) {
        argv[a++] = "--tls-key";
        argv[a++] = key;
    }
    argv[a] = NULL;
    remove(log);
    int st = h_run(argv, NULL, NULL, "refused.log", 10000);
    char *read = read_file_text(log, 8000), text[8192];
    snprintf(text, sizeof text, "%s", read ? read : "");
    free(read);
    /* WIFEXITED: a clean refusal, not a crash or a sanitizer's abort. */
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0,
              "the node did not exit with an error (status 0x%x) with cert %s key %s:\n%s", st,
              cert, key, text);
    cr_assert(strstr(text, why), "no '%s' in the output:\n%s", why, text);
    cr_assert(!log_has_sanitizer_report(log), "a sanitizer report:\n%s", text);
}

IT_TEST(tls, unusable_certificate_stops_the_node, h_setup_redis)
{
    test_cert c, other;
    make_cert("node", &c);
    make_cert("other", &other);
    expect_start_refused(c.cert, other.key, "does not match the certificate");
    expect_start_refused(c.cert, c.cert, "cannot load the TLS private key"); /* not a key */
    expect_start_refused(c.key, c.key, "cannot load the TLS certificate");   /* not a cert */
    char missing[PATH_MAX];
    snprintf(missing, sizeof missing, "%s/none.pem", h_test_dir());
    expect_start_refused(missing, c.key, "cannot read --tls-cert");
    expect_start_refused(c.cert, missing, "cannot read --tls-key");
    expect_start_refused(c.cert, NULL, "--tls-cert and --tls-key go together");
    expect_start_refused(NULL, c.key, "--tls-cert and --tls-key go together");
}

/* The compose variant of HAProxy's configuration: with a PEM, HTTPS and
 * WSS on their port and plain HTTP redirected there, path and query kept. */
IT_TEST(tls, haproxy_terminates_tls_and_redirects, h_setup_redis)
{
    test_cert c;
    make_cert("lb", &c);
    h_node_start("plain1", NULL);
    int tls_port = 0;
    int plain = h_haproxy_start_tls(c.pem, c.cert, true, &tls_port);
    http_resp r = h_http(plain, "GET", "/rooms?limit=5", NULL, NULL);
    char location[256], want[128];
    snprintf(want, sizeof want, "https://127.0.0.1:%d/rooms?limit=5", tls_port);
    cr_assert(r.status == 301
                  && h_streq(http_header(&r, "Location", location, sizeof location), want),
              "plain HTTP: %d, Location %s (want 301 to %s)", r.status,
              http_header(&r, "Location", location, sizeof location), want);
    http_resp_free(&r);
    expect_https_and_wss(tls_port);
}
