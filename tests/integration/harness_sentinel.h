/*
 * harness_sentinel.h - Redis Sentinel for the integration tests: the
 * test's redis-server as master, one replica and H_SENTINELS sentinels
 * (`redis-server --sentinel`), all on loopback ports of the test's own,
 * with failover in seconds (down-after-milliseconds 1000).
 *
 * Use SENTINEL_TEST(suite, name, h_setup_sentinel) (everything running
 * and agreed) or h_setup_sentinel_later (master and replica; the
 * sentinels' ports are chosen but they start at h_sentinel_start()).
 */
#ifndef SB_IT_HARNESS_SENTINEL_H
#define SB_IT_HARNESS_SENTINEL_H

#include "harness.h"

#define H_SENTINELS 3
#define H_MASTER_NAME "sbtest"

/* IT_TEST with the sentinel teardown. */
#define SENTINEL_TEST(suite, name, setup) \
    static void it_body_##suite##_##name(void); \
    Test(suite, name, .init = setup, .fini = h_teardown_sentinel, .timeout = IT_TIMEOUT) \
    { \
        it_body_##suite##_##name(); \
        h_finish(); \
    } \
    static void it_body_##suite##_##name(void)

void h_setup_sentinel(void);
void h_setup_sentinel_later(void);
void h_teardown_sentinel(void);
/* Start the sentinels and wait (bounded) until each knows the master, the
 * replica and the other sentinels. */
void h_sentinel_start(void);
/* Start the sentinels told that the replica is the master (a mistake, or
 * a failover they have not seen through): they name it when asked. */
void h_sentinel_start_naming_replica(void);
/* "127.0.0.1:<port>,..." of the sentinels, for --redis-sentinels. */
const char *h_sentinel_list(void);
int h_sentinel_replica_port(void);
/* Start a node with --redis-sentinels and --redis-master-name (and the
 * extra flags, NULL-terminated), waiting only until it listens: its
 * readiness is the test's to check. Returns the node index. */
int h_sentinel_node_start_unready(const char *node_id, ...) __attribute__((sentinel));
/* SIGKILL the master; returns h_now_ms() just before the kill. */
long long h_sentinel_kill_master(void);
/* Run a Redis command (NULL-terminated) on the replica; 0 when it
 * answered. */
int h_replica_cmd(h_redis_reply *out, const char *arg0, ...) __attribute__((sentinel));
/* Ask the sentinels until one names the replica as master, up to
 * timeout_ms. Then the harness's Redis is the replica: h_redis_cmd goes
 * to it and teardown stops it. */
bool h_sentinel_wait_promoted(int timeout_ms);

#endif
