/*
 * test_lb.c - the nodes behind HAProxy, configured by the project's own
 * scripts/haproxy-config.sh (docs/design.md#node-and-cluster): HAProxy spreads WebSocket
 * clients over the nodes (leastconn) and they relay to each other; a node
 * drained with SIGTERM hands its clients a reconnect, HAProxy takes it out
 * of rotation, and the clients come back through HAProxy on the survivor.
 */
#include "harness.h"
#include "protocol.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#define MAX_CLIENTS 8
#define SPLIT_ATTEMPTS 8
#define RECONNECT_WINDOW_MS 15000

/* Index of the node whose id is `id`, or -1. */
static int node_index(const char *id)
{
    for (int i = 0; i < 2; i++)
        if (h_streq(h_node_id(i), id))
            return i;
    return -1;
}

/* Join `room` through HAProxy and announce the newcomer to the members
 * already in the room (each must get exactly its user-joined). */
static ws_client *join_via_lb(int lb, const char *room, ws_client **members, int n_members)
{
    ws_client *c = h_join(lb, room, NULL);
    cr_assert(node_index(c->node_id) >= 0, "connected through HAProxy names an unknown node: %s",
              c->node_id);
    for (int i = 0; i < n_members; i++)
        h_expect_user_event(members[i], "user-joined", c->user_id, room);
    return c;
}

IT_TEST(lb, clients_split_across_nodes_and_relay, h_setup_two)
{
    int lb = h_haproxy_start();
    char room[37];
    h_create_room_into(lb, NULL, room);
    json_t *info = h_get_room(lb, room);
    cr_assert(info, "room created through HAProxy is unknown through HAProxy");
    json_decref(info);

    ws_client *a = join_via_lb(lb, room, NULL, 0);
    ws_client *b = NULL;
    /* leastconn sends the second live connection to the other node; retry
     * a few times in case a health check had not yet marked it up. */
    for (int attempt = 0; attempt < SPLIT_ATTEMPTS && !b; attempt++) {
        ws_client *c = join_via_lb(lb, room, &a, 1);
        if (!h_streq(c->node_id, a->node_id)) {
            b = c;
            break;
        }
        char cid[64];
        snprintf(cid, sizeof cid, "%s", c->user_id);
        ws_close(c);
        h_expect_user_event(a, "user-left", cid, room);
        h_sleep_ms(300);
    }
    cr_assert(b,
              "%d WebSocket connections through HAProxy all landed on %s, the node of the "
              "first one (balance leastconn should use the other node)",
              SPLIT_ATTEMPTS, a->node_id);

    h_sendf(a, "{\"type\":\"offer\",\"data\":{\"via\":\"haproxy\",\"from\":\"a\"}}");
    h_expect_relay(b, "offer", a, "{\"via\":\"haproxy\",\"from\":\"a\"}", NULL);
    h_sendf(b, "{\"type\":\"answer\",\"data\":{\"via\":\"haproxy\",\"from\":\"b\"}}");
    h_expect_relay(a, "answer", b, "{\"via\":\"haproxy\",\"from\":\"b\"}", NULL);
    h_sendf(b, "{\"type\":\"ice-candidate\",\"to\":\"%s\",\"data\":{\"n\":1}}", a->user_id);
    h_expect_relay(a, "ice-candidate", b, "{\"n\":1}", a->user_id);
    h_expect_silence(a, H_SILENCE_MS);
    h_expect_silence(b, 50);
    cr_assert_eq(h_wait_room_count(lb, room, 2, 3000), 2, "participant_count through HAProxy");
}

IT_TEST(lb, sigterm_moves_clients_to_the_survivor, h_setup_two)
{
    int lb = h_haproxy_start();
    char room[37];
    h_create_room_into(lb, NULL, room);

    /* Join through HAProxy until one node holds two members and the other
     * at least one. */
    ws_client *all[MAX_CLIENTS];
    int n = 0, per_node[2] = { 0, 0 };
    while (n < MAX_CLIENTS
           && !((per_node[0] >= 2 && per_node[1] >= 1) || (per_node[1] >= 2 && per_node[0] >= 1))) {
        all[n] = join_via_lb(lb, room, all, n);
        per_node[node_index(all[n]->node_id)]++;
        n++;
    }
    cr_assert((per_node[0] >= 2 && per_node[1] >= 1) || (per_node[1] >= 2 && per_node[0] >= 1),
              "%d clients through HAProxy split %d/%d over the nodes", n, per_node[0], per_node[1]);
    int victim = per_node[0] >= 2 && per_node[1] >= 1 ? 0 : 1;
    int survivor = 1 - victim;

    ws_client *gone[MAX_CLIENTS], *stay[MAX_CLIENTS];
    int n_gone = 0, n_stay = 0;
    for (int i = 0; i < n; i++) {
        if (h_streq(all[i]->node_id, h_node_id(victim)))
            gone[n_gone++] = all[i];
        else
            stay[n_stay++] = all[i];
    }
    char gone_ids[MAX_CLIENTS][64];
    for (int i = 0; i < n_gone; i++)
        snprintf(gone_ids[i], sizeof gone_ids[i], "%s", gone[i]->user_id);

    long long t0 = h_now_ms();
    h_node_signal(victim, SIGTERM);
    for (int i = 0; i < n_gone; i++) {
        json_t *j = h_recv(gone[i], "reconnect from the draining node");
        cr_assert(h_type_is(j, "reconnect"),
                  "a client of the draining node expected {\"type\":\"reconnect\"}, got %s",
                  h_jdump(j));
        json_decref(j);
        int code = ws_wait_close(gone[i], H_MSG_TIMEOUT_MS);
        cr_assert_eq(code, SB_CLOSE_RESTART, "draining node closed a client with %d, want 1012",
                     code);
    }
    int status = 0;
    long long left = t0 + H_STOP_TIMEOUT_MS - h_now_ms();
    cr_assert(h_node_wait_exit(victim, left > 0 ? (int)left : 0, &status),
              "%s did not exit within %d ms of SIGTERM", h_node_id(victim), H_STOP_TIMEOUT_MS);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s exit status 0x%x after SIGTERM",
              h_node_id(victim), status);

    /* The members on the survivor see a user-left for each of them. */
    for (int s = 0; s < n_stay; s++) {
        bool seen[MAX_CLIENTS] = { false };
        for (int k = 0; k < n_gone; k++) {
            json_t *j = h_recv(stay[s], "user-left for a client of the drained node");
            cr_assert(h_type_is(j, "user-left") && h_streq(h_jstr(j, "room_id"), room),
                      "expected user-left, got %s", h_jdump(j));
            bool known = false;
            for (int i = 0; i < n_gone; i++) {
                if (h_streq(h_jstr(j, "user_id"), gone_ids[i])) {
                    cr_assert(!seen[i], "user-left twice for %s", gone_ids[i]);
                    seen[i] = known = true;
                }
            }
            cr_assert(known, "user-left for someone not on the drained node: %s", h_jdump(j));
            json_decref(j);
        }
    }
    for (int s = 0; s < n_stay; s++)
        h_expect_silence(stay[s], s ? 50 : H_SILENCE_MS);

    /* The dropped clients reconnect through HAProxy, as a browser would
     * after "reconnect", retrying while HAProxy still tries the drained
     * node; every connection that succeeds must be on the survivor. */
    ws_client *back[MAX_CLIENTS];
    for (int i = 0; i < n_gone; i++) {
        back[i] = NULL;
        ws_drop(gone[i]);
        char err[256] = "";
        long long deadline = h_now_ms() + RECONNECT_WINDOW_MS;
        for (int attempt = 0; attempt < 200 && !back[i] && h_now_ms() < deadline; attempt++) {
            back[i] = h_join_try(lb, room, err, sizeof err);
            if (!back[i])
                h_sleep_ms(100);
        }
        cr_assert(back[i], "client %d could not reconnect through HAProxy within %d ms: %s", i,
                  RECONNECT_WINDOW_MS, err);
        cr_assert(h_streq(back[i]->node_id, h_node_id(survivor)),
                  "reconnected client landed on %s, not on the survivor %s", back[i]->node_id,
                  h_node_id(survivor));
        for (int s = 0; s < n_stay; s++)
            h_expect_user_event(stay[s], "user-joined", back[i]->user_id, room);
        for (int k = 0; k < i; k++)
            h_expect_user_event(back[k], "user-joined", back[i]->user_id, room);
    }
    cr_assert_eq(h_wait_room_count(lb, room, n_stay + n_gone, 3000), n_stay + n_gone,
                 "participant_count after the reconnects");

    /* The reconnected clients relay to each other, and to the others. */
    h_sendf(back[0], "{\"type\":\"offer\",\"to\":\"%s\",\"data\":{\"after\":\"drain\"}}",
            back[1]->user_id);
    h_expect_relay(back[1], "offer", back[0], "{\"after\":\"drain\"}", back[1]->user_id);
    h_sendf(back[1], "{\"type\":\"answer\",\"to\":\"%s\",\"data\":{\"after\":\"drain\"}}",
            back[0]->user_id);
    h_expect_relay(back[0], "answer", back[1], "{\"after\":\"drain\"}", back[0]->user_id);
    h_sendf(back[0], "{\"type\":\"join\",\"data\":{\"hello\":\"all\"}}");
    for (int i = 1; i < n_gone; i++)
        h_expect_relay(back[i], "join", back[0], "{\"hello\":\"all\"}", NULL);
    for (int s = 0; s < n_stay; s++)
        h_expect_relay(stay[s], "join", back[0], "{\"hello\":\"all\"}", NULL);
    for (int i = 0; i < n_gone; i++)
        h_expect_silence(back[i], i ? 50 : H_SILENCE_MS);
    for (int s = 0; s < n_stay; s++)
        h_expect_silence(stay[s], 50);
}
