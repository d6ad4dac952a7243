/*
 * test_redis_slots.c - the key-to-slot rule and the index partitions.
 *
 * Every slot below was read from a real redis-server 7.0 in cluster mode
 * (`CLUSTER KEYSLOT <key>`); the hash-tag cases are the ones the Redis
 * Cluster specification spells out.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "ids.h"
#include "redis_slots.h"

Test(redis_slots, crc16_is_xmodem)
{
    /* The check value of CRC-16/XMODEM. */
    cr_assert_eq(sb_crc16("123456789", 9), 0x31C3);
    cr_assert_eq(sb_crc16("", 0), 0);
}

static const struct {
    const char *key;
    unsigned slot;
} vectors[] = {
    { "123456789", 12739 },
    { "", 0 },
    { "a", 15495 },
    { "bar", 5061 },
    { "zap", 6469 },
    { "sb:room:{5b0c1f5e-8a0e-4d7c-9a52-3c1f0e2d4b6a}", 12345 },
    { "sb:node:{node-a}:rooms", 3099 },
};

Test(redis_slots, slots_match_cluster_keyslot)
{
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++)
        cr_assert_eq(sb_key_slot_str(vectors[i].key), vectors[i].slot, "%s: %u, want %u",
                     vectors[i].key, sb_key_slot_str(vectors[i].key), vectors[i].slot);
}

Test(redis_slots, hash_tag_rules)
{
    /* Only the tag is hashed: both keys share a slot. */
    cr_assert_eq(sb_key_slot_str("{user1000}.following"), 3443);
    cr_assert_eq(sb_key_slot_str("{user1000}.followers"), 3443);
    /* An empty first tag: the whole key is hashed. */
    cr_assert_eq(sb_key_slot_str("foo{}{bar}"), 8363);
    cr_assert_neq(sb_key_slot_str("foo{}{bar}"), sb_key_slot_str("bar"));
    cr_assert_eq(sb_key_slot_str("{}"), 15257);
    /* The tag runs from the first '{' to the next '}': "{bar". */
    cr_assert_eq(sb_key_slot_str("foo{{bar}}zap"), 4015);
    cr_assert_eq(sb_key_slot_str("foo{{bar}}zap"), sb_key_slot_str("{bar"));
    /* Only the first tag counts: "bar". */
    cr_assert_eq(sb_key_slot_str("foo{bar}{zap}"), 5061);
    cr_assert_eq(sb_key_slot_str("foo{bar}{zap}"), sb_key_slot_str("bar"));
    /* A '{' with no '}' after it: the whole key. */
    cr_assert_eq(sb_key_slot_str("{bar"), 4015);
    cr_assert_neq(sb_key_slot_str("foo{bar"), sb_key_slot_str("bar"));
}

Test(redis_slots, length_is_honoured_not_the_nul)
{
    /* A key with a NUL inside, or a prefix of a longer buffer. */
    cr_assert_eq(sb_key_slot("barXXXX", 3), 5061);
    cr_assert_eq(sb_key_slot("{bar}", 4), sb_key_slot_str("{bar"));
}

Test(redis_slots, partition_tags_spread_over_the_slots)
{
    /* Tag i sits in the i-th equal range of the slot space, so each master
     * of an evenly split cluster owns its share of the partitions. */
    unsigned range = SB_SLOT_COUNT / SB_INDEX_PARTITIONS;
    for (unsigned i = 0; i < SB_INDEX_PARTITIONS; i++) {
        const char *tag = sb_index_partition_tag(i);
        cr_assert(tag);
        unsigned slot = sb_key_slot_str(tag);
        cr_assert(slot / range == i, "tag %s: slot %u outside [%u, %u)", tag, slot, i * range,
                  (i + 1) * range);
        char key[64];
        snprintf(key, sizeof key, "sb:rooms:{%s}", tag);
        cr_assert_eq(sb_key_slot_str(key), slot);
    }
    cr_assert_null(sb_index_partition_tag(SB_INDEX_PARTITIONS));
    /* Read from CLUSTER KEYSLOT sb:rooms:{ix3}. */
    cr_assert_eq(sb_key_slot_str("sb:rooms:{ix3}"), 570);
}

Test(redis_slots, rooms_spread_over_the_partitions)
{
    enum { ROOMS = 16000 };
    unsigned count[SB_INDEX_PARTITIONS] = { 0 };
    for (int i = 0; i < ROOMS; i++) {
        char id[SB_UUID_LEN + 1];
        sb_id_generate(id);
        unsigned p = sb_index_partition(id);
        cr_assert_lt(p, SB_INDEX_PARTITIONS);
        cr_assert_eq(p, sb_index_partition(id), "the partition of a room is not stable");
        count[p]++;
    }
    /* 1000 expected per partition; 6 standard deviations is about 190. */
    for (unsigned p = 0; p < SB_INDEX_PARTITIONS; p++)
        cr_assert(count[p] > 800 && count[p] < 1200, "partition %u holds %u of %d rooms", p,
                  count[p], ROOMS);
}
