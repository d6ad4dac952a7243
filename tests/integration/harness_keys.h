/*
 * harness_keys.h - the Redis key layout as the tests read it (README "How
 * it works"): the listing index is 16 sorted sets, one per partition, and
 * a test that looks at "the index" looks at all of them.
 */
#ifndef SB_HARNESS_KEYS_H
#define SB_HARNESS_KEYS_H

#include <stddef.h>

/* "sb:rooms:{<tag>}", the index partition that holds a room. */
void h_index_key(char out[64], const char *room_id);
/* "sb:rooms:{<tag>}" of partition i. */
void h_index_partition_key(char out[64], unsigned i);
/* The entries of every partition (test's Redis), in the order of one
 * sorted set: score, then the id's bytes. *ids and each id are to free
 * with h_index_free. Fails the test if Redis does not answer. */
size_t h_index_all(char ***ids);
void h_index_free(char **ids, size_t n);
/* Entries in the index, over its partitions. */
long long h_index_count(void);

#endif
