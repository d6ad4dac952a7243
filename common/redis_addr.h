/*
 * redis_addr.h - Redis addresses: the --redis-url (sb_redis_url_parse), the
 * --redis-sentinels and --redis-cluster lists (sb_hostport_list_parse), and
 * for Sentinel the master name and the addresses sentinels send back (the
 * reply of SENTINEL get-master-addr-by-name and the +switch-master event).
 *
 * Pure functions: text in, result out, no I/O. config.c validates the
 * flags with them, node/redis_sentinel.c reads the sentinels' answers with
 * them, and the unit tests call them directly.
 */
#ifndef SB_REDIS_ADDR_H
#define SB_REDIS_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#define SB_HOST_MAX 256
#define SB_SENTINELS_MAX 16
#define SB_SENTINEL_DEFAULT_PORT 26379
#define SB_MASTER_NAME_MAX 100
#define SB_REDIS_DEFAULT_PORT 6379

typedef struct {
    char host[SB_HOST_MAX]; /* a name or an address, without IPv6 brackets */
    int port;
} sb_hostport;

/* One Redis server and how to log in to it: --redis-url, parsed. */
typedef struct {
    char host[SB_HOST_MAX];
    int port;
    char password[256]; /* empty = no AUTH */
    char username[256]; /* empty = default user */
    int db;
} sb_redis_target;

/* Seed nodes of a Redis Cluster (--redis-cluster). */
#define SB_REDIS_SEEDS_MAX 16
typedef struct {
    size_t count; /* 0 = not a cluster */
    sb_hostport addr[SB_REDIS_SEEDS_MAX];
} sb_redis_seeds;

/* "host[:port],..." with "[v6]" or "[v6]:port" for IPv6 and spaces
 * around entries allowed; a missing port is default_port. Returns the
 * number of entries (1 to max), or -1 with a one-line reason in err that
 * quotes no part of the text. */
int sb_hostport_list_parse(const char *s, int default_port, sb_hostport *out, size_t max, char *err,
                           size_t errlen);

/* A host as it may be dialled: 1 to SB_HOST_MAX-1 characters, either
 * from [A-Za-z0-9.-_] or an IPv6 address ([0-9A-Fa-f:.] with a ':',
 * then perhaps "%zone" with a zone of those name characters). */
bool sb_host_valid(const char *host, size_t len);

/* A name sentinels know a master by: 1 to SB_MASTER_NAME_MAX printable
 * characters without spaces (the +switch-master event is split on them). */
bool sb_master_name_valid(const char *name);

/* The two strings of a get-master-addr-by-name reply (not NUL-terminated)
 * into *out. 0, or -1 when they are no usable host and port. */
int sb_sentinel_addr_parse(const char *host, size_t host_len, const char *port, size_t port_len,
                           sb_hostport *out);

/* The payload of +switch-master, "<name> <old-host> <old-port> <new-host>
 * <new-port>": 1 with the new address in *out when it is about the master
 * `name`, 0 when it is about another master, -1 when malformed. */
int sb_sentinel_switch_parse(const char *msg, size_t len, const char *name, sb_hostport *out);

/* host[:port],... as sb_hostport_list_parse reads it (at most
 * SB_REDIS_SEEDS_MAX, port 6379 by default); "" is no seeds. 0 on success. */
int sb_redis_seeds_parse(const char *list, sb_redis_seeds *out, char *err, size_t errlen);

/* redis://[[user]:password@]host[:port][/db]; 0 on success, else -1 with
 * a one-line reason in err (which may be NULL) and *out untouched. The
 * user name and password may be %XX-escaped. */
int sb_redis_url_parse(const char *url, sb_redis_target *out, char *err, size_t errlen);

#endif
