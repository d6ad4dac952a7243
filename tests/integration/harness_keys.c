/*
 * harness_keys.c - the index partitions, read from the test's Redis (see
 * harness_keys.h).
 */
#include "harness.h"
#include "harness_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_slots.h"

void h_index_partition_key(char out[64], unsigned i)
{
    snprintf(out, 64, "sb:rooms:{%s}", sb_index_partition_tag(i));
}

void h_index_key(char out[64], const char *room_id)
{
    h_index_partition_key(out, sb_index_partition(room_id));
}

typedef struct {
    char *id;
    long long score;
} scored;

static int scored_cmp(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    return strcmp(x->id, y->id);
}

size_t h_index_all(char ***ids)
{
    scored *all = NULL;
    size_t n = 0;
    for (unsigned p = 0; p < SB_INDEX_PARTITIONS; p++) {
        char key[64];
        h_index_partition_key(key, p);
        h_redis_reply r;
        cr_assert_eq(h_redis_cmd(&r, "ZRANGE", key, "0", "-1", "WITHSCORES", NULL), 0);
        cr_assert_eq(r.type, '*', "ZRANGE %s: not an array", key);
        all = realloc(all, (n + r.n / 2 + 1) * sizeof(*all));
        cr_assert(all);
        for (size_t i = 0; i + 1 < r.n; i += 2) {
            all[n].id = strdup(r.elems[i] ? r.elems[i] : "");
            all[n].score = atoll(r.elems[i + 1] ? r.elems[i + 1] : "0");
            n++;
        }
        h_redis_reply_free(&r);
    }
    if (n)
        qsort(all, n, sizeof(*all), scored_cmp);
    *ids = calloc(n + 1, sizeof(**ids));
    cr_assert(*ids);
    for (size_t i = 0; i < n; i++)
        (*ids)[i] = all[i].id;
    free(all);
    return n;
}

void h_index_free(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

long long h_index_count(void)
{
    long long total = 0;
    for (unsigned p = 0; p < SB_INDEX_PARTITIONS; p++) {
        char key[64];
        h_index_partition_key(key, p);
        long long n = h_redis_int("ZCARD", key, NULL);
        cr_assert_geq(n, 0, "ZCARD %s failed", key);
        total += n;
    }
    return total;
}
