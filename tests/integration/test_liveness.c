/*
 * test_liveness.c - dead peers are found by WebSocket pings.
 *
 * The node runs with a one-second ping interval and timeout so the test
 * takes seconds: a client that stops reading answers no ping and must be
 * dropped (and announced as left), while one that keeps reading answers
 * every ping and must stay connected.
 */
#include <stdio.h>

#include "harness.h"

static void setup_fast_pings(void)
{
    h_setup_redis();
    h_node_start("node-a", "--ping-interval", "1", "--ping-timeout", "1", NULL);
}

IT_TEST(liveness, silent_peer_dropped_answering_peer_kept, setup_fast_pings)
{
    int port = h_node_port(0);
    char room[37], bid[64];
    ws_client *a, *b;
    h_room_of_two(port, port, room, &a, &b);
    snprintf(bid, sizeof bid, "%s", b->user_id);

    /* From here b reads nothing, so it answers no ping; a reads (and so
     * answers pings) while it waits. */
    long long start = h_now_ms();
    h_expect_user_event(a, "user-left", bid, room);
    long long took = h_now_ms() - start;
    cr_assert(took >= 1500, "b was dropped after %lld ms, before ping interval + timeout", took);
    cr_assert_eq(h_wait_room_count(port, room, 1, 3000), 1, "b is still listed in the room");

    /* a answers pings: three more intervals and it is still there. */
    h_expect_silence(a, 3500);
    cr_assert(a->pings_answered > 0, "the node never pinged the silent-then-reading client");
    h_sendf(a, "{\"type\":\"ping\"}");
    json_t *pong = ws_expect_type(a, "pong", H_MSG_TIMEOUT_MS);
    cr_assert(pong, "the client that answered pings was dropped too");
    json_decref(pong);
}
