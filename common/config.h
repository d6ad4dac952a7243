/*
 * config.h - node configuration from flags and SWITCHBOARD_* variables.
 *
 * Owns: the sb_config struct, its defaults, parsing (a flag wins over its
 * variable, which wins over the default), validation, and --help. The
 * table of options lives in config.c and drives all three, so a new option
 * is one line there. See docs/design.md#configuration and the README for every option.
 */
#ifndef SB_CONFIG_H
#define SB_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "log.h"
#include "netaddr.h"
#include "redis_addr.h"

typedef struct {
    char host[256];
    int port;
    char redis_url[512];
    sb_redis_target redis; /* parsed from redis_url */
    /* Redis Sentinel: when n_sentinels > 0 the master is found through
     * them, and redis_url gives only the user, password and database. */
    char redis_sentinels[1024];
    sb_hostport sentinels[SB_SENTINELS_MAX]; /* parsed redis_sentinels */
    int n_sentinels;
    char redis_master_name[SB_MASTER_NAME_MAX + 1];
    char redis_cluster[1024]; /* host:port,... of cluster nodes; empty = one Redis */
    sb_redis_seeds cluster;   /* parsed from redis_cluster */
    char node_id[128];
    char key_prefix[64];
    char cors_origins[1024]; /* comma-separated; "*" = any */
    size_t max_message_bytes;
    char rate_limit[64]; /* as given, e.g. "50:200" */
    double rate_per_sec; /* parsed; <= 0 = unlimited */
    double rate_burst;
    int max_connections;     /* TCP connections; 0 = fd limit less a reserve */
    size_t max_queued_bytes; /* per connection, before it is dropped */
    size_t overload_backlog; /* subscriber backlog that pauses client input; 0 = never */
    int empty_timeout;       /* seconds */
    int departure_timeout;   /* seconds */
    int max_participants;    /* 0 = unlimited */
    int heartbeat_ttl;       /* seconds */
    int ping_interval;       /* s of silence before a WebSocket ping */
    int ping_timeout;        /* s more of silence before the connection is dropped */
    int resume_window;       /* s a participant whose socket was lost is held; 0 = off */
    char resume_buffer[64];  /* as given, "MESSAGES:BYTES" */
    int resume_buffer_count; /* messages of the gap kept per held participant */
    long resume_buffer_bytes;
    char stun_urls[1024];
    char turn_urls[1024];
    char turn_secret[256];
    char auth_secret[2048]; /* comma-separated HS256 secrets; empty = auth off (open mode) */
    sb_log_level log_level;
    sb_log_format log_format;

    /* Bounded anonymous cost (README, Configuration); 0 turns each off. */
    int max_rooms;            /* rooms in the cluster's index */
    char http_rate_limit[64]; /* REST requests per client address, "RATE:BURST" */
    double http_rate_per_sec; /* parsed; <= 0 = unlimited */
    double http_rate_burst;
    int max_connections_per_ip; /* WebSockets per client address */
    char trusted_proxies[1024]; /* CIDRs whose X-Forwarded-For is believed */
    sb_cidr_list trusted;       /* parsed trusted_proxies */

    /* TLS on the node's own port; both empty = plain HTTP and ws://. */
    char tls_cert[1024]; /* PEM certificate (chain) file */
    char tls_key[1024];  /* PEM private key file */
} sb_config;

/* Lookup for environment variables; tests pass their own. */
typedef const char *(*sb_getenv_fn)(const char *name);

typedef enum {
    SB_CONFIG_OK = 0,
    SB_CONFIG_HELP = 1,    /* --help was given: print help, exit 0 */
    SB_CONFIG_VERSION = 2, /* --version was given: print the version, exit 0 */
    SB_CONFIG_ERROR = -1   /* err holds a one-line reason (the caller adds any hint) */
} sb_config_result;

/* Fill *cfg from defaults, then getenv_fn (may be NULL: no environment),
 * then argv. Flags take "--name value" or "--name=value". */
sb_config_result sb_config_parse(sb_config *cfg, int argc, char **argv, sb_getenv_fn getenv_fn,
                                 char *err, size_t errlen);

void sb_config_print_help(FILE *out);

/* True when `origin` may be answered with CORS headers (exact match in the
 * comma-separated list, or the list is "*"). */
int sb_config_origin_allowed(const sb_config *cfg, const char *origin);

#endif
