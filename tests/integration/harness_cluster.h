/*
 * harness_cluster.h - a Redis Cluster for a test: 3 masters and 3
 * replicas (redis-server --cluster-enabled yes, joined by `redis-cli
 * --cluster create ... --cluster-replicas 1`, cluster-node-timeout 2000)
 * on loopback ports of the test's own, and nodes started against it.
 *
 * Use IT_CLUSTER_TEST(suite, name) { body }: the cluster is up (every
 * node says cluster_state:ok) before the body runs, and is stopped after
 * it, as the nodes are.
 */
#ifndef SB_HARNESS_CLUSTER_H
#define SB_HARNESS_CLUSTER_H

#include "harness.h"

#define H_CLUSTER_SIZE 6 /* 3 masters, 3 replicas */

void h_setup_cluster(void);
void h_teardown_cluster(void);

#define IT_CLUSTER_TEST(suite, name) \
    static void it_body_##suite##_##name(void); \
    Test(suite, name, .init = h_setup_cluster, .fini = h_teardown_cluster, .timeout = IT_TIMEOUT) \
    { \
        it_body_##suite##_##name(); \
        h_finish(); \
    } \
    static void it_body_##suite##_##name(void)

/* Start a switchboard node on the cluster (--redis-cluster with every
 * master and replica as a seed), plus extra flags, NULL-terminated. */
int h_cluster_node_start(const char *node_id, ...) __attribute__((sentinel));
/* The port of cluster server i (0..H_CLUSTER_SIZE-1), and its pid. */
int h_cluster_port(int i);
/* One command to cluster server `port` (up to 8 arguments), as
 * h_redis_cmd. */
int h_cluster_cmd(int port, h_redis_reply *out, const char *arg0, ...) __attribute__((sentinel));
/* The ports of the current masters (up to H_CLUSTER_SIZE), from the
 * servers still running; returns how many. */
int h_cluster_masters(int ports[H_CLUSTER_SIZE]);
/* The current master of a key's slot (asked of the running servers), or
 * -1. */
int h_cluster_owner(const char *key);
/* SIGKILL the server on `port`. */
void h_cluster_kill(int port);

#endif
