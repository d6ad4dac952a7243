/*
 * test_ws.c - the WebSocket protocol on one node (docs/design.md#websocket): the
 * "connected" greeting, user-joined / user-left, relaying with a
 * server-set sender_id, directed messages, ping/pong, leaving with and
 * without a close frame, room details while members are present, and
 * DELETE of a room with members.
 */
#include "harness.h"

#include <string.h>
#include <time.h>

static bool array_has(const json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return true;
    }
    return false;
}

IT_TEST(ws, first_member_gets_connected, h_setup_one)
{
    int port = h_node_port(0);
    char room[37];
    h_create_room_into(port, NULL, room);
    /* h_join checks type, room_id, user_id (uuid4), message, node_id and
     * that participants is an array of strings without the joiner. */
    json_t *parts = NULL;
    ws_client *a = h_join(port, room, &parts);
    cr_assert_eq(json_array_size(parts), 0, "first member sees participants %s", h_jdump(parts));
    json_decref(parts);
    h_expect_silence(a, H_SILENCE_MS);
    ws_close(a);
}

IT_TEST(ws, connected_names_the_node, h_setup_one)
{
    int port = h_node_port(0);
    char room[37], path[64], err[256];
    h_create_room_into(port, NULL, room);
    snprintf(path, sizeof path, "/ws/%s", room);
    ws_client *c = ws_connect(port, path, 0, HTTP_TIMEOUT_MS, err, sizeof err);
    cr_assert(c, "%s", err);
    json_t *j = h_recv(c, "connected");
    cr_assert(h_jstr(j, "node_id") && strcmp(h_jstr(j, "node_id"), "node-a") == 0,
              "connected.node_id is not the node's id: %s", h_jdump(j));
    json_decref(j);
    ws_close(c);
}

IT_TEST(ws, joins_are_announced_and_listed, h_setup_one)
{
    int port = h_node_port(0);
    char room[37];
    h_create_room_into(port, NULL, room);
    ws_client *a = h_join(port, room, NULL);
    json_t *parts = NULL;
    ws_client *b = h_join(port, room, &parts);
    cr_assert(json_array_size(parts) == 1 && array_has(parts, a->user_id),
              "B should see exactly [A]: %s", h_jdump(parts));
    json_decref(parts);
    h_expect_user_event(a, "user-joined", b->user_id, room);

    ws_client *c = h_join(port, room, &parts);
    cr_assert(json_array_size(parts) == 2 && array_has(parts, a->user_id)
                  && array_has(parts, b->user_id),
              "C should see A and B: %s", h_jdump(parts));
    json_decref(parts);
    h_expect_user_event(a, "user-joined", c->user_id, room);
    h_expect_user_event(b, "user-joined", c->user_id, room);
    /* Nobody hears about themselves. */
    h_expect_silence(a, H_SILENCE_MS);
    h_expect_silence(b, 50);
    h_expect_silence(c, 50);
    cr_assert(strcmp(a->user_id, b->user_id) && strcmp(b->user_id, c->user_id)
                  && strcmp(a->user_id, c->user_id),
              "user ids are not distinct");
}

IT_TEST(ws, offer_is_relayed_to_every_other_member, h_setup_one)
{
    int port = h_node_port(0);
    char room[37];
    ws_client *a, *b;
    h_room_of_two(port, port, room, &a, &b);
    ws_client *c = h_join(port, room, NULL);
    h_expect_user_event(a, "user-joined", c->user_id, room);
    h_expect_user_event(b, "user-joined", c->user_id, room);

    const char *data =
        "{\"sdp\":\"v=0\\r\\no=- 46117317 2 IN IP4 127.0.0.1\\r\\n\",\"type\":\"offer\","
        "\"text\":\"h\\u00e9llo \\u2713\",\"n\":[1,2.5,null,true]}";
    h_sendf(a, "{\"type\":\"offer\",\"data\":%s}", data);
    h_expect_relay(b, "offer", a, data, NULL);
    h_expect_relay(c, "offer", a, data, NULL);
    /* The sender does not get its own message back, nobody gets two. */
    h_expect_silence(a, H_SILENCE_MS);
    h_expect_silence(b, 50);
    h_expect_silence(c, 50);
}

IT_TEST(ws, every_client_type_is_relayed, h_setup_one)
{
    int port = h_node_port(0);
    char room[37];
    ws_client *a, *b;
    h_room_of_two(port, port, room, &a, &b);
    const char *types[] = { "offer", "answer", "ice-candidate", "join", "chat-message", "x" };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        h_sendf(b, "{\"type\":\"%s\",\"data\":{\"i\":%zu}}", types[i], i);
        char data[32];
        snprintf(data, sizeof data, "{\"i\":%zu}", i);
        h_expect_relay(a, types[i], b, data, NULL);
    }
    /* A message whose room_id names this room is fine. */
    h_sendf(b, "{\"type\":\"answer\",\"room_id\":\"%s\",\"data\":{\"ok\":1}}", room);
    h_expect_relay(a, "answer", b, "{\"ok\":1}", NULL);
    h_expect_silence(b, H_SILENCE_MS);
}

IT_TEST(ws, sender_id_cannot_be_spoofed, h_setup_one)
{
    int port = h_node_port(0);
    char room[37];
    ws_client *a, *b;
    h_room_of_two(port, port, room, &a, &b);
    ws_client *c = h_join(port, room, NULL);
    h_expect_user_event(a, "user-joined", c->user_id, room);
    h_expect_user_event(b, "user-joined", c->user_id, room);

    /* A claims to be B, then someone made up. */
    h_sendf(a, "{\"type\":\"offer\",\"sender_id\":\"%s\",\"data\":{\"k\":1}}", b->user_id);
    h_expect_relay(c, "offer", a, "{\"k\":1}", NULL);
    h_expect_relay(b, "offer", a, "{\"k\":1}", NULL);
    h_sendf(a, "{\"type\":\"offer\",\"sender_id\":\"evil\",\"data\":{\"k\":2}}");
    h_expect_relay(c, "offer", a, "{\"k\":2}", NULL);
    h_expect_relay(b, "offer", a, "{\"k\":2}", NULL);
    h_expect_silence(a, H_SILENCE_MS);
}

/* A message that names room_id or sender_id is still relayed as the
 * client's bytes: those members are cut out and the server's put in
 * front, so numbers and escapes keep their spelling, on this node and
 * across nodes. */
static void expect_bytes(ws_client *c, const char *want)
{
    char *data = NULL;
    size_t len = 0;
    ws_event ev = ws_recv(c, H_MSG_TIMEOUT_MS, &data, &len);
    cr_assert_eq(ev, WS_TEXT, "expected a relayed message, got %s", ws_event_name(ev));
    cr_assert_str_eq(data, want, "relayed bytes differ from the client's");
    free(data);
}

IT_TEST(ws, relay_keeps_the_clients_bytes, h_setup_two)
{
    char room[37];
    ws_client *a, *b;
    h_room_of_two(h_node_port(0), h_node_port(1), room, &a, &b);
    ws_client *c = h_join(h_node_port(0), room, NULL);
    h_expect_user_event(a, "user-joined", c->user_id, room);
    h_expect_user_event(b, "user-joined", c->user_id, room);

    const char *body = "\"type\":\"offer\", \"data\":{\"n\":0.1,\"z\":-0,\"e\":1E2,"
                       "\"s\":\"\\u00e9\\/\",\"room_id\":\"nested\"}";
    h_sendf(a, "{\"room_id\":\"%s\",%s,\"sender\\u005fid\":\"%s\"}", room, body, b->user_id);
    char want[512];
    snprintf(want, sizeof want, "{\"sender_id\":\"%s\",\"room_id\":\"%s\",%s}", a->user_id, room,
             body);
    expect_bytes(b, want); /* through Redis to the other node */
    expect_bytes(c, want); /* on the same node */
    h_expect_silence(a, H_SILENCE_MS);
}

IT_TEST(ws, directed_message_reaches_only_its_target, h_setup_one)
{
    int port = h_node_port(0);
    char room[37];
    ws_client *a, *b;
    h_room_of_two(port, port, room, &a, &b);
    ws_client *c = h_join(port, room, NULL);
    h_expect_user_event(a, "user-joined", c->user_id, room);
    h_expect_user_event(b, "user-joined", c->user_id, room);

    h_sendf(a, "{\"type\":\"offer\",\"to\":\"%s\",\"data\":{\"for\":\"b\"}}", b->user_id);
    h_expect_relay(b, "offer", a, "{\"for\":\"b\"}", b->user_id);
    h_sendf(b, "{\"type\":\"answer\",\"to\":\"%s\",\"data\":{\"for\":\"a\"}}", a->user_id);
    h_expect_relay(a, "answer", b, "{\"for\":\"a\"}", a->user_id);
    h_sendf(c, "{\"type\":\"ice-candidate\",\"to\":\"%s\",\"data\":{\"candidate\":\"c1\"}}",
            a->user_id);
    h_expect_relay(a, "ice-candidate", c, "{\"candidate\":\"c1\"}", a->user_id);
    h_expect_silence(c, H_SILENCE_MS);
    h_expect_silence(a, 50);
    h_expect_silence(b, 50);
}

IT_TEST(ws, ping_is_answered_and_not_relayed, h_setup_one)
{
    int port = h_node_port(0);
    char room[37];
    ws_client *a, *b;
    h_room_of_two(port, port, room, &a, &b);
    for (int i = 0; i < 3; i++)
        h_ping_pong(a);
    h_expect_silence(b, H_SILENCE_MS);
    h_expect_silence(a, 50);
}

IT_TEST(ws, leaving_with_close_frame_is_announced, h_setup_one)
{
    int port = h_node_port(0);
    char room[37];
    ws_client *a, *b;
    h_room_of_two(port, port, room, &a, &b);
    cr_assert_eq(h_wait_room_count(port, room, 2, 3000), 2);
    char bid[64];
    snprintf(bid, sizeof bid, "%s", b->user_id);
    ws_close(b);
    h_expect_user_event(a, "user-left", bid, room);
    cr_assert_eq(h_wait_room_count(port, room, 1, 3000), 1, "participant_count did not drop to 1");
    h_expect_silence(a, H_SILENCE_MS);
}

IT_TEST(ws, vanished_client_is_announced, h_setup_one)
{
    int port = h_node_port(0);
    char room[37];
    ws_client *a, *b;
    h_room_of_two(port, port, room, &a, &b);
    ws_client *c = h_join(port, room, NULL);
    h_expect_user_event(a, "user-joined", c->user_id, room);
    h_expect_user_event(b, "user-joined", c->user_id, room);
    cr_assert_eq(h_wait_room_count(port, room, 3, 3000), 3);
    char cid[64];
    snprintf(cid, sizeof cid, "%s", c->user_id);
    ws_drop(c); /* TCP close, no close frame */
    h_expect_user_event(a, "user-left", cid, room);
    h_expect_user_event(b, "user-left", cid, room);
    cr_assert_eq(h_wait_room_count(port, room, 2, 3000), 2, "participant_count did not drop to 2");
    /* The others still talk. */
    h_sendf(a, "{\"type\":\"offer\",\"data\":{}}");
    h_expect_relay(b, "offer", a, "{}", NULL);
}

IT_TEST(ws, room_details_list_participants, h_setup_one)
{
    int port = h_node_port(0);
    char room[37];
    h_create_room_into(port, NULL, room);
    long long now = (long long)time(NULL) * 1000;
    ws_client *a = h_join(port, room, NULL);
    ws_client *b = h_join(port, room, NULL);
    h_expect_user_event(a, "user-joined", b->user_id, room);

    json_t *r = h_get_room(port, room);
    cr_assert(r);
    cr_assert_eq(json_integer_value(json_object_get(r, "participant_count")), 2, "%s", h_jdump(r));
    json_t *parts = json_object_get(r, "participants");
    cr_assert(json_is_array(parts) && json_array_size(parts) == 2, "%s", h_jdump(r));
    bool seen_a = false, seen_b = false;
    size_t i;
    json_t *p;
    json_array_foreach(parts, i, p)
    {
        const char *uid = h_jstr(p, "user_id");
        cr_assert(uid, "participant without user_id: %s", h_jdump(r));
        seen_a |= strcmp(uid, a->user_id) == 0;
        seen_b |= strcmp(uid, b->user_id) == 0;
        cr_assert(h_jstr(p, "node_id") && strcmp(h_jstr(p, "node_id"), "node-a") == 0,
                  "participant node_id should be node-a: %s", h_jdump(p));
        long long t = h_parse_iso8601_utc(h_jstr(p, "joined_at"));
        cr_assert(t > 0 && t >= now - 5000 && t <= now + 10000, "joined_at wrong: %s", h_jdump(p));
    }
    cr_assert(seen_a && seen_b, "participants do not list A and B: %s", h_jdump(r));
    json_decref(r);

    http_resp lr = h_http(port, "GET", "/rooms", NULL, NULL);
    json_t *l = http_json(&lr);
    cr_assert(json_is_array(l) && json_array_size(l) == 1, "%s", lr.body);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(l, 0), "participant_count")), 2,
                 "GET /rooms count should be 2: %s", lr.body);
    json_decref(l);
    http_resp_free(&lr);

    char bid[64];
    snprintf(bid, sizeof bid, "%s", b->user_id);
    ws_close(b);
    h_expect_user_event(a, "user-left", bid, room);
    cr_assert_eq(h_wait_room_count(port, room, 1, 3000), 1);
    r = h_get_room(port, room);
    parts = json_object_get(r, "participants");
    cr_assert(json_array_size(parts) == 1
                  && h_streq(h_jstr(json_array_get(parts, 0), "user_id"), a->user_id),
              "after B left only A should be listed: %s", h_jdump(r));
    json_decref(r);
    lr = h_http(port, "GET", "/rooms", NULL, NULL);
    l = http_json(&lr);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(l, 0), "participant_count")), 1,
                 "GET /rooms count should be 1 after a leave: %s", lr.body);
    json_decref(l);
    http_resp_free(&lr);
}

IT_TEST(ws, delete_room_closes_its_members, h_setup_one)
{
    int port = h_node_port(0);
    char room[37], other[37], path[64];
    h_create_room_into(port, NULL, room);
    h_create_room_into(port, NULL, other);
    ws_client *a = h_join(port, room, NULL);
    ws_client *b = h_join(port, room, NULL);
    h_expect_user_event(a, "user-joined", b->user_id, room);
    ws_client *o = h_join(port, other, NULL);

    snprintf(path, sizeof path, "/rooms/%s", room);
    http_resp r = h_http(port, "DELETE", path, NULL, NULL);
    cr_assert_eq(r.status, 200, "DELETE answered %d: %s", r.status, r.body);
    http_resp_free(&r);

    ws_client *members[] = { a, b };
    for (int i = 0; i < 2; i++) {
        json_t *j = h_recv(members[i], "room-closed");
        cr_assert(h_jstr(j, "type") && strcmp(h_jstr(j, "type"), "room-closed") == 0,
                  "expected room-closed, got %s", h_jdump(j));
        cr_assert(h_jstr(j, "room_id") && strcmp(h_jstr(j, "room_id"), room) == 0,
                  "room-closed without the room_id: %s", h_jdump(j));
        json_decref(j);
        int code = ws_wait_close(members[i], H_MSG_TIMEOUT_MS);
        cr_assert_eq(code, 1000, "member of a deleted room closed with %d, want 1000", code);
    }
    cr_assert_null(h_get_room(port, room), "deleted room still answers GET");
    /* Joining it now is refused; the other room is untouched. */
    snprintf(path, sizeof path, "/ws/%s", room);
    char err[256];
    ws_client *late = ws_connect(port, path, 0, HTTP_TIMEOUT_MS, err, sizeof err);
    cr_assert(late, "%s", err);
    h_expect_error(late, "Room not found");
    cr_assert_eq(ws_wait_close(late, H_MSG_TIMEOUT_MS), 4404);
    h_expect_silence(o, 50);
    h_ping_pong(o);
    cr_assert_eq(h_room_count(port, other), 1);
}

IT_TEST(ws, rejoin_after_leaving_within_departure_timeout, h_setup_one)
{
    int port = h_node_port(0);
    char room[37];
    h_create_room_into(port, NULL, room);
    ws_client *a = h_join(port, room, NULL);
    ws_close(a);
    cr_assert_eq(h_wait_room_count(port, room, 0, 3000), 0, "count should drop to 0 (room kept)");
    /* A page reload: the room is still there (default departure timeout 20 s). */
    ws_client *again = h_join(port, room, NULL);
    cr_assert_eq(h_wait_room_count(port, room, 1, 3000), 1);
    ws_close(again);
}

IT_TEST(ws, many_messages_arrive_in_order, h_setup_one)
{
    int port = h_node_port(0);
    char room[37];
    ws_client *a, *b;
    h_room_of_two(port, port, room, &a, &b);
    enum { N = 150 }; /* below the default burst of 200 */
    for (int i = 0; i < N; i++)
        h_sendf(a, "{\"type\":\"ice-candidate\",\"data\":{\"seq\":%d}}", i);
    for (int i = 0; i < N; i++) {
        json_t *j = h_recv(b, "the next candidate");
        json_t *seq = json_object_get(json_object_get(j, "data"), "seq");
        cr_assert(json_is_integer(seq) && json_integer_value(seq) == i,
                  "message %d out of order or lost: %s", i, h_jdump(j));
        json_decref(j);
    }
    h_expect_silence(b, H_SILENCE_MS);
}

IT_TEST(ws, fragmented_message_is_reassembled, h_setup_one)
{
    int port = h_node_port(0);
    char room[37];
    ws_client *a, *b;
    h_room_of_two(port, port, room, &a, &b);
    char msg[4096];
    char pad[3001];
    memset(pad, 'p', 3000);
    pad[3000] = '\0';
    int n = snprintf(msg, sizeof msg, "{\"type\":\"offer\",\"data\":{\"sdp\":\"%s\"}}", pad);
    cr_assert_eq(ws_send_fragmented(a, msg, (size_t)n, 700), 0);
    char data[3100];
    snprintf(data, sizeof data, "{\"sdp\":\"%s\"}", pad);
    h_expect_relay(b, "offer", a, data, NULL);
    h_expect_silence(a, H_SILENCE_MS);
    /* A ping split in two frames works too. */
    cr_assert_eq(ws_send_fragmented(a, "{\"type\":\"ping\"}", 15, 8), 0);
    json_t *j = h_recv(a, "pong");
    cr_assert(h_type_is(j, "pong"), "expected pong after a fragmented ping: %s", h_jdump(j));
    json_decref(j);
}

/* Members who join one room on one node at the same moment are all local,
 * whichever of a join's reply and the other's own join announcement
 * (two Redis connections) comes first: a broadcast among them reaches them
 * here and is not published for other nodes. */
IT_TEST(ws, simultaneous_local_joins_publish_nothing, h_setup_one)
{
    int port = h_node_port(0);
    enum { ROOMS = 40 };
    char rooms[ROOMS][37];
    ws_client *a[ROOMS], *b[ROOMS];
    char path[64], err[256];
    for (int r = 0; r < ROOMS; r++)
        h_create_room_into(port, NULL, rooms[r]);
    /* Both sockets of a room open before either join is answered. */
    for (int r = 0; r < ROOMS; r++) {
        snprintf(path, sizeof path, "/ws/%s", rooms[r]);
        a[r] = ws_connect(port, path, 0, HTTP_TIMEOUT_MS, err, sizeof err);
        cr_assert(a[r], "%s", err);
        b[r] = ws_connect(port, path, 0, HTTP_TIMEOUT_MS, err, sizeof err);
        cr_assert(b[r], "%s", err);
    }
    for (int r = 0; r < ROOMS; r++) {
        json_t *j = ws_expect_type(a[r], "connected", H_MSG_TIMEOUT_MS);
        cr_assert(j, "room %d: A never got connected", r);
        json_decref(j);
        j = ws_expect_type(b[r], "connected", H_MSG_TIMEOUT_MS);
        cr_assert(j, "room %d: B never got connected", r);
        json_decref(j);
    }
    cr_assert_eq(h_wait_room_count(port, rooms[ROOMS - 1], 2, 3000), 2);
    long long before = h_metric(port, "switchboard_relay_published_total ");
    cr_assert_geq(before, 0, "switchboard_relay_published_total missing");
    for (int r = 0; r < ROOMS; r++)
        h_sendf(a[r], "{\"type\":\"offer\",\"data\":{\"room\":%d}}", r);
    for (int r = 0; r < ROOMS; r++) {
        json_t *j = ws_expect_type(b[r], "offer", H_MSG_TIMEOUT_MS);
        cr_assert(j, "room %d: B never got A's offer", r);
        cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "data"), "room")), r);
        json_decref(j);
    }
    long long published = h_metric(port, "switchboard_relay_published_total ") - before;
    cr_assert_eq(published, 0, "%lld of %d broadcasts among local members were published",
                 published, ROOMS);
}
