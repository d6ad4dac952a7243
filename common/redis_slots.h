/*
 * redis_slots.h - Redis Cluster's key-to-slot rule, and the partitions of
 * the room listing index.
 *
 * Owns: CRC16 (XMODEM, the variant Redis Cluster uses), the hash-tag rule
 * (only the part between the first '{' and the next '}' is hashed, when
 * that part is not empty), and the fixed set of index partitions with tags
 * chosen so that their slots spread evenly over the slot space
 * (docs/design.md#keys). Pure code: no I/O, no state.
 */
#ifndef SB_REDIS_SLOTS_H
#define SB_REDIS_SLOTS_H

#include <stddef.h>
#include <stdint.h>

#define SB_SLOT_COUNT 16384

/* Partitions of the listing index: each a sorted set in a slot of its own. */
#define SB_INDEX_PARTITIONS 16

uint16_t sb_crc16(const char *buf, size_t len);
/* The slot of a key (or shard channel) of len bytes, as CLUSTER KEYSLOT. */
unsigned sb_key_slot(const char *key, size_t len);
/* sb_key_slot of a NUL-terminated key. */
unsigned sb_key_slot_str(const char *key);

/* The partition of the index that holds a room (by its id). */
unsigned sb_index_partition(const char *room_id);
/* The hash tag (without braces) of partition i < SB_INDEX_PARTITIONS. */
const char *sb_index_partition_tag(unsigned i);

#endif
