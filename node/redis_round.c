/*
 * redis_round.c - rounds of calls and merged index partitions (see
 * redis_round.h).
 */
#include <stdlib.h>
#include <string.h>

#include "redis_bus_internal.h"
#include "redis_round.h"

/* ---- rounds of calls ------------------------------------------------------ */

typedef struct {
    round *r;
    size_t i; /* the item the call answers for */
    round_reply_fn on_reply;
} round_call;

void round_begin(round *r, void (*next)(round *))
{
    r->pending = 0;
    r->failed = false;
    r->issuing = true;
    r->sent_any = false;
    r->next = next;
}

static void on_round_reply(redisReply *reply, void *privdata)
{
    round_call *c = privdata;
    round *r = c->r;
    if (!reply || reply->type == REDIS_REPLY_ERROR)
        r->failed = true;
    else if (c->on_reply)
        c->on_reply(r, c->i, reply);
    free(c);
    if (--r->pending == 0 && !r->issuing)
        r->next(r);
}

/* Send one call of the round; argvlen may be NULL. */
void round_send(round *r, size_t i, round_reply_fn fn, int argc, const char **argv,
                const size_t *argvlen)
{
    round_call *c = malloc(sizeof(*c));
    if (c) {
        c->r = r;
        c->i = i;
        c->on_reply = fn;
    }
    if (c && bus_send(argc, argv, argvlen, on_round_reply, c) == 0) {
        r->pending++;
        r->sent_any = true;
    } else {
        r->failed = true;
        free(c);
    }
}

/* Done sending. False when nothing could be sent: then `next` does not
 * run, and the caller answers at once. */
bool round_end(round *r)
{
    r->issuing = false;
    if (!r->sent_any)
        return false;
    if (r->pending == 0)
        r->next(r);
    return true;
}

/* The end of a round after the first: a round that sent nothing goes on
 * as failed. */
void round_end_later(round *r)
{
    if (!round_end(r)) {
        r->failed = true;
        r->next(r);
    }
}

/* ---- index entries, merged ------------------------------------------------- */

/* Redis's order: score, then the id's bytes. */
static int entry_cmp(const index_entry *a, const index_entry *b)
{
    if (a->score != b->score)
        return a->score < b->score ? -1 : 1;
    return strcmp(a->id, b->id);
}

static int entry_qsort_cmp(const void *a, const void *b)
{
    return entry_cmp(a, b);
}

void merge_clear(merge_set *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->e[i].id);
        free(m->e[i].created_at);
    }
    free(m->e);
    free(m->cut.id);
    long long per_part = m->per_part;
    memset(m, 0, sizeof(*m));
    m->per_part = per_part;
}

static bool merge_push(merge_set *m, const index_entry *x)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 64;
        index_entry *e = realloc(m->e, cap * sizeof(*e));
        if (!e)
            return false;
        m->e = e;
        m->cap = cap;
    }
    m->e[m->n++] = *x;
    return true;
}

/* A partition's reply, {id, score, id, score, ...}, into the set. */
bool merge_add(merge_set *m, unsigned part, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2)
        return false;
    index_entry last = { 0 };
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *id = r->element[i], *score = r->element[i + 1];
        if (id->type != REDIS_REPLY_STRING || score->type != REDIS_REPLY_STRING
            || score->len >= sizeof(last.score_str) || !(last.id = strdup(id->str)))
            return false;
        last.score = strtod(score->str, NULL);
        memcpy(last.score_str, score->str, score->len + 1);
        last.part = part;
        if (!merge_push(m, &last)) {
            free(last.id);
            return false;
        }
    }
    if ((long long)r->elements / 2 >= m->per_part && last.id) {
        m->any_full = true;
        if (!m->cut.id || entry_cmp(&last, &m->cut) < 0) {
            free(m->cut.id);
            m->cut = last;
            m->cut.id = strdup(last.id);
            if (!m->cut.id)
                return false;
        }
    }
    return true;
}

/* Sort; the number of entries known to be in order, those up to the cut. */
size_t merge_sorted(merge_set *m)
{
    if (m->n)
        qsort(m->e, m->n, sizeof(*m->e), entry_qsort_cmp);
    size_t n = 0;
    while (n < m->n && (!m->cut.id || entry_cmp(&m->e[n], &m->cut) <= 0))
        n++;
    return n;
}
