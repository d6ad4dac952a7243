/*
 * test_web.c - the embedded web pages on the wire, against one real node
 * and Redis (README "REST API", docs/design.md#browser-pages): content
 * types, the ETag and its 304, Cache-Control and the pages' CSP, the room
 * page's canonical id, methods, and that the pages stay open with auth on
 * while the API does not.
 */
#include "harness.h"

#include <string.h>

static const char *header(const http_resp *r, const char *name, char *buf, size_t size)
{
    const char *v = http_header(r, name, buf, size);
    cr_assert(v, "no %s header:\n%s", name, r->head);
    return v;
}

IT_TEST(web, pages_scripts_and_styles, h_setup_one)
{
    int port = h_node_port(0);
    char room[37];
    h_create_room_into(port, NULL, room);
    char room_page[64];
    snprintf(room_page, sizeof room_page, "/room/%s", room);
    const struct {
        const char *path, *type, *marker;
        bool page;
    } want[] = {
        { "/app", "text/html; charset=utf-8", "New room", true },
        { room_page, "text/html; charset=utf-8", "id=\"join\"", true },
        { "/switchboard.js", "text/javascript; charset=utf-8", "export class Switchboard", false },
        { "/assets/room.js", "text/javascript; charset=utf-8", "from \"/switchboard.js\"", false },
        { "/assets/style.css", "text/css; charset=utf-8", ".tiles", false },
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        http_resp r = h_http(port, "GET", want[i].path, NULL, NULL);
        cr_assert_eq(r.status, 200, "GET %s answered %d", want[i].path, r.status);
        char buf[1024];
        cr_expect_str_eq(header(&r, "Content-Type", buf, sizeof buf), want[i].type, "%s",
                         want[i].path);
        cr_expect_str_eq(header(&r, "Cache-Control", buf, sizeof buf), "no-cache");
        cr_expect_str_eq(header(&r, "X-Content-Type-Options", buf, sizeof buf), "nosniff");
        cr_expect(strstr(r.body, want[i].marker), "GET %s is not the asset", want[i].path);
        const char *csp = http_header(&r, "Content-Security-Policy", buf, sizeof buf);
        if (want[i].page)
            cr_expect(csp && strstr(csp, "script-src 'self'")
                          && strstr(csp, "connect-src 'self' ws://"),
                      "%s: CSP %s", want[i].path, csp ? csp : "(none)");
        else
            cr_expect_null(csp, "%s has a CSP", want[i].path);
        http_resp_free(&r);
    }
}

/* The ETag is stable across requests, and sending it back gives 304 with
 * no body; another tag gives the asset again. The API's description and
 * its page are cached the same way. */
IT_TEST(web, etag_and_304, h_setup_one)
{
    int port = h_node_port(0);
    const char *paths[] = { "/switchboard.js", "/app", "/openapi.json", "/docs", "/docs.js" };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        const char *path = paths[i];
        http_resp a = h_http(port, "GET", path, NULL, NULL);
        http_resp b = h_http(port, "GET", path, NULL, NULL);
        cr_assert_eq(a.status, 200, "GET %s answered %d", path, a.status);
        char etag[128], again[128], line[192], buf[128];
        header(&a, "ETag", etag, sizeof etag);
        cr_assert_eq(etag[0], '"', "%s: not a strong ETag: %s", path, etag);
        cr_expect_str_eq(header(&b, "ETag", again, sizeof again), etag, "%s", path);
        cr_expect_str_eq(header(&a, "Cache-Control", buf, sizeof buf), "no-cache", "%s", path);

        snprintf(line, sizeof line, "If-None-Match: %s", etag);
        const char *match[] = { line, NULL };
        http_resp c = h_http(port, "GET", path, match, NULL);
        cr_expect_eq(c.status, 304, "%s: If-None-Match with the ETag answered %d", path, c.status);
        cr_expect_eq(c.body_len, 0, "%s: a 304 with a body", path);
        cr_expect_str_eq(header(&c, "ETag", buf, sizeof buf), etag, "%s", path);

        const char *other[] = { "If-None-Match: \"0000000000000000\"", NULL };
        http_resp d = h_http(port, "GET", path, other, NULL);
        cr_expect_eq(d.status, 200, "%s", path);
        cr_expect_eq(d.body_len, a.body_len, "%s", path);
        http_resp_free(&a);
        http_resp_free(&b);
        http_resp_free(&c);
        http_resp_free(&d);
    }
}

IT_TEST(web, refusals, h_setup_one)
{
    int port = h_node_port(0);
    http_resp r = h_http(port, "GET", "/room/NOT-A-ROOM", NULL, NULL);
    h_expect_detail(&r, 404, "Room not found", "a non-canonical room page");
    http_resp_free(&r);
    r = h_http(port, "GET", "/room/a/b", NULL, NULL);
    h_expect_detail(&r, 404, "Not Found", "a path under a room page");
    http_resp_free(&r);
    r = h_http(port, "POST", "/app", NULL, "{}");
    h_expect_detail(&r, 405, "Method Not Allowed", "POST /app");
    http_resp_free(&r);
    r = h_http(port, "GET", "/assets/nope.js", NULL, NULL);
    h_expect_detail(&r, 404, "Not Found", "an unknown asset");
    http_resp_free(&r);
}

IT_TEST(web, pages_are_open_with_auth_on, h_setup_redis)
{
    int port = h_node_port(
        h_node_start("node-a", "--auth-secret", "web-test-secret-0123456789abcdef0123", NULL));
    http_resp r = h_http(port, "GET", "/app", NULL, NULL);
    cr_expect_eq(r.status, 200, "GET /app with auth on answered %d", r.status);
    http_resp_free(&r);
    r = h_http(port, "GET", "/switchboard.js", NULL, NULL);
    cr_expect_eq(r.status, 200, "GET /switchboard.js with auth on answered %d", r.status);
    http_resp_free(&r);
    r = h_http(port, "POST", "/create-room", NULL, NULL);
    cr_expect_eq(r.status, 401, "the API without a token answered %d", r.status);
    http_resp_free(&r);
}
