/*
 * test_rest.c - the REST API of one node against a real Redis
 * (docs/design.md#rest): API info, room creation and its body validation, the
 * room listing and its paging, room details, deletion, health, routing
 * errors (404/405/413/422), CORS, ICE servers and metrics.
 */
#include "harness.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

/* ---- GET / ---- */

IT_TEST(rest, root_describes_the_api, h_setup_one)
{
    http_resp r = h_http(h_node_port(0), "GET", "/", NULL, NULL);
    cr_assert_eq(r.status, 200, "GET / answered %d: %s", r.status, r.body);
    char ct[128];
    cr_assert(http_header(&r, "Content-Type", ct, sizeof ct) && strstr(ct, "application/json"),
              "GET / Content-Type is not JSON:\n%s", r.head);
    json_t *j = http_json(&r);
    cr_assert(json_is_object(j), "GET / body is not an object: %s", r.body);
    cr_assert(h_jstr(j, "name") && *h_jstr(j, "name"), "no name: %s", r.body);
    cr_assert(h_jstr(j, "version") && *h_jstr(j, "version"), "no version: %s", r.body);
    cr_assert(h_jstr(j, "node_id") && strcmp(h_jstr(j, "node_id"), "node-a") == 0,
              "node_id is not the --node-id given (node-a): %s", r.body);
    json_t *ep = json_object_get(j, "endpoints");
    cr_assert((json_is_array(ep) && json_array_size(ep) > 0)
                  || (json_is_object(ep) && json_object_size(ep) > 0),
              "endpoints missing or empty: %s", r.body);
    cr_assert(strstr(r.body, "/create-room") && strstr(r.body, "/ws/"),
              "endpoints do not mention /create-room and /ws/: %s", r.body);
    json_decref(j);
    http_resp_free(&r);
}

/* ---- POST /create-room ---- */

static void check_created(const http_resp *r, const char *what)
{
    cr_assert_eq(r->status, 200, "%s: status %d: %s", what, r->status, r->body);
    json_t *j = http_json(r);
    cr_assert(json_is_object(j), "%s: not an object: %s", what, r->body);
    const char *id = h_jstr(j, "room_id");
    cr_assert(id && h_is_uuid4(id), "%s: room_id is not a lowercase canonical uuid4: %s", what,
              r->body);
    char want[128];
    snprintf(want, sizeof want, "/room/%s", id);
    cr_assert(h_jstr(j, "join_link") && strcmp(h_jstr(j, "join_link"), want) == 0,
              "%s: join_link should be %s: %s", what, want, r->body);
    snprintf(want, sizeof want, "Room %s created successfully", id);
    cr_assert(h_jstr(j, "message") && strcmp(h_jstr(j, "message"), want) == 0,
              "%s: message should be '%s': %s", what, want, r->body);
    json_decref(j);
}

IT_TEST(rest, create_room_without_body, h_setup_one)
{
    http_resp r = h_http(h_node_port(0), "POST", "/create-room", NULL, NULL);
    check_created(&r, "POST /create-room with no body");
    char ct[128];
    cr_assert(http_header(&r, "Content-Type", ct, sizeof ct) && strstr(ct, "application/json"),
              "Content-Type is not JSON:\n%s", r.head);
    http_resp_free(&r);
}

IT_TEST(rest, create_room_with_empty_body, h_setup_one)
{
    http_resp r = h_http(h_node_port(0), "POST", "/create-room", NULL, "");
    check_created(&r, "POST /create-room with an empty body");
    http_resp_free(&r);
}

IT_TEST(rest, create_room_with_empty_object, h_setup_one)
{
    http_resp r = h_http(h_node_port(0), "POST", "/create-room", NULL, "{}");
    check_created(&r, "POST /create-room with {}");
    http_resp_free(&r);
}

IT_TEST(rest, create_room_ids_are_unique, h_setup_one)
{
    char ids[20][37];
    for (int i = 0; i < 20; i++) {
        h_create_room_into(h_node_port(0), NULL, ids[i]);
        for (int k = 0; k < i; k++)
            cr_assert(strcmp(ids[i], ids[k]) != 0, "room id %s handed out twice", ids[i]);
    }
}

IT_TEST(rest, create_room_options_are_stored, h_setup_one)
{
    int port = h_node_port(0);
    const char *body =
        "{\"max_participants\":3,\"empty_timeout\":60,\"departure_timeout\":5,"
        "\"metadata\":{\"title\":\"standup \\u00e9\",\"tags\":[1,\"two\"],\"n\":{\"x\":null}}}";
    char id[37];
    h_create_room_into(port, body, id);
    json_t *room = h_get_room(port, id);
    cr_assert(room, "created room %s not found", id);
    json_t *mp = json_object_get(room, "max_participants");
    cr_assert(json_is_integer(mp) && json_integer_value(mp) == 3,
              "max_participants should be 3: %s", h_jdump(room));
    json_error_t e;
    json_t *want = json_loads(
        "{\"title\":\"standup \\u00e9\",\"tags\":[1,\"two\"],\"n\":{\"x\":null}}", 0, &e);
    cr_assert(json_equal(json_object_get(room, "metadata"), want),
              "metadata not returned as given: %s", h_jdump(room));
    json_decref(want);
    json_decref(room);
}

IT_TEST(rest, create_room_ignores_unknown_fields, h_setup_one)
{
    int port = h_node_port(0);
    http_resp r = h_http(port, "POST", "/create-room", NULL,
                         "{\"colour\":\"blue\",\"max_participants\":2,\"nested\":{\"a\":[1,2]}}");
    check_created(&r, "create-room with unknown fields");
    json_t *j = http_json(&r);
    json_t *room = h_get_room(port, h_jstr(j, "room_id"));
    cr_assert(room);
    json_t *mp = json_object_get(room, "max_participants");
    cr_assert(json_is_integer(mp) && json_integer_value(mp) == 2,
              "max_participants should be 2: %s", h_jdump(room));
    json_decref(room);
    json_decref(j);
    http_resp_free(&r);
}

IT_TEST(rest, create_room_rejects_bad_bodies, h_setup_one)
{
    int port = h_node_port(0);
    static const char *const bad[] = {
        "{", /* invalid JSON */
        "{\"max_participants\":}",
        "not json",
        "[1]", /* not an object */
        "\"x\"",
        "5",
        "null",
        "{\"max_participants\":0}", /* out of range */
        "{\"max_participants\":-1}",
        "{\"max_participants\":\"2\"}", /* wrong types */
        "{\"max_participants\":true}",
        "{\"max_participants\":2.5}",
        "{\"empty_timeout\":0}",
        "{\"empty_timeout\":-5}",
        "{\"empty_timeout\":\"60\"}",
        "{\"departure_timeout\":0}",
        "{\"departure_timeout\":[]}",
        "{\"metadata\":\"x\"}",
        "{\"metadata\":[1,2]}",
        "{\"metadata\":5}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        http_resp r = h_http(port, "POST", "/create-room", NULL, bad[i]);
        char what[160];
        snprintf(what, sizeof what, "POST /create-room with body %s", bad[i]);
        h_expect_detail(&r, 422, NULL, what);
        http_resp_free(&r);
    }
    /* None of them created a room. */
    http_resp r = h_http(port, "GET", "/rooms", NULL, NULL);
    cr_assert_eq(r.status, 200);
    json_t *list = http_json(&r);
    cr_assert(json_is_array(list) && json_array_size(list) == 0,
              "refused bodies still created rooms: %s", r.body);
    json_decref(list);
    http_resp_free(&r);
}

/* A chunked body is refused (411) rather than ignored: a room must not be
 * created without the settings the client sent. */
IT_TEST(rest, create_room_chunked_body_is_411, h_setup_one)
{
    int port = h_node_port(0);
    const char *headers[] = { "Transfer-Encoding: chunked", "Content-Type: application/json",
                              NULL };
    http_resp r = h_http(port, "POST", "/create-room", headers, NULL);
    h_expect_detail(&r, 411, "Content-Length required", "POST /create-room with a chunked body");
    http_resp_free(&r);
    json_t *rooms = NULL;
    r = h_http(port, "GET", "/rooms", NULL, NULL);
    rooms = h_json_parse(r.body, r.body_len);
    cr_assert(json_is_array(rooms) && json_array_size(rooms) == 0,
              "a room was created from a request whose body was never read: %s", r.body);
    json_decref(rooms);
    http_resp_free(&r);
}

IT_TEST(rest, create_room_body_too_large_is_413, h_setup_redis)
{
    int port = h_node_port(h_node_start("node-a", "--max-message-bytes", "1024", NULL));
    char body[4200];
    memset(body, 0, sizeof body);
    strcpy(body, "{\"metadata\":{\"pad\":\"");
    size_t n = strlen(body);
    memset(body + n, 'x', 4000);
    strcpy(body + n + 4000, "\"}}");
    http_resp r = h_http(port, "POST", "/create-room", NULL, body);
    h_expect_detail(&r, 413, NULL,
                    "POST /create-room with a 4 KB body and --max-message-bytes 1024");
    http_resp_free(&r);
    /* A body under the limit still works. */
    body[n + 500] = '\0';
    strcat(body, "\"}}");
    r = h_http(port, "POST", "/create-room", NULL, body);
    check_created(&r, "POST /create-room with a 0.5 KB body");
    http_resp_free(&r);
}

/* ---- GET /rooms ---- */

static json_t *get_rooms(int port, const char *query)
{
    char path[256];
    snprintf(path, sizeof path, "/rooms%s", query ? query : "");
    http_resp r = h_http(port, "GET", path, NULL, NULL);
    cr_assert_eq(r.status, 200, "GET %s answered %d: %s", path, r.status, r.body);
    json_t *j = http_json(&r);
    cr_assert(json_is_array(j), "GET %s is not a JSON array: %s", path, r.body);
    http_resp_free(&r);
    return j;
}

static const char *item_id(json_t *list, size_t i)
{
    return h_jstr(json_array_get(list, i), "room_id");
}

IT_TEST(rest, rooms_empty_list, h_setup_one)
{
    json_t *l = get_rooms(h_node_port(0), NULL);
    cr_assert_eq(json_array_size(l), 0, "fresh cluster lists rooms: %s", h_jdump(l));
    json_decref(l);
}

IT_TEST(rest, rooms_lists_created_rooms_oldest_first, h_setup_one)
{
    int port = h_node_port(0);
    char ids[3][37];
    long long before = (long long)time(NULL) * 1000;
    for (int i = 0; i < 3; i++) {
        if (i)
            h_sleep_ms(1100); /* distinct created_at even at 1 s resolution */
        h_create_room_into(port, NULL, ids[i]);
    }
    long long after = (long long)time(NULL) * 1000 + 1000;
    json_t *l = get_rooms(port, NULL);
    cr_assert_eq(json_array_size(l), 3, "expected 3 rooms: %s", h_jdump(l));
    long long prev = 0;
    for (size_t i = 0; i < 3; i++) {
        json_t *it = json_array_get(l, i);
        cr_assert(json_is_object(it), "item is not an object: %s", h_jdump(l));
        cr_assert(item_id(l, i) && strcmp(item_id(l, i), ids[i]) == 0,
                  "rooms not ordered oldest first (item %zu should be %s): %s", i, ids[i],
                  h_jdump(l));
        json_t *c = json_object_get(it, "participant_count");
        cr_assert(json_is_integer(c) && json_integer_value(c) == 0,
                  "participant_count should be 0: %s", h_jdump(it));
        long long t = h_parse_iso8601_utc(h_jstr(it, "created_at"));
        cr_assert(t > 0, "created_at is not ISO 8601 UTC (YYYY-MM-DDTHH:MM:SS[.fff]Z): %s",
                  h_jdump(it));
        cr_assert(t >= before - 2000 && t <= after + 2000, "created_at %s is not the creation time",
                  h_jstr(it, "created_at"));
        cr_assert(t > prev, "created_at not increasing: %s", h_jdump(l));
        prev = t;
    }
    json_decref(l);
}

IT_TEST(rest, rooms_paging_with_limit_and_offset, h_setup_one)
{
    int port = h_node_port(0);
    for (int i = 0; i < 5; i++)
        h_create_room(port, NULL);
    json_t *all = get_rooms(port, NULL);
    cr_assert_eq(json_array_size(all), 5, "%s", h_jdump(all));

    struct {
        const char *q;
        size_t from, count;
    } cases[] = {
        { "?limit=2&offset=0", 0, 2 }, { "?limit=2&offset=2", 2, 2 }, { "?offset=4&limit=2", 4, 1 },
        { "?limit=2&offset=5", 5, 0 }, { "?offset=50", 5, 0 },        { "?limit=3", 0, 3 },
        { "?offset=3", 3, 2 },         { "?limit=100", 0, 5 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        json_t *page = get_rooms(port, cases[c].q);
        cr_assert_eq(json_array_size(page), cases[c].count,
                     "GET /rooms%s gave %zu items, want %zu: %s", cases[c].q, json_array_size(page),
                     cases[c].count, h_jdump(page));
        for (size_t i = 0; i < cases[c].count; i++)
            cr_assert(h_streq(item_id(page, i), item_id(all, cases[c].from + i)),
                      "GET /rooms%s item %zu is not item %zu of the full list", cases[c].q, i,
                      cases[c].from + i);
        json_decref(page);
    }
    json_decref(all);
}

IT_TEST(rest, rooms_rejects_bad_paging, h_setup_one)
{
    int port = h_node_port(0);
    static const char *const bad[] = {
        "/rooms?limit=abc",
        "/rooms?limit=-1",
        "/rooms?offset=-1",
        "/rooms?offset=x",
        "/rooms?limit=5x",
        "/rooms?offset=1.5",
        "/rooms?limit=+5",
        "/rooms?limit=%205",
        "/rooms?limit=5%20",
        "/rooms?offset=%2B1",
        "/rooms?limit=10001",
        "/rooms?limit=",
        "/rooms?limit=00000000000000000000000000000000000000000000000000000000000000099999",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        http_resp r = h_http(port, "GET", bad[i], NULL, NULL);
        h_expect_detail(&r, 422, NULL, bad[i]);
        http_resp_free(&r);
    }
    /* A long argument before them hides neither. */
    char r1[37], r2[37], path[512], filler[201];
    h_create_room_into(port, NULL, r1);
    h_create_room_into(port, NULL, r2);
    memset(filler, 'f', sizeof filler - 1);
    filler[sizeof filler - 1] = '\0';
    snprintf(path, sizeof path, "/rooms?x=%s&limit=1&offset=0", filler);
    http_resp r = h_http(port, "GET", path, NULL, NULL);
    cr_assert_eq(r.status, 200, "%s answered %d", path, r.status);
    json_t *page = http_json(&r);
    cr_assert(json_is_array(page) && json_array_size(page) == 1,
              "limit=1 after a long argument: %s", r.body);
    json_decref(page);
    http_resp_free(&r);
}

/* ---- GET /rooms/{id} ---- */

IT_TEST(rest, room_details_of_a_fresh_room, h_setup_one)
{
    int port = h_node_port(0);
    char id[37];
    long long now = (long long)time(NULL) * 1000;
    h_create_room_into(port, NULL, id);
    json_t *room = h_get_room(port, id);
    cr_assert(room, "room %s not found right after creation", id);
    cr_assert(h_jstr(room, "room_id") && strcmp(h_jstr(room, "room_id"), id) == 0, "%s",
              h_jdump(room));
    json_t *c = json_object_get(room, "participant_count");
    cr_assert(json_is_integer(c) && json_integer_value(c) == 0, "%s", h_jdump(room));
    json_t *p = json_object_get(room, "participants");
    cr_assert(json_is_array(p) && json_array_size(p) == 0, "participants should be []: %s",
              h_jdump(room));
    long long t = h_parse_iso8601_utc(h_jstr(room, "created_at"));
    cr_assert(t > 0 && t >= now - 5000 && t <= now + 5000, "created_at wrong: %s", h_jdump(room));
    json_t *max = json_object_get(room, "max_participants");
    cr_assert(json_is_integer(max) && json_integer_value(max) == 100,
              "max_participants should be the default 100: %s", h_jdump(room));
    cr_assert(json_is_null(json_object_get(room, "metadata")),
              "metadata should be null when none was given: %s", h_jdump(room));
    json_decref(room);
}

IT_TEST(rest, no_default_capacity_is_null, h_setup_redis)
{
    int port = h_node_port(h_node_start("node-a", "--max-participants", "0", NULL));
    json_t *room = h_get_room(port, h_create_room(port, NULL));
    cr_assert(room);
    cr_assert(json_is_null(json_object_get(room, "max_participants")),
              "max_participants should be null when unlimited: %s", h_jdump(room));
    json_decref(room);
}

IT_TEST(rest, room_details_unknown_or_malformed_is_404, h_setup_one)
{
    int port = h_node_port(0);
    char id[37], unknown[37], upper[37], path[160];
    h_create_room_into(port, NULL, id);
    h_random_uuid4(unknown);
    for (int i = 0; i < 37; i++)
        upper[i] = (char)((id[i] >= 'a' && id[i] <= 'f') ? id[i] - 32 : id[i]);
    char longer[40];
    snprintf(longer, sizeof longer, "%s0", id);
    const char *ids[] = { unknown, "not-a-uuid", "1234", upper, longer, "%20" };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        snprintf(path, sizeof path, "/rooms/%s", ids[i]);
        http_resp r = h_http(port, "GET", path, NULL, NULL);
        h_expect_detail(&r, 404, "Room not found", path);
        http_resp_free(&r);
    }
}

/* ---- DELETE /rooms/{id} ---- */

IT_TEST(rest, delete_room_removes_it, h_setup_one)
{
    int port = h_node_port(0);
    char id[37], keep[37], path[128];
    h_create_room_into(port, NULL, id);
    h_create_room_into(port, NULL, keep);
    snprintf(path, sizeof path, "/rooms/%s", id);
    http_resp r = h_http(port, "DELETE", path, NULL, NULL);
    cr_assert_eq(r.status, 200, "DELETE %s answered %d: %s", path, r.status, r.body);
    http_resp_free(&r);
    cr_assert_null(h_get_room(port, id), "deleted room still answers GET");
    json_t *l = get_rooms(port, NULL);
    cr_assert_eq(json_array_size(l), 1, "deleted room still listed: %s", h_jdump(l));
    cr_assert(h_streq(item_id(l, 0), keep), "the wrong room is listed: %s", h_jdump(l));
    json_decref(l);
    /* Deleting it again, or a room that never existed, is 404. */
    r = h_http(port, "DELETE", path, NULL, NULL);
    h_expect_detail(&r, 404, NULL, "DELETE of a deleted room");
    http_resp_free(&r);
    char unknown[37];
    h_random_uuid4(unknown);
    snprintf(path, sizeof path, "/rooms/%s", unknown);
    r = h_http(port, "DELETE", path, NULL, NULL);
    h_expect_detail(&r, 404, NULL, "DELETE of an unknown room");
    http_resp_free(&r);
    r = h_http(port, "DELETE", "/rooms/not-a-uuid", NULL, NULL);
    h_expect_detail(&r, 404, NULL, "DELETE of a malformed id");
    http_resp_free(&r);
    /* The other room is untouched. */
    json_t *other = h_get_room(port, keep);
    cr_assert(other, "unrelated room vanished after a DELETE");
    json_decref(other);
}

/* ---- health ---- */

IT_TEST(rest, healthz_and_readyz, h_setup_one)
{
    int port = h_node_port(0);
    http_resp r = h_http(port, "GET", "/healthz", NULL, NULL);
    cr_assert_eq(r.status, 200, "GET /healthz answered %d: %s", r.status, r.body);
    http_resp_free(&r);
    r = h_http(port, "GET", "/readyz", NULL, NULL);
    cr_assert_eq(r.status, 200, "GET /readyz answered %d: %s", r.status, r.body);
    http_resp_free(&r);
}

/* ---- routing errors ---- */

IT_TEST(rest, unknown_route_is_404, h_setup_one)
{
    int port = h_node_port(0);
    const char *paths[][2] = {
        { "GET", "/nope" },      { "GET", "/roomsx" },     { "POST", "/create-room/extra" },
        { "GET", "/rooms/a/b" }, { "DELETE", "/nothing" }, { "GET", "/ws" },
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        http_resp r = h_http(port, paths[i][0], paths[i][1], NULL, NULL);
        char what[128];
        snprintf(what, sizeof what, "%s %s", paths[i][0], paths[i][1]);
        h_expect_detail(&r, 404, "Not Found", what);
        http_resp_free(&r);
    }
}

IT_TEST(rest, wrong_method_is_405, h_setup_one)
{
    int port = h_node_port(0);
    char id[37], room_path[128];
    h_create_room_into(port, NULL, id);
    snprintf(room_path, sizeof room_path, "/rooms/%s", id);
    const char *cases[][2] = {
        { "GET", "/create-room" }, { "PUT", "/rooms" },   { "DELETE", "/rooms" },
        { "POST", "/rooms" },      { "POST", room_path }, { "PUT", room_path },
        { "POST", "/healthz" },    { "DELETE", "/" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        http_resp r = h_http(port, cases[i][0], cases[i][1], NULL, NULL);
        char what[160];
        snprintf(what, sizeof what, "%s %s", cases[i][0], cases[i][1]);
        h_expect_detail(&r, 405, "Method Not Allowed", what);
        http_resp_free(&r);
    }
    /* None of those touched the room. */
    json_t *room = h_get_room(port, id);
    cr_assert(room, "a refused request removed the room");
    json_decref(room);
}

/* ---- CORS ---- */

static void expect_acao(const http_resp *r, const char *want, const char *what)
{
    char v[256];
    const char *got = http_header(r, "Access-Control-Allow-Origin", v, sizeof v);
    if (!want) {
        cr_assert_null(got, "%s: Access-Control-Allow-Origin should be absent, is '%s'", what, v);
        return;
    }
    cr_assert(got, "%s: no Access-Control-Allow-Origin header:\n%s", what, r->head);
    cr_assert_str_eq(got, want, "%s: Access-Control-Allow-Origin is '%s', want '%s'", what, got,
                     want);
}

IT_TEST(rest, cors_header_on_every_response, h_setup_one)
{
    int port = h_node_port(0);
    const char *origin[] = { "Origin: http://app.example", NULL };
    struct {
        const char *m, *p, *body;
        int status;
    } cases[] = {
        { "GET", "/", NULL, 200 },
        { "GET", "/rooms", NULL, 200 },
        { "POST", "/create-room", "{}", 200 },
        { "POST", "/create-room", "[1]", 422 },
        { "GET", "/nope", NULL, 404 },
        { "GET", "/create-room", NULL, 405 },
        { "GET", "/rooms/not-a-uuid", NULL, 404 },
        { "GET", "/healthz", NULL, 200 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char what[128];
        snprintf(what, sizeof what, "%s %s", cases[i].m, cases[i].p);
        http_resp r = h_http(port, cases[i].m, cases[i].p, origin, cases[i].body);
        cr_assert_eq(r.status, cases[i].status, "%s answered %d: %s", what, r.status, r.body);
        expect_acao(&r, "*", what);
        http_resp_free(&r);
    }
    /* Also without an Origin header (curl, server-to-server). */
    http_resp r = h_http(port, "GET", "/rooms", NULL, NULL);
    expect_acao(&r, "*", "GET /rooms without Origin");
    http_resp_free(&r);
}

IT_TEST(rest, cors_preflight, h_setup_one)
{
    int port = h_node_port(0);
    const char *hdrs[] = { "Origin: http://app.example", "Access-Control-Request-Method: POST",
                           "Access-Control-Request-Headers: content-type", NULL };
    const char *paths[] = { "/create-room", "/rooms",
                            "/rooms/00000000-0000-4000-8000-000000000000" };
    for (size_t i = 0; i < 3; i++) {
        http_resp r = h_http(port, "OPTIONS", paths[i], hdrs, NULL);
        char what[128];
        snprintf(what, sizeof what, "OPTIONS %s", paths[i]);
        cr_assert(r.status == 204 || r.status == 200, "%s answered %d: %s", what, r.status, r.body);
        expect_acao(&r, "*", what);
        char v[256];
        cr_assert(http_header(&r, "Access-Control-Allow-Methods", v, sizeof v),
                  "%s: no Access-Control-Allow-Methods:\n%s", what, r.head);
        cr_assert(strstr(v, "POST") || strcmp(v, "*") == 0, "%s: Allow-Methods '%s' lacks POST",
                  what, v);
        cr_assert(http_header(&r, "Access-Control-Allow-Headers", v, sizeof v),
                  "%s: no Access-Control-Allow-Headers:\n%s", what, r.head);
        cr_assert(strcasestr(v, "content-type") || strcmp(v, "*") == 0,
                  "%s: Allow-Headers '%s' lacks Content-Type", what, v);
        http_resp_free(&r);
    }
}

IT_TEST(rest, cors_configured_origins, h_setup_redis)
{
    int port = h_node_port(
        h_node_start("node-a", "--cors-origins", "http://a.example,http://c.example", NULL));
    const char *a[] = { "Origin: http://a.example", NULL };
    const char *b[] = { "Origin: http://b.example", NULL };
    const char *c[] = { "Origin: http://c.example", NULL };
    http_resp r = h_http(port, "GET", "/rooms", a, NULL);
    cr_assert_eq(r.status, 200);
    expect_acao(&r, "http://a.example", "GET /rooms from an allowed origin");
    http_resp_free(&r);
    r = h_http(port, "GET", "/rooms", c, NULL);
    expect_acao(&r, "http://c.example", "GET /rooms from the second allowed origin");
    http_resp_free(&r);
    r = h_http(port, "GET", "/rooms", b, NULL);
    expect_acao(&r, NULL, "GET /rooms from a foreign origin");
    http_resp_free(&r);
    r = h_http(port, "POST", "/create-room", b, NULL);
    expect_acao(&r, NULL, "POST /create-room from a foreign origin");
    http_resp_free(&r);

    const char *pre_a[] = { "Origin: http://a.example", "Access-Control-Request-Method: POST",
                            "Access-Control-Request-Headers: content-type", NULL };
    r = h_http(port, "OPTIONS", "/create-room", pre_a, NULL);
    cr_assert(r.status == 204 || r.status == 200, "preflight from allowed origin: %d", r.status);
    expect_acao(&r, "http://a.example", "preflight from an allowed origin");
    http_resp_free(&r);
    const char *pre_b[] = { "Origin: http://b.example", "Access-Control-Request-Method: POST",
                            NULL };
    r = h_http(port, "OPTIONS", "/create-room", pre_b, NULL);
    expect_acao(&r, NULL, "preflight from a foreign origin");
    http_resp_free(&r);
}

/* ---- ICE servers and metrics ---- */

static json_t *find_turn_entry(json_t *j)
{
    if (json_is_object(j)) {
        if (json_is_string(json_object_get(j, "username"))
            && json_is_string(json_object_get(j, "credential")))
            return j;
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v)
        {
            json_t *f = find_turn_entry(v);
            if (f)
                return f;
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            json_t *f = find_turn_entry(v);
            if (f)
                return f;
        }
    }
    return NULL;
}

IT_TEST(rest, ice_servers_with_turn_credentials, h_setup_redis)
{
    int port = h_node_port(h_node_start("node-a", "--stun-urls", "stun:stun.example.org:3478",
                                        "--turn-urls", "turn:turn.example.org:3478",
                                        "--turn-secret", "s3cret-for-tests", NULL));
    http_resp r = h_http(port, "GET", "/ice-servers", NULL, NULL);
    cr_assert_eq(r.status, 200, "GET /ice-servers answered %d: %s", r.status, r.body);
    json_t *j = http_json(&r);
    cr_assert(j, "GET /ice-servers is not JSON: %s", r.body);
    cr_assert(strstr(r.body, "stun:stun.example.org:3478"), "STUN url missing: %s", r.body);
    cr_assert(strstr(r.body, "turn:turn.example.org:3478"), "TURN url missing: %s", r.body);
    json_t *turn = find_turn_entry(j);
    cr_assert(turn, "no entry with username and credential: %s", r.body);
    const char *user = h_jstr(turn, "username");
    const char *cred = h_jstr(turn, "credential");
    long long expiry = strtoll(user, NULL, 10);
    long long now = (long long)time(NULL);
    cr_assert(strchr(user, ':') || expiry > 0, "username is not 'expiry:user': %s", user);
    cr_assert(expiry > now && expiry < now + 7 * 86400LL,
              "username expiry %lld is not a near-future unix time (now %lld)", expiry, now);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    HMAC(EVP_sha1(), "s3cret-for-tests", 16, (const unsigned char *)user, strlen(user), mac,
         &maclen);
    char want[64];
    EVP_EncodeBlock((unsigned char *)want, mac, (int)maclen);
    cr_assert_str_eq(cred, want, "credential is not base64(HMAC-SHA1(secret, username)): %s",
                     r.body);
    json_decref(j);
    http_resp_free(&r);

    /* ?user_id= names the TURN user, also after a long argument. */
    char uid[37], path[512], filler[201];
    h_random_uuid4(uid);
    memset(filler, 'f', sizeof filler - 1);
    filler[sizeof filler - 1] = '\0';
    snprintf(path, sizeof path, "/ice-servers?x=%s&user_id=%s", filler, uid);
    r = h_http(port, "GET", path, NULL, NULL);
    cr_assert_eq(r.status, 200, "GET /ice-servers?x=...&user_id= answered %d", r.status);
    j = http_json(&r);
    turn = find_turn_entry(j);
    cr_assert(turn, "no entry with username and credential: %s", r.body);
    user = h_jstr(turn, "username");
    const char *named = user ? strchr(user, ':') : NULL;
    cr_assert(named && strcmp(named + 1, uid) == 0, "username %s does not name user %s", user, uid);
    json_decref(j);
    http_resp_free(&r);
}

IT_TEST(rest, metrics_in_prometheus_format, h_setup_one)
{
    int port = h_node_port(0);
    char id[37];
    h_create_room_into(port, NULL, id);
    ws_client *c = h_join(port, id, NULL);
    http_resp r = h_http(port, "GET", "/metrics", NULL, NULL);
    cr_assert_eq(r.status, 200, "GET /metrics answered %d: %s", r.status, r.body);
    char ct[128];
    cr_assert(http_header(&r, "Content-Type", ct, sizeof ct) && strstr(ct, "text/plain"),
              "metrics Content-Type is not text/plain:\n%s", r.head);
    cr_assert(strstr(r.body, "# TYPE "), "no Prometheus TYPE lines: %.500s", r.body);
    http_resp_free(&r);
    ws_close(c);
}
