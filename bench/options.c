/*
 * options.c - parse the command line into a bench_opts (see options.h).
 *
 * getopt_long with one table for every mode; options that do not apply to
 * the chosen mode are accepted and ignored, so a script can pass a common
 * set. Numbers are checked for range here, so the modes can trust them.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

enum {
    OPT_TARGET = 1000,
    OPT_SOURCE_IPS,
    OPT_CONCURRENCY,
    OPT_PLACEMENT,
    OPT_ROOMS,
    OPT_PARTICIPANTS,
    OPT_RATE,
    OPT_DIRECTED,
    OPT_SDP,
    OPT_DURATION,
    OPT_WARMUP,
    OPT_DRAIN,
    OPT_CLIENTS,
    OPT_ROOM_SIZE,
    OPT_CONNECTIONS,
    OPT_MIN_ROOM,
    OPT_MAX_ROOM,
    OPT_SAMPLE_ROOMS,
    OPT_HOLD,
    OPT_NODE_PID,
    OPT_WATCH_PID,
    OPT_MAX_TIME,
    OPT_SEED,
    OPT_JSON,
    OPT_QUIET,
    OPT_REQUIRE_CLEAN,
    OPT_CDF_OUT,
    OPT_RESUME,
    OPT_HELP
};

static const struct option long_options[] = {
    { "target", required_argument, NULL, OPT_TARGET },
    { "source-ips", required_argument, NULL, OPT_SOURCE_IPS },
    { "concurrency", required_argument, NULL, OPT_CONCURRENCY },
    { "placement", required_argument, NULL, OPT_PLACEMENT },
    { "rooms", required_argument, NULL, OPT_ROOMS },
    { "participants", required_argument, NULL, OPT_PARTICIPANTS },
    { "rate", required_argument, NULL, OPT_RATE },
    { "directed", required_argument, NULL, OPT_DIRECTED },
    { "sdp", required_argument, NULL, OPT_SDP },
    { "duration", required_argument, NULL, OPT_DURATION },
    { "warmup", required_argument, NULL, OPT_WARMUP },
    { "drain", required_argument, NULL, OPT_DRAIN },
    { "clients", required_argument, NULL, OPT_CLIENTS },
    { "room-size", required_argument, NULL, OPT_ROOM_SIZE },
    { "connections", required_argument, NULL, OPT_CONNECTIONS },
    { "min-room", required_argument, NULL, OPT_MIN_ROOM },
    { "max-room", required_argument, NULL, OPT_MAX_ROOM },
    { "sample-rooms", required_argument, NULL, OPT_SAMPLE_ROOMS },
    { "hold", required_argument, NULL, OPT_HOLD },
    { "node-pid", required_argument, NULL, OPT_NODE_PID },
    { "watch-pid", required_argument, NULL, OPT_WATCH_PID },
    { "max-time", required_argument, NULL, OPT_MAX_TIME },
    { "seed", required_argument, NULL, OPT_SEED },
    { "json", no_argument, NULL, OPT_JSON },
    { "quiet", no_argument, NULL, OPT_QUIET },
    { "require-clean", no_argument, NULL, OPT_REQUIRE_CLEAN },
    { "cdf-out", required_argument, NULL, OPT_CDF_OUT },
    { "resume", no_argument, NULL, OPT_RESUME },
    { "help", no_argument, NULL, OPT_HELP },
    { NULL, 0, NULL, 0 }
};

void options_usage(FILE *out)
{
    fputs(
        "usage: switchboard-bench relay|join|capacity [options]\n"
        "       switchboard-bench ports N          print N free TCP ports on 127.0.0.1\n"
        "\n"
        "connections:\n"
        "  --target HOST:PORT     node or load balancer (repeat for several; default "
        "127.0.0.1:8000)\n"
        "  --placement split|room split: participant i of room r goes to target (r+i) mod T "
        "(default);\n"
        "                         room: the whole room r goes to target r mod T\n"
        "  --source-ips N         bind client sockets round-robin to 127.0.0.2..127.0.0.(N+1)\n"
        "                         (about 28k connections per source address); 0 = kernel default\n"
        "  --concurrency K        connection attempts (and joins) in flight (default 200)\n"
        "relay: R rooms x P participants, each sending at a fixed rate\n"
        "  --rooms R --participants P   (default 100 x 2)\n"
        "  --rate MSGS            messages/s per participant (default 10)\n"
        "  --directed PCT         share of messages sent with \"to\" (default 50)\n"
        "  --sdp PCT              share of offers/answers of ~4 KiB; the rest are ~200 B ICE\n"
        "                         candidates (default 15)\n"
        "  --warmup S --duration S --drain S   (default 2, 10, 5): latency is counted for\n"
        "                         messages sent during the duration; loss after the drain\n"
        "join: C clients join rooms of P as fast as --concurrency allows\n"
        "  --clients C --room-size P    (default 1000, 4)\n"
        "capacity: N idle connections in rooms of 2..10, held, then a relay check\n"
        "  --connections N        (default 1000)\n"
        "  --min-room A --max-room B    room sizes, uniform (default 2, 10)\n"
        "  --hold S               seconds to hold them idle (default 10)\n"
        "  --sample-rooms S       rooms that exchange a round of messages afterwards (default "
        "100)\n"
        "output and limits:\n"
        "  --node-pid PID         node to read CPU of during the measurement and, in capacity, "
        "RSS\n"
        "                         (repeat; Linux /proc)\n"
        "  --watch-pid PID        another process to report CPU of (redis-server; repeat)\n"
        "  --json                 print the result as JSON on stdout (the table goes to stderr)\n"
        "  --cdf-out PREFIX       write latency distributions (ms, cumulative fraction) for plots\n"
        "                         to PREFIX.same and PREFIX.cross\n"
        "  --quiet                no progress line\n"
        "  --require-clean        exit 3 when anything was lost, duplicated, refused or timed out\n"
        "  --resume               relay: a participant whose socket ends (a node drained or\n"
        "                         killed) reconnects to the next target with its resume token;\n"
        "                         resume times, refused resumes and missed messages are reported\n"
        "  --max-time S           hard cap on the whole run (default: the mode's length + 120)\n"
        "  --seed N               random seed (default 1)\n",
        out);
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "switchboard-bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see --help)\n");
    va_end(ap);
    return 2;
}

static int parse_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static int parse_target(const char *s, bench_target *t)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= sizeof(t->host))
        return -1;
    memcpy(t->host, s, (size_t)(colon - s));
    t->host[colon - s] = '\0';
    return parse_int(colon + 1, 1, 65535, &t->port);
}

static void set_defaults(bench_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->concurrency = 200;
    o->placement = PLACE_SPLIT;
    o->rooms = 100;
    o->participants = 2;
    o->rate = 10;
    o->directed_pct = 50;
    o->sdp_pct = 15;
    o->duration = 10;
    o->warmup = 2;
    o->drain = 5;
    o->clients = 1000;
    o->room_size = 4;
    o->connections = 1000;
    o->min_room = 2;
    o->max_room = 10;
    o->sample_rooms = 100;
    o->hold = 10;
    o->seed = 1;
}

static int parse_mode(bench_opts *o, const char *name)
{
    static const struct {
        const char *name;
        bench_mode mode;
    } modes[] = {
        { "relay", MODE_RELAY },
        { "join", MODE_JOIN },
        { "capacity", MODE_CAPACITY },
        { "ports", MODE_PORTS },
    };
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        if (strcmp(name, modes[i].name) == 0) {
            o->mode = modes[i].mode;
            o->mode_name = modes[i].name;
            return 0;
        }
    }
    return -1;
}

/* One option; 0, or the exit status to return. */
static int apply_option(bench_opts *o, int c, const char *arg)
{
    int bad = 0;
    switch (c) {
    case OPT_TARGET:
        if (o->n_targets == MAX_TARGETS)
            return fail("too many --target (at most %d)", MAX_TARGETS);
        bad = parse_target(arg, &o->targets[o->n_targets++]);
        break;
    case OPT_SOURCE_IPS:
        bad = parse_int(arg, 0, MAX_SOURCE_IPS, &o->source_ips);
        break;
    case OPT_CONCURRENCY:
        bad = parse_int(arg, 1, 100000, &o->concurrency);
        break;
    case OPT_PLACEMENT:
        if (strcmp(arg, "split") == 0)
            o->placement = PLACE_SPLIT;
        else if (strcmp(arg, "room") == 0)
            o->placement = PLACE_ROOM;
        else
            bad = -1;
        break;
    case OPT_ROOMS:
        bad = parse_int(arg, 1, 1000000, &o->rooms);
        break;
    case OPT_PARTICIPANTS:
        bad = parse_int(arg, 2, 1000, &o->participants);
        break;
    case OPT_RATE:
        bad = parse_double(arg, 0.01, 100000, &o->rate);
        break;
    case OPT_DIRECTED:
        bad = parse_int(arg, 0, 100, &o->directed_pct);
        break;
    case OPT_SDP:
        bad = parse_int(arg, 0, 100, &o->sdp_pct);
        break;
    case OPT_DURATION:
        bad = parse_double(arg, 0.1, 86400, &o->duration);
        break;
    case OPT_WARMUP:
        bad = parse_double(arg, 0, 3600, &o->warmup);
        break;
    case OPT_DRAIN:
        bad = parse_double(arg, 0.1, 3600, &o->drain);
        break;
    case OPT_CLIENTS:
        bad = parse_int(arg, 1, 10000000, &o->clients);
        break;
    case OPT_ROOM_SIZE:
        bad = parse_int(arg, 1, 1000, &o->room_size);
        break;
    case OPT_CONNECTIONS:
        bad = parse_int(arg, 2, 10000000, &o->connections);
        break;
    case OPT_MIN_ROOM:
        bad = parse_int(arg, 2, 1000, &o->min_room);
        break;
    case OPT_MAX_ROOM:
        bad = parse_int(arg, 2, 1000, &o->max_room);
        break;
    case OPT_SAMPLE_ROOMS:
        bad = parse_int(arg, 0, 1000000, &o->sample_rooms);
        break;
    case OPT_HOLD:
        bad = parse_double(arg, 0, 86400, &o->hold);
        break;
    case OPT_NODE_PID: {
        int pid = 0;
        if (o->n_node_pids == MAX_NODE_PIDS)
            return fail("too many --node-pid (at most %d)", MAX_NODE_PIDS);
        bad = parse_int(arg, 1, 0x7fffffff, &pid);
        o->node_pids[o->n_node_pids++] = (pid_t)pid;
        break;
    }
    case OPT_WATCH_PID: {
        int pid = 0;
        if (o->n_watch_pids == MAX_NODE_PIDS)
            return fail("too many --watch-pid (at most %d)", MAX_NODE_PIDS);
        bad = parse_int(arg, 1, 0x7fffffff, &pid);
        o->watch_pids[o->n_watch_pids++] = (pid_t)pid;
        break;
    }
    case OPT_MAX_TIME:
        bad = parse_double(arg, 1, 86400, &o->max_time);
        break;
    case OPT_SEED: {
        int seed = 0;
        bad = parse_int(arg, 0, 0x7fffffff, &seed);
        o->seed = (unsigned)seed;
        break;
    }
    case OPT_JSON:
        o->json = true;
        break;
    case OPT_QUIET:
        o->quiet = true;
        break;
    case OPT_REQUIRE_CLEAN:
        o->require_clean = true;
        break;
    case OPT_CDF_OUT:
        o->cdf_out = arg;
        break;
    case OPT_RESUME:
        o->resume = true;
        break;
    case OPT_HELP:
        options_usage(stdout);
        return 1;
    default:
        return 2;
    }
    return bad ? fail("bad value '%s'", arg) : 0;
}

static double mode_length(const bench_opts *o)
{
    switch (o->mode) {
    case MODE_RELAY:
        return o->warmup + o->duration + o->drain;
    case MODE_CAPACITY:
        return o->hold;
    default:
        return 0;
    }
}

int options_parse(bench_opts *o, int argc, char **argv)
{
    set_defaults(o);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        options_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 1;
    }
    if (parse_mode(o, argv[1]) != 0)
        return fail("unknown mode '%s'", argv[1]);
    if (o->mode == MODE_PORTS) {
        if (argc != 3 || parse_int(argv[2], 1, 1000, &o->ports) != 0)
            return fail("ports takes one count from 1 to 1000");
        return 0;
    }
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
        int rc = apply_option(o, c == 'h' ? OPT_HELP : c, optarg);
        if (rc)
            return rc;
    }
    if (optind < argc)
        return fail("unexpected argument '%s'", argv[optind]);
    if (o->n_targets == 0) {
        snprintf(o->targets[0].host, sizeof(o->targets[0].host), "127.0.0.1");
        o->targets[0].port = 8000;
        o->n_targets = 1;
    }
    if (o->min_room > o->max_room)
        return fail("--min-room is larger than --max-room");
    if (o->max_time <= 0)
        o->max_time = mode_length(o) + 120;
    return 0;
}
