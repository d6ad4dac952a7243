/*
 * redis_round.h - requests of several one-slot Redis calls (the listing,
 * the room limit, the sweep, the reaper): a `round` sends calls together
 * and runs its next step once, when the last answer is in; a merge set
 * puts entries read from several index partitions back in the order of
 * one sorted set (docs/design.md#keys).
 */
#ifndef SB_REDIS_ROUND_H
#define SB_REDIS_ROUND_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

typedef struct round round;
/* An answer (never NULL nor an error: those mark the round failed). */
typedef void (*round_reply_fn)(round *r, size_t i, const redisReply *reply);
struct round {
    unsigned pending;
    bool failed;  /* a call could not be sent, failed, or its link dropped */
    bool issuing; /* still sending: the last answer waits for round_end */
    bool sent_any;
    void (*next)(round *r);
};

void round_begin(round *r, void (*next)(round *));
/* One call of the round, answering for item i; argvlen may be NULL. */
void round_send(round *r, size_t i, round_reply_fn fn, int argc, const char **argv,
                const size_t *argvlen);
/* Done sending. False when nothing could be sent: `next` does not run,
 * and the caller answers at once. True: `next` has run or will. */
bool round_end(round *r);
/* For a round after the first: one that sent nothing goes on as failed. */
void round_end_later(round *r);

typedef struct {
    char *id;
    double score;
    char score_str[40]; /* as Redis printed it */
    unsigned part;
    bool live;
    char *created_at;
    long long members;
} index_entry;

/* Entries read from several partitions, each read at most `per_part`
 * long. A partition that filled its read may hold more past its last
 * entry, so the merge is complete only up to the smallest such last
 * entry, the cut. */
typedef struct {
    index_entry *e;
    size_t n, cap;
    long long per_part;
    bool any_full;
    index_entry cut; /* id NULL: no cut */
} merge_set;

void merge_clear(merge_set *m);
/* A partition's {id, score, id, score, ...} into the set; false when it
 * is not that shape or memory ran out. */
bool merge_add(merge_set *m, unsigned part, const redisReply *r);
/* Sort in Redis's order (score, then the id's bytes); the number of
 * entries known to be in order, those up to the cut. */
size_t merge_sorted(merge_set *m);

#endif
