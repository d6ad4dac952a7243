/*
 * redis_slots.c - CRC16, hash tags and the index partitions (see
 * redis_slots.h).
 */
#include <string.h>

#include "redis_slots.h"

/* CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, no reflection,
 * no final XOR, computed bit by bit: keys are short, and a table would be
 * 512 bytes of constants to get wrong. */
uint16_t sb_crc16(const char *buf, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((uint16_t)(unsigned char)buf[i] << 8);
        for (int bit = 0; bit < 8; bit++)
            crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc;
}

unsigned sb_key_slot(const char *key, size_t len)
{
    /* The tag is what lies between the first '{' and the first '}' after
     * it; "{}" (an empty tag) or a '{' without a '}' means the whole key. */
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t start = (size_t)(open - key) + 1;
        const char *close = memchr(key + start, '}', len - start);
        if (close && close > key + start)
            return sb_crc16(key + start, (size_t)(close - key) - start) & (SB_SLOT_COUNT - 1);
    }
    return sb_crc16(key, len) & (SB_SLOT_COUNT - 1);
}

unsigned sb_key_slot_str(const char *key)
{
    return sb_key_slot(key, strlen(key));
}

/* Tag i hashes into the i-th sixteenth of the slot space (checked by the
 * unit tests), so with masters owning contiguous, even ranges — what
 * `redis-cli --cluster create` does — each master holds its share of the
 * partitions. Consecutive small numbers would not: "0".."15" land in only
 * 8 of the 16 ranges, two in each. Found by taking,
 * for each range, the first "ix<n>" that falls in it. */
static const char *const partition_tags[SB_INDEX_PARTITIONS] = {
    "ix3", "ix42", "ix11", "ix20", "ix2", "ix43", "ix10", "ix21",
    "ix1", "ix40", "ix13", "ix22", "ix0", "ix41", "ix12", "ix23",
};

unsigned sb_index_partition(const char *room_id)
{
    return sb_crc16(room_id, strlen(room_id)) % SB_INDEX_PARTITIONS;
}

const char *sb_index_partition_tag(unsigned i)
{
    return i < SB_INDEX_PARTITIONS ? partition_tags[i] : NULL;
}
