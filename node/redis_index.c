/*
 * redis_index.c - the room listing index, partitioned over 16 sorted sets
 * in 16 slots (redis_slots.h, docs/design.md#keys): the listing that
 * merges them, the create that counts them against --max-rooms, and the
 * sweep that drops entries of expired rooms.
 *
 * A room's hash and its index entry live in different slots, so no script
 * reads both: each of these is a few rounds of one-slot calls, sent
 * together and answered together. A `round` counts its calls in flight;
 * when the last answer is in, the round's next step runs, once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "redis_bus.h"
#include "redis_bus_internal.h"
#include "redis_round.h"
#include "redis_slots.h"

#define SWEEP_BATCH 500
#define PRUNE_OLDEST 64       /* index entries checked at --max-rooms */
#define PRUNE_OLDEST_STR "63" /* ZRANGE 0 63: the 64 oldest of a partition */

/* ---- listing ---------------------------------------------------------------- */

typedef struct {
    round r; /* first: the job is found from its round */
    bus_list_fn fn;
    void *privdata;
    long long skip;  /* entries still to pass over (the client's offset) */
    long long count; /* entries to examine for this page */
    char after_score[40];
    char *after_id; /* NULL: from the start */
    merge_set m;
    size_t take; /* entries of m in this page */
    bool more;
} list_job;

static bool list_fetch(list_job *job);

static void list_job_free(list_job *job)
{
    merge_clear(&job->m);
    free(job->after_id);
    free(job);
}

static void list_fail(list_job *job)
{
    job->fn(NULL, job->privdata);
    list_job_free(job);
}

static void on_list_part(round *r, size_t part, const redisReply *reply)
{
    list_job *job = (list_job *)r;
    if (!merge_add(&job->m, (unsigned)part, reply))
        r->failed = true;
}

static void on_brief(round *r, size_t i, const redisReply *reply)
{
    list_job *job = (list_job *)r;
    index_entry *e = &job->m.e[i];
    if (reply->type == REDIS_REPLY_NIL) {
        /* The room expired: its entry goes (the model of one sorted set). */
        char key[BUS_KEY_MAX];
        bus_key_index(key, e->part);
        const char *argv[] = { "ZREM", key, e->id };
        bus_send(3, argv, NULL, NULL, NULL);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_INTEGER
        || !(e->created_at = strdup(reply->element[0]->str))) {
        r->failed = true;
        return;
    }
    e->members = reply->element[1]->integer;
    e->live = true;
}

static void list_briefed(round *r)
{
    list_job *job = (list_job *)r;
    if (r->failed) {
        list_fail(job);
        return;
    }
    bus_room_brief *rooms = calloc(job->take ? job->take : 1, sizeof(*rooms));
    if (!rooms) {
        list_fail(job);
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < job->take; i++) {
        const index_entry *e = &job->m.e[i];
        if (e->live)
            rooms[n++] = (bus_room_brief){ e->id, e->created_at, e->members };
    }
    const index_entry *last = &job->m.e[job->take - 1];
    bus_list_page page = { job->more, last->score_str, last->id, n, rooms };
    job->fn(&page, job->privdata);
    free(rooms);
    list_job_free(job);
}

/* What a listing shows of each entry of the page. */
static void list_brief(list_job *job)
{
    round_begin(&job->r, list_briefed);
    for (size_t i = 0; i < job->take; i++) {
        char room[BUS_KEY_MAX], members[BUS_KEY_MAX];
        bus_key_room(room, job->m.e[i].id);
        bus_key_members(members, job->m.e[i].id);
        const char *argv[] = { "EVALSHA", bus_script_sha(S_BRIEF), "2", room, members };
        round_send(&job->r, i, on_brief, 5, argv, NULL);
    }
    round_end_later(&job->r);
}

static bool list_set_anchor(list_job *job, const index_entry *e)
{
    char *id = strdup(e->id);
    if (!id)
        return false;
    free(job->after_id);
    job->after_id = id;
    snprintf(job->after_score, sizeof(job->after_score), "%s", e->score_str);
    return true;
}

static void list_fetched(round *r)
{
    list_job *job = (list_job *)r;
    if (r->failed) {
        list_fail(job);
        return;
    }
    size_t in_order = merge_sorted(&job->m);
    long long want = job->skip > 0 ? (job->skip < BUS_LIST_PAGE_MAX ? job->skip : BUS_LIST_PAGE_MAX)
                                   : job->count;
    job->take = in_order < (size_t)want ? in_order : (size_t)want;
    job->more = job->m.any_full || job->take < job->m.n;
    if (job->skip == 0 && job->take > 0) {
        list_brief(job);
        return;
    }
    /* Passing over the offset, or the index ended. */
    job->skip -= (long long)job->take;
    if (job->take && !list_set_anchor(job, &job->m.e[job->take - 1])) {
        list_fail(job);
        return;
    }
    if (!job->more) {
        bus_list_page page = { false, job->after_score, job->after_id ? job->after_id : "", 0,
                               NULL };
        job->fn(&page, job->privdata);
        list_job_free(job);
        return;
    }
    merge_clear(&job->m);
    if (!list_fetch(job))
        list_fail(job);
}

/* Ask every partition for its share: a page of n entries takes about
 * n / 16 from each when the rooms spread evenly, so each is asked for
 * twice that (and a few more), and the merge cut keeps the page exact
 * whatever the spread. */
static bool list_fetch(list_job *job)
{
    long long n = job->skip > 0 ? (job->skip < BUS_LIST_PAGE_MAX ? job->skip : BUS_LIST_PAGE_MAX)
                                : job->count;
    long long per_part = n / 8 + 8;
    job->m.per_part = per_part < n ? per_part : n;
    char count[32];
    snprintf(count, sizeof(count), "%lld", job->m.per_part);
    round_begin(&job->r, list_fetched);
    for (unsigned p = 0; p < SB_INDEX_PARTITIONS; p++) {
        char key[BUS_KEY_MAX];
        bus_key_index(key, p);
        const char *argv[] = { "EVALSHA",
                               bus_script_sha(S_LIST),
                               "1",
                               key,
                               count,
                               job->after_id ? job->after_score : "",
                               job->after_id ? job->after_id : "" };
        round_send(&job->r, p, on_list_part, 7, argv, NULL);
    }
    return round_end(&job->r);
}

int bus_room_list_page(long long start, const char *after_score, const char *after_id,
                       long long count, bus_list_fn fn, void *privdata)
{
    list_job *job = calloc(1, sizeof(*job));
    if (!job)
        return -1;
    job->fn = fn;
    job->privdata = privdata;
    job->count = count > BUS_LIST_PAGE_MAX ? BUS_LIST_PAGE_MAX : count < 1 ? 1 : count;
    if (after_id) {
        snprintf(job->after_score, sizeof(job->after_score), "%s", after_score);
        job->after_id = strdup(after_id);
        if (!job->after_id) {
            free(job);
            return -1;
        }
    } else {
        job->skip = start;
    }
    if (!list_fetch(job)) {
        list_job_free(job);
        return -1;
    }
    return 0;
}

/* ---- index entries ------------------------------------------------------------ */

int bus_index_add(const char *room_id, long long created_ms, bool only_new, bus_reply_fn fn,
                  void *privdata)
{
    char key[BUS_KEY_MAX], score[32];
    bus_key_index_of(key, room_id);
    snprintf(score, sizeof(score), "%lld", created_ms);
    const char *with_nx[] = { "ZADD", key, "NX", score, room_id };
    const char *plain[] = { "ZADD", key, score, room_id };
    return only_new ? bus_send(5, with_nx, NULL, fn, privdata)
                    : bus_send(4, plain, NULL, fn, privdata);
}

int bus_index_remove(const char *room_id)
{
    char key[BUS_KEY_MAX];
    bus_key_index_of(key, room_id);
    const char *argv[] = { "ZREM", key, room_id };
    return bus_send(3, argv, NULL, NULL, NULL);
}

/* ---- create, within --max-rooms ------------------------------------------------ */

typedef struct {
    round r; /* first: the job is found from its round */
    bus_result_fn fn;
    void *privdata;
    char room_id[SB_UUID_LEN + 1];
    char created_at[40];
    long long created_ms;
    char max[16], empty[16], departure[16];
    char *metadata;
    long long total; /* index entries counted */
    bool pruned;
    merge_set m;
} create_job;

static bool create_count(create_job *job);

static void create_done(create_job *job, int result)
{
    job->fn(result, job->privdata);
    merge_clear(&job->m);
    free(job->metadata);
    free(job);
}

static void create_written(round *r)
{
    create_done((create_job *)r, r->failed ? -1 : 1);
}

/* The room's hash, then its index entry: answered once both are in, so a
 * listing right after the answer shows the room. */
static bool create_write(create_job *job)
{
    char room[BUS_KEY_MAX], key[BUS_KEY_MAX], score[32];
    bus_key_room(room, job->room_id);
    bus_key_index_of(key, job->room_id);
    snprintf(score, sizeof(score), "%lld", job->created_ms);
    const char *create[] = { "EVALSHA",  bus_script_sha(S_CREATE), "1",
                             room,       job->created_at,          job->max,
                             job->empty, job->departure,           job->metadata };
    const char *zadd[] = { "ZADD", key, score, job->room_id };
    round_begin(&job->r, create_written);
    round_send(&job->r, 0, NULL, 9, create, NULL);
    if (!job->r.failed)
        round_send(&job->r, 1, NULL, 4, zadd, NULL);
    return round_end(&job->r);
}

/* The oldest entries are checked: rooms nobody joined expire oldest
 * first, so that is where stale entries are. */
static void on_prune_exists(round *r, size_t i, const redisReply *reply)
{
    create_job *job = (create_job *)r;
    if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 0) {
        char key[BUS_KEY_MAX];
        bus_key_index(key, job->m.e[i].part);
        const char *argv[] = { "ZREM", key, job->m.e[i].id };
        bus_send(3, argv, NULL, NULL, NULL);
    }
}

static void create_pruned(round *r)
{
    create_job *job = (create_job *)r;
    if (r->failed) {
        create_done(job, -1);
        return;
    }
    /* The ZREMs went before the count, on the same links: it sees them. */
    job->pruned = true;
    merge_clear(&job->m);
    if (!create_count(job))
        create_done(job, -1);
}

static void create_prune_ranged(round *r)
{
    create_job *job = (create_job *)r;
    if (r->failed) {
        create_done(job, -1);
        return;
    }
    size_t n = merge_sorted(&job->m);
    if (n > PRUNE_OLDEST)
        n = PRUNE_OLDEST;
    round_begin(&job->r, create_pruned);
    for (size_t i = 0; i < n; i++) {
        char room[BUS_KEY_MAX];
        bus_key_room(room, job->m.e[i].id);
        const char *argv[] = { "EXISTS", room };
        round_send(&job->r, i, on_prune_exists, 2, argv, NULL);
    }
    round_end_later(&job->r);
}

static void on_prune_range(round *r, size_t part, const redisReply *reply)
{
    if (!merge_add(&((create_job *)r)->m, (unsigned)part, reply))
        r->failed = true;
}

static void create_prune(create_job *job)
{
    job->m.per_part = PRUNE_OLDEST;
    round_begin(&job->r, create_prune_ranged);
    for (unsigned p = 0; p < SB_INDEX_PARTITIONS; p++) {
        char key[BUS_KEY_MAX];
        bus_key_index(key, p);
        const char *argv[] = { "ZRANGE", key, "0", PRUNE_OLDEST_STR, "WITHSCORES" };
        round_send(&job->r, p, on_prune_range, 5, argv, NULL);
    }
    round_end_later(&job->r);
}

static void on_count(round *r, size_t part, const redisReply *reply)
{
    (void)part;
    if (reply->type == REDIS_REPLY_INTEGER)
        ((create_job *)r)->total += reply->integer;
    else
        r->failed = true;
}

static void create_counted(round *r)
{
    create_job *job = (create_job *)r;
    if (r->failed)
        create_done(job, -1);
    else if (job->total >= bus_config()->max_rooms)
        job->pruned ? create_done(job, 0) : create_prune(job);
    else if (!create_write(job))
        create_done(job, -1);
}

/* The rooms in the index, over every partition. Two creates on two nodes
 * can both count one under the limit: the limit holds to within the
 * creates in flight at once. */
static bool create_count(create_job *job)
{
    job->total = 0;
    round_begin(&job->r, create_counted);
    for (unsigned p = 0; p < SB_INDEX_PARTITIONS; p++) {
        char key[BUS_KEY_MAX];
        bus_key_index(key, p);
        const char *argv[] = { "ZCARD", key };
        round_send(&job->r, p, on_count, 2, argv, NULL);
    }
    return round_end(&job->r);
}

int bus_room_create(const char *room_id, const char *created_at, long long created_ms,
                    const bus_room_params *p, bus_result_fn fn, void *privdata)
{
    create_job *job = calloc(1, sizeof(*job));
    if (!job || !(job->metadata = strdup(p->metadata_json))) {
        free(job);
        return -1;
    }
    job->fn = fn;
    job->privdata = privdata;
    snprintf(job->room_id, sizeof(job->room_id), "%s", room_id);
    snprintf(job->created_at, sizeof(job->created_at), "%s", created_at);
    job->created_ms = created_ms;
    snprintf(job->max, sizeof(job->max), "%d", p->max_participants);
    snprintf(job->empty, sizeof(job->empty), "%d", p->empty_timeout);
    snprintf(job->departure, sizeof(job->departure), "%d", p->departure_timeout);
    if (bus_config()->max_rooms > 0 ? create_count(job) : create_write(job))
        return 0;
    free(job->metadata);
    free(job);
    return -1;
}

/* ---- sweep ---------------------------------------------------------------------- */

/* One partition at a time, SWEEP_BATCH entries per heartbeat period: each
 * entry whose room expired is dropped. */
static struct {
    round r; /* first */
    bool busy;
    unsigned part;
    long long cursor;
    char **ids;
    bool *stale;
    size_t n;
} sweep;

static void sweep_reset_batch(void)
{
    for (size_t i = 0; i < sweep.n; i++)
        free(sweep.ids[i]);
    free(sweep.ids);
    free(sweep.stale);
    sweep.ids = NULL;
    sweep.stale = NULL;
    sweep.n = 0;
}

static void sweep_checked(round *r)
{
    size_t kept = 0, stale = 0;
    for (size_t i = 0; i < sweep.n; i++)
        stale += sweep.stale[i];
    kept = sweep.n - stale;
    if (!r->failed && stale) {
        char key[BUS_KEY_MAX];
        bus_key_index(key, sweep.part);
        const char **argv = malloc((2 + stale) * sizeof(*argv));
        if (argv) {
            size_t k = 2;
            argv[0] = "ZREM";
            argv[1] = key;
            for (size_t i = 0; i < sweep.n; i++)
                if (sweep.stale[i])
                    argv[k++] = sweep.ids[i];
            bus_send((int)k, argv, NULL, NULL, NULL);
            free(argv);
        }
    }
    if (!r->failed && sweep.n == SWEEP_BATCH) {
        sweep.cursor += (long long)kept;
    } else if (!r->failed) {
        sweep.cursor = 0;
        sweep.part = (sweep.part + 1) % SB_INDEX_PARTITIONS;
    }
    sweep_reset_batch();
    sweep.busy = false;
}

static void on_sweep_exists(round *r, size_t i, const redisReply *reply)
{
    (void)r;
    sweep.stale[i] = reply->type == REDIS_REPLY_INTEGER && reply->integer == 0;
}

static void sweep_ranged(round *r)
{
    if (r->failed) {
        sweep_checked(r);
        return;
    }
    round_begin(&sweep.r, sweep_checked);
    for (size_t i = 0; i < sweep.n; i++) {
        char room[BUS_KEY_MAX];
        bus_key_room(room, sweep.ids[i]);
        const char *argv[] = { "EXISTS", room };
        round_send(&sweep.r, i, on_sweep_exists, 2, argv, NULL);
    }
    round_end_later(&sweep.r);
}

static void on_sweep_range(round *r, size_t i, const redisReply *reply)
{
    (void)i;
    if (reply->type != REDIS_REPLY_ARRAY) {
        r->failed = true;
        return;
    }
    sweep.ids = calloc(reply->elements + 1, sizeof(*sweep.ids));
    sweep.stale = calloc(reply->elements + 1, sizeof(*sweep.stale));
    if (!sweep.ids || !sweep.stale) {
        r->failed = true;
        return;
    }
    for (size_t k = 0; k < reply->elements; k++)
        if (reply->element[k]->type == REDIS_REPLY_STRING
            && (sweep.ids[sweep.n] = strdup(reply->element[k]->str)))
            sweep.n++;
}

void bus_sweep_index_step(void)
{
    if (sweep.busy || !bus_is_ready())
        return;
    char key[BUS_KEY_MAX], from[32], to[32];
    bus_key_index(key, sweep.part);
    snprintf(from, sizeof(from), "%lld", sweep.cursor);
    snprintf(to, sizeof(to), "%lld", sweep.cursor + SWEEP_BATCH - 1);
    const char *argv[] = { "ZRANGE", key, from, to };
    round_begin(&sweep.r, sweep_ranged);
    round_send(&sweep.r, 0, on_sweep_range, 4, argv, NULL);
    sweep.busy = round_end(&sweep.r);
}
