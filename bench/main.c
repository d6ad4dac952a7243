/*
 * main.c - switchboard-bench: a load generator for Switchboard.
 *
 * One process, one libevent loop, many WebSocket client connections
 * (libwebsockets as a foreign loop, the same design as the node), so the
 * generator's cost per connection and per message stays small and visible:
 * every report ends with the generator's own CPU time.
 *
 *   relay     R rooms x P participants exchanging signaling at a set rate:
 *             delivery rate, end-to-end latency (same node and across
 *             nodes), loss, duplicates, reordering
 *   join      C clients joining rooms as fast as allowed: joins/s, time to
 *             `connected`, time until the others see `user-joined`
 *   capacity  N idle connections held, then a relay check; the node's RSS
 *             per connection and CPU while idle
 *   ports     N free loopback ports, for scripts that start nodes
 */
#include <stdio.h>

#include "modes.h"
#include "options.h"
#include "runner.h"
#include "sysinfo.h"

int main(int argc, char **argv)
{
    bench_opts o;
    int rc = options_parse(&o, argc, argv);
    if (rc == 1)
        return 0;
    if (rc != 0)
        return rc;
    switch (o.mode) {
    case MODE_PORTS:
        return print_free_ports(o.ports);
    case MODE_RELAY:
        return runner_run(&o, &mode_relay);
    case MODE_JOIN:
        return runner_run(&o, &mode_join);
    case MODE_CAPACITY:
        return runner_run(&o, &mode_capacity);
    }
    return 2;
}
