/*
 * test_openapi.c - the API's description against the node that serves it
 * (docs/api/openapi.json): GET /openapi.json is valid OpenAPI 3.1 (checked
 * by an OpenAPI validator from npm, tests/openapi/), every route of the
 * routing table in node/http_routes.c and every page of node/web_assets.c
 * is in it, with the ETag and 304 of those served with one, every operation in it
 * answers on a real node with a status it documents, its security
 * requirements are what a node with auth on enforces, and GET /docs is
 * served with nothing from elsewhere.
 */
#include "harness.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SB_OPENAPI_CHECK_DIR
#error "SB_OPENAPI_CHECK_DIR must name the directory where npm ci installed tests/openapi"
#endif

#define AUTH_SECRET "openapi-test-secret-0123456789abcdef"

static const char *const methods[] = { "get", "post", "delete" };

static json_t *fetch_document(int port)
{
    http_resp r = h_http(port, "GET", "/openapi.json", NULL, NULL);
    cr_assert_eq(r.status, 200, "GET /openapi.json answered %d: %s", r.status, r.body);
    char ct[128];
    cr_assert(http_header(&r, "Content-Type", ct, sizeof ct) && strstr(ct, "application/json"),
              "GET /openapi.json is not JSON:\n%s", r.head);
    json_t *doc = http_json(&r);
    cr_assert(json_is_object(doc), "GET /openapi.json is not a JSON object");
    http_resp_free(&r);
    return doc;
}

/* ---- the routing table, read from node/http_routes.c ---- */

typedef struct {
    char path[64]; /* as in the document: "/rooms/{room_id}" */
    bool method[3];
} table_route;

/* Tokens of the C text: string literals (with their quotes), identifiers
 * and the braces; commas, blanks and comments are dropped. */
static size_t tokenize(const char *s, const char *end, char tok[][64], size_t max)
{
    size_t n = 0;
    while (s < end && n < max) {
        if (s[0] == '/' && s[1] == '*') {
            const char *close = strstr(s + 2, "*/");
            s = close ? close + 2 : end;
        } else if (*s == '"') {
            const char *q = strchr(s + 1, '"');
            cr_assert(q && q - s < 63, "unterminated string in the routing table");
            snprintf(tok[n++], 64, "%.*s", (int)(q - s + 1), s);
            s = q + 1;
        } else if (isalnum((unsigned char)*s) || *s == '_') {
            const char *b = s;
            while (s < end && (isalnum((unsigned char)*s) || *s == '_'))
                s++;
            snprintf(tok[n++], 64, "%.*s", (int)(s - b), b);
        } else if (*s == '{' || *s == '}') {
            snprintf(tok[n++], 64, "%c", *s++);
        } else {
            s++;
        }
    }
    return n;
}

/* The entries of `static const route routes[]`: { "path", has_id, get,
 * post, delete }, each method NONE or { handler, RULE }. */
static size_t read_routing_table(table_route *out, size_t max)
{
    char file[PATH_MAX];
    snprintf(file, sizeof file, "%s/node/http_routes.c", SB_SOURCE_DIR);
    char *src = h_read_file(file);
    const char *start = strstr(src, "static const route routes[] = {");
    cr_assert_not_null(start, "no routing table in %s", file);
    start = strchr(start, '{') + 1;
    const char *end = strstr(start, "\n};");
    cr_assert_not_null(end, "routing table of %s does not end", file);
    static char tok[1024][64];
    size_t n = tokenize(start, end, tok, 1024), i = 0, count = 0;
    while (i < n) {
        cr_assert(count < max && i + 3 < n && strcmp(tok[i], "{") == 0 && tok[i + 1][0] == '"',
                  "unexpected routing table entry at token '%s'", tok[i]);
        table_route *r = &out[count++];
        memset(r, 0, sizeof *r);
        bool has_id = strcmp(tok[i + 2], "true") == 0;
        snprintf(r->path, sizeof r->path, "%.*s%s", (int)strlen(tok[i + 1]) - 2, tok[i + 1] + 1,
                 has_id ? "{room_id}" : "");
        i += 3;
        for (int m = 0; m < 3; m++) {
            if (i < n && strcmp(tok[i], "NONE") == 0) {
                i++;
                continue;
            }
            cr_assert(i + 3 < n && strcmp(tok[i], "{") == 0 && strcmp(tok[i + 3], "}") == 0,
                      "unexpected method slot of %s", r->path);
            r->method[m] = strcmp(tok[i + 1], "NULL") != 0;
            i += 4;
        }
        cr_assert(i < n && strcmp(tok[i], "}") == 0, "entry %s does not end", r->path);
        i++;
    }
    free(src);
    return count;
}

/* ---- validity ---- */

static int run_validator(const char *file)
{
    char node[PATH_MAX], script[PATH_MAX], module[PATH_MAX];
    cr_assert_not_null(h_which("node", node, sizeof node), "node (Node.js) is not installed");
    snprintf(script, sizeof script, "%s/validate.mjs", SB_OPENAPI_CHECK_DIR);
    snprintf(module, sizeof module, "%s/node_modules/@seriousme/openapi-schema-validator",
             SB_OPENAPI_CHECK_DIR);
    cr_assert(access(module, R_OK) == 0,
              "the validator is not installed in %s (ctest's openapi_deps runs npm ci there)",
              SB_OPENAPI_CHECK_DIR);
    const char *argv[] = { node, script, file, NULL };
    return h_run(argv, NULL, NULL, "validator.log", 60000);
}

IT_TEST(openapi, document_is_valid_openapi_3_1, h_setup_one)
{
    json_t *doc = fetch_document(h_node_port(0));
    cr_assert(h_streq(h_jstr(doc, "openapi"), "3.1.0"), "openapi is not 3.1.0");
    cr_assert(h_streq(h_jstr(json_object_get(doc, "info"), "version"), SB_VERSION),
              "info.version is not the binary's version %s", SB_VERSION);
    cr_assert_null(json_object_get(doc, "servers"), "servers would pin the document to one host");

    char file[PATH_MAX];
    snprintf(file, sizeof file, "%s/openapi.json", h_test_dir());
    cr_assert_eq(json_dump_file(doc, file, JSON_INDENT(1)), 0);
    int status = run_validator(file);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the validator refused /openapi.json (see validator.log in the test directory)");

    /* The validator can say no: the same document with a response that is
     * not an object must be refused. */
    json_t *root = json_object_get(json_object_get(json_object_get(doc, "paths"), "/"), "get");
    json_object_set_new(json_object_get(root, "responses"), "200", json_integer(5));
    snprintf(file, sizeof file, "%s/broken.json", h_test_dir());
    cr_assert_eq(json_dump_file(doc, file, 0), 0);
    status = run_validator(file);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1,
              "the validator accepted a broken document");
    json_decref(doc);
}

/* ---- routes and the document ---- */

IT_TEST(openapi, every_route_is_documented, h_setup_one)
{
    table_route table[64];
    size_t n = read_routing_table(table, 64);
    cr_assert_geq(n, 11, "read only %zu routes from the routing table", n);
    json_t *doc = fetch_document(h_node_port(0));
    json_t *paths = json_object_get(doc, "paths");
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_object_get(paths, table[i].path);
        cr_assert(json_is_object(item), "%s is not in /openapi.json", table[i].path);
        for (int m = 0; m < 3; m++) {
            bool documented = json_is_object(json_object_get(item, methods[m]));
            cr_assert_eq(documented, table[i].method[m], "%s %s: %s", methods[m], table[i].path,
                         documented ? "documented but not routed" : "routed but not documented");
        }
    }
    /* The WebSocket upgrade is lws's, outside the table. */
    cr_assert(json_is_object(json_object_get(json_object_get(paths, "/ws/{room_id}"), "get")),
              "/ws/{room_id} is not in /openapi.json");
    json_decref(doc);
}

/* Ask for one documented operation; assert the node routes it and answers
 * with a status the document lists for it. */
static void expect_answer(int port, const char *method, const char *path, json_t *op)
{
    http_resp r = h_http(port, method, path, NULL, NULL);
    cr_assert(r.status != 404 && r.status != 405, "%s %s answered %d: %s", method, path, r.status,
              r.body);
    char status[8];
    snprintf(status, sizeof status, "%d", r.status);
    cr_assert(json_object_get(json_object_get(op, "responses"), status),
              "%s %s answered %d, which its operation does not document", method, path, r.status);
    cr_assert(r.status < 300, "%s %s answered %d: %s", method, path, r.status, r.body);
    http_resp_free(&r);
}

IT_TEST(openapi, every_documented_route_answers, h_setup_one)
{
    int port = h_node_port(0);
    char room[37];
    h_create_room_into(port, NULL, room);
    json_t *doc = fetch_document(port);
    const char *tmpl;
    json_t *item;
    int checked = 0;
    /* DELETE closes the room: every other method first. */
    for (int pass = 0; pass < 2; pass++) {
        json_object_foreach(json_object_get(doc, "paths"), tmpl, item)
        {
            char path[128];
            const char *param = strstr(tmpl, "{room_id}");
            snprintf(path, sizeof path, "%.*s%s%s", param ? (int)(param - tmpl) : (int)strlen(tmpl),
                     tmpl, param ? room : "", param ? param + strlen("{room_id}") : "");
            for (int m = 0; m < 3; m++) {
                json_t *op = json_object_get(item, methods[m]);
                if (!op || (pass == 0) != (m != 2))
                    continue;
                if (strcmp(tmpl, "/ws/{room_id}") == 0) {
                    ws_client *c = h_join(port, room, NULL); /* asserts 101 and connected */
                    ws_close(c);
                } else {
                    char upper[8];
                    for (size_t k = 0; k <= strlen(methods[m]); k++)
                        upper[k] = (char)toupper((unsigned char)methods[m][k]);
                    expect_answer(port, upper, path, op);
                }
                checked++;
            }
        }
    }
    cr_assert_geq(checked, 13, "only %d operations checked", checked);
    json_decref(doc);
}

/* With auth on, an operation the document leaves open answers without a
 * token, and one with a security requirement answers 401 with
 * WWW-Authenticate: Bearer. */
IT_TEST(openapi, security_matches_auth_on, h_setup_redis)
{
    int port = h_node_port(h_node_start("node-a", "--auth-secret", AUTH_SECRET, NULL));
    json_t *doc = fetch_document(port); /* open itself */
    const char *tmpl;
    json_t *item;
    char room[37];
    h_random_uuid4(room);
    int secured = 0, open = 0;
    json_object_foreach(json_object_get(doc, "paths"), tmpl, item)
    {
        if (strcmp(tmpl, "/ws/{room_id}") == 0)
            continue; /* the WebSocket's refusals are close codes: test_auth.c */
        char path[128];
        const char *param = strstr(tmpl, "{room_id}");
        snprintf(path, sizeof path, "%.*s%s", param ? (int)(param - tmpl) : (int)strlen(tmpl), tmpl,
                 param ? room : "");
        for (int m = 0; m < 3; m++) {
            json_t *op = json_object_get(item, methods[m]);
            if (!op)
                continue;
            json_t *security = json_object_get(op, "security");
            cr_assert(json_is_array(security), "%s %s: no security requirement", methods[m], tmpl);
            bool needs_token = json_array_size(security) > 0;
            char upper[8];
            for (size_t k = 0; k <= strlen(methods[m]); k++)
                upper[k] = (char)toupper((unsigned char)methods[m][k]);
            http_resp r = h_http(port, upper, path, NULL, NULL);
            char www[64];
            if (needs_token) {
                h_expect_detail(&r, 401, "Not authenticated", path);
                cr_assert(http_header(&r, "WWW-Authenticate", www, sizeof www)
                              && strcmp(www, "Bearer") == 0,
                          "%s %s: 401 without WWW-Authenticate: Bearer", upper, path);
                secured++;
            } else {
                cr_assert(r.status == 200, "%s %s is documented open but answered %d", upper, path,
                          r.status);
                open++;
            }
            http_resp_free(&r);
        }
    }
    cr_assert(secured >= 5 && open >= 7, "checked %d secured and %d open operations", secured,
              open);
    json_decref(doc);
}

/* ---- the web pages and caching ---- */

/* The exact paths of the table `paths[]` in node/web_assets.c, entries
 * { "/path", "file" }; the room page (/room/{id}) is matched apart. */
static size_t read_web_paths(char out[][64], size_t max)
{
    char file[PATH_MAX];
    snprintf(file, sizeof file, "%s/node/web_assets.c", SB_SOURCE_DIR);
    char *src = h_read_file(file);
    const char *start = strstr(src, "} paths[] = {");
    cr_assert_not_null(start, "no path table in %s", file);
    start += strlen("} paths[] = {");
    const char *end = strstr(start, "\n};");
    cr_assert_not_null(end, "the path table of %s does not end", file);
    static char tok[256][64];
    size_t n = tokenize(start, end, tok, 256), count = 0;
    for (size_t i = 0; i < n; i++)
        if (tok[i][0] == '"' && tok[i][1] == '/') {
            cr_assert(count < max, "more than %zu web paths", max);
            snprintf(out[count++], 64, "%.*s", (int)strlen(tok[i]) - 2, tok[i] + 1);
        }
    free(src);
    return count;
}

/* Every page, script and style the node serves is in the document; every
 * documented GET that answers with an ETag answers 304 to it, and its
 * operation lists the 304 and the header. */
IT_TEST(openapi, web_pages_and_their_caching_are_documented, h_setup_one)
{
    int port = h_node_port(0);
    json_t *doc = fetch_document(port);
    json_t *paths = json_object_get(doc, "paths");
    char web[32][64];
    size_t n = read_web_paths(web, 32);
    cr_assert_geq(n, 5, "read only %zu web paths from node/web_assets.c", n);
    for (size_t i = 0; i < n; i++)
        cr_assert(json_is_object(json_object_get(json_object_get(paths, web[i]), "get")),
                  "GET %s is served but not in /openapi.json", web[i]);

    char room[37];
    h_create_room_into(port, NULL, room);
    const char *tmpl;
    json_t *item;
    int cached = 0;
    json_object_foreach(paths, tmpl, item)
    {
        json_t *op = json_object_get(item, "get");
        if (!op || strcmp(tmpl, "/ws/{room_id}") == 0)
            continue;
        char path[128];
        const char *param = strstr(tmpl, "{room_id}");
        snprintf(path, sizeof path, "%.*s%s%s", param ? (int)(param - tmpl) : (int)strlen(tmpl),
                 tmpl, param ? room : "", param ? param + strlen("{room_id}") : "");
        http_resp r = h_http(port, "GET", path, NULL, NULL);
        char etag[128], line[192];
        if (r.status != 200 || !http_header(&r, "ETag", etag, sizeof etag)) {
            http_resp_free(&r);
            continue;
        }
        json_t *responses = json_object_get(op, "responses");
        cr_assert(
            json_object_get(json_object_get(json_object_get(responses, "200"), "headers"), "ETag"),
            "GET %s answers with an ETag its 200 does not document", tmpl);
        snprintf(line, sizeof line, "If-None-Match: %s", etag);
        const char *match[] = { line, NULL };
        http_resp again = h_http(port, "GET", path, match, NULL);
        cr_assert_eq(again.status, 304, "GET %s with its ETag answered %d", tmpl, again.status);
        cr_assert(json_object_get(responses, "304"), "GET %s answers 304, undocumented", tmpl);
        cached++;
        http_resp_free(&again);
        http_resp_free(&r);
    }
    cr_assert_geq(cached, (int)n + 4, "only %d cached answers (%zu web paths, /room, the docs)",
                  cached, n);

    /* The room page's refusal of a non-canonical id. */
    http_resp bad = h_http(port, "GET", "/room/NOT-A-ROOM", NULL, NULL);
    cr_assert_eq(bad.status, 404);
    cr_assert(json_object_get(
                  json_object_get(json_object_get(json_object_get(paths, "/room/{room_id}"), "get"),
                                  "responses"),
                  "404"),
              "GET /room/{room_id} answers 404, undocumented");
    http_resp_free(&bad);
    json_decref(doc);
}

/* ---- the page ---- */

IT_TEST(openapi, docs_page_is_served_with_nothing_from_elsewhere, h_setup_one)
{
    int port = h_node_port(0);
    http_resp page = h_http(port, "GET", "/docs", NULL, NULL);
    cr_assert_eq(page.status, 200, "GET /docs answered %d", page.status);
    char value[256];
    cr_assert(http_header(&page, "Content-Type", value, sizeof value) && strstr(value, "text/html"),
              "GET /docs is not HTML:\n%s", page.head);
    cr_assert(http_header(&page, "Content-Security-Policy", value, sizeof value)
                  && strstr(value, "default-src 'self'"),
              "GET /docs has no self-only Content-Security-Policy:\n%s", page.head);
    cr_assert(strstr(page.body, "src=\"/docs.js\""), "the page does not load /docs.js");
    /* its own empty icon, which the policy allows: no request for
     * /favicon.ico, which is a 404 */
    cr_assert(strstr(page.body, "<link rel=\"icon\" href=\"data:,\">"), "the page has no icon");
    cr_assert(strstr(value, "img-src 'self' data:"), "the policy refuses the icon: %s", value);

    http_resp script = h_http(port, "GET", "/docs.js", NULL, NULL);
    cr_assert_eq(script.status, 200, "GET /docs.js answered %d", script.status);
    cr_assert(http_header(&script, "Content-Type", value, sizeof value)
                  && strstr(value, "text/javascript"),
              "GET /docs.js is not JavaScript:\n%s", script.head);
    cr_assert(strstr(script.body, "fetch(\"/openapi.json\")"),
              "the script does not render /openapi.json");
    /* No CDN, no font or style from another host. */
    const http_resp *both[] = { &page, &script };
    for (int i = 0; i < 2; i++)
        cr_assert(!strstr(both[i]->body, "http://") && !strstr(both[i]->body, "https://")
                      && !strstr(both[i]->body, "src=\"//"),
                  "%s refers to another host", i ? "/docs.js" : "/docs");
    /* The JSON answers keep no page policy. */
    http_resp doc = h_http(port, "GET", "/openapi.json", NULL, NULL);
    cr_assert_null(http_header(&doc, "Content-Security-Policy", value, sizeof value));
    http_resp_free(&doc);
    http_resp_free(&script);
    http_resp_free(&page);
}
