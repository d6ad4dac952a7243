/*
 * http_rooms.c - the REST routes that read or write rooms in Redis:
 * POST /create-room, GET /rooms, GET and DELETE /rooms/{id}.
 *
 * Each parks its request on a redis_bus call and answers from the reply
 * (GET /rooms on a chain of them, one page of the index each).
 * Request bodies and query strings are validated here, with 422 and a
 * detail that names the field.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "clock.h"
#include "http_parse.h"
#include "http_request.h"
#include "log.h"
#include "metrics.h"
#include "protocol.h"
#include "redis_bus.h"

#define LIST_DEFAULT_LIMIT 1000
#define LIST_MAX_LIMIT 10000
#define MAX_TIMEOUT_S (7 * 24 * 3600)
#define MAX_PARTICIPANTS_LIMIT 100000

static const sb_config *cfg;

void http_rooms_init(const sb_config *config)
{
    cfg = config;
}

static void on_create_reply(int result, void *privdata)
{
    http_request *req = privdata;
    if (!http_reply_wanted(req))
        return;
    if (result < 0) {
        http_respond_unavailable(req);
        return;
    }
    if (result == 0) {
        metrics_count_error(METRICS_TOO_MANY_ROOMS);
        sb_warn(NULL, NULL, "refused to create a room: --max-rooms %d reached", cfg->max_rooms);
        http_respond_detail(req, 429, "Too many rooms");
        return;
    }
    char link[64], message[96];
    snprintf(link, sizeof(link), "/room/%s", req->room_id);
    snprintf(message, sizeof(message), "Room %s created successfully", req->room_id);
    sb_info(req->room_id, NULL, "room created");
    http_respond_json(
        req, 200,
        json_pack("{s:s,s:s,s:s}", "room_id", req->room_id, "join_link", link, "message", message));
}

/* Read an optional whole number in [min, max] from the body. */
static const char *body_int(json_t *body, const char *name, long long min, long long max, int *out)
{
    json_t *v = json_object_get(body, name);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return "invalid";
    *out = (int)json_integer_value(v);
    return NULL;
}

void route_create_room(http_request *req)
{
    bus_room_params params = {
        .max_participants = cfg->max_participants,
        .empty_timeout = cfg->empty_timeout,
        .departure_timeout = cfg->departure_timeout,
        .metadata_json = "null",
    };
    json_t *body = NULL;
    char *metadata = NULL;
    if (req->body_len) {
        json_error_t jerr;
        body = json_loadb(req->body, req->body_len, 0, &jerr);
        if (!body) {
            http_respond_detail(req, 422, "Invalid JSON body");
            return;
        }
        if (!json_is_object(body)) {
            json_decref(body);
            http_respond_detail(req, 422, "Body must be a JSON object");
            return;
        }
        const char *bad = NULL;
        if (body_int(body, "max_participants", 1, MAX_PARTICIPANTS_LIMIT, &params.max_participants))
            bad = "max_participants must be an integer from 1 to 100000";
        else if (body_int(body, "empty_timeout", 1, MAX_TIMEOUT_S, &params.empty_timeout))
            bad = "empty_timeout must be an integer number of seconds from 1 to 604800";
        else if (body_int(body, "departure_timeout", 1, MAX_TIMEOUT_S, &params.departure_timeout))
            bad = "departure_timeout must be an integer number of seconds from 1 to 604800";
        json_t *meta = json_object_get(body, "metadata");
        if (!bad && meta && !json_is_null(meta)) {
            if (!json_is_object(meta))
                bad = "metadata must be a JSON object";
            else if (!(metadata = json_dumps(meta, JSON_COMPACT)))
                bad = "metadata could not be stored";
            else
                params.metadata_json = metadata;
        }
        if (bad) {
            json_decref(body);
            free(metadata);
            http_respond_detail(req, 422, bad);
            return;
        }
    }
    sb_id_generate(req->room_id);
    long long ms = sb_clock_wall_ms();
    char created[SB_ISO8601_SIZE];
    sb_clock_iso8601(ms, created);
    http_park(req, bus_room_create(req->room_id, created, ms, &params, on_create_reply, req));
    json_decref(body);
    free(metadata);
}

/* A listing in progress. GET /rooms is read one page of the index at a
 * time (bus_room_list_page), each page chained from the previous reply,
 * until `need` rooms are in or the index ends: one long listing never holds
 * Redis for more than a page, and the answer is the one a single read
 * would give. */
typedef struct {
    http_request *req;
    json_t *rooms;
    long long start; /* rank of the first page (the client's offset) */
    long long need;  /* rooms still wanted */
    /* Later pages start past the last entry examined (NULL: first page). */
    char after_score[32]; /* a score as Redis prints it (%.17g) */
    char *after_id;
} list_job;

static void list_job_free(list_job *job)
{
    json_decref(job->rooms);
    free(job->after_id);
    free(job);
}

static void on_list_page(const bus_list_page *page, void *privdata);

static void list_next_page(list_job *job)
{
    int rc = bus_room_list_page(job->start, job->after_score, job->after_id, job->need,
                                on_list_page, job);
    if (!http_park(job->req, rc))
        list_job_free(job);
}

/* Keep the page's last entry as the start of the next; false when out of
 * memory or not a score. */
static bool list_set_anchor(list_job *job, const char *score, const char *id)
{
    char *copy = strdup(id);
    if (!copy || strlen(score) >= sizeof(job->after_score)) {
        free(copy);
        return false;
    }
    free(job->after_id);
    job->after_id = copy;
    memcpy(job->after_score, score, strlen(score) + 1);
    return true;
}

static void on_list_page(const bus_list_page *page, void *privdata)
{
    list_job *job = privdata;
    http_request *req = job->req;
    if (!http_reply_wanted(req)) {
        list_job_free(job);
        return;
    }
    if (!page) {
        http_respond_unavailable(req);
        list_job_free(job);
        return;
    }
    for (size_t i = 0; i < page->count && job->need > 0; i++) {
        const bus_room_brief *b = &page->rooms[i];
        json_array_append_new(
            job->rooms, json_pack("{s:s,s:I,s:s}", "room_id", b->room_id, "participant_count",
                                  (json_int_t)b->participant_count, "created_at", b->created_at));
        job->need--;
    }
    if (job->need > 0 && page->more) {
        if (list_set_anchor(job, page->last_score, page->last_id)) {
            list_next_page(job);
        } else {
            http_respond_detail(req, 500, "Out of memory");
            list_job_free(job);
        }
        return;
    }
    http_respond_json(req, 200, job->rooms);
    job->rooms = NULL;
    list_job_free(job);
}

/* A query count, or def when absent; -1 when present but not valid. */
static long long query_number(struct lws *wsi, const char *name_eq, long long def, long long max)
{
    char buf[SB_HTTP_ARG_MAX];
    const char *v = lws_get_urlarg_by_name(wsi, name_eq, buf, sizeof(buf));
    return v ? sb_http_query_count(v, max) : def;
}

void route_list_rooms(http_request *req)
{
    long long limit = query_number(req->wsi, "limit=", LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT);
    long long offset = query_number(req->wsi, "offset=", 0, 1LL << 40);
    if (limit < 0 || offset < 0) {
        http_respond_detail(
            req, 422, "limit must be an integer from 0 to 10000 and offset a non-negative integer");
        return;
    }
    if (limit == 0) {
        http_respond_json(req, 200, json_array());
        return;
    }
    list_job *job = calloc(1, sizeof(*job));
    if (!job || !(job->rooms = json_array())) {
        free(job);
        http_respond_detail(req, 500, "Out of memory");
        return;
    }
    job->req = req;
    job->start = offset;
    job->need = limit;
    list_next_page(job);
}

static const char *hash_field(const redisReply *flat, const char *name)
{
    for (size_t i = 0; i + 1 < flat->elements; i += 2)
        if (flat->element[i]->type == REDIS_REPLY_STRING && strcmp(flat->element[i]->str, name) == 0
            && flat->element[i + 1]->type == REDIS_REPLY_STRING)
            return flat->element[i + 1]->str;
    return NULL;
}

static json_t *participant_json(const redisReply *user, const redisReply *value)
{
    json_error_t jerr;
    json_t *m = json_loads(value->str, 0, &jerr);
    const char *node = m ? json_string_value(json_object_get(m, "node")) : NULL;
    json_t *joined = m ? json_object_get(m, "joined_at") : NULL;
    char iso[SB_ISO8601_SIZE] = "";
    if (json_is_integer(joined))
        sb_clock_iso8601(json_integer_value(joined), iso);
    json_t *p = json_pack("{s:s,s:s?,s:s?}", "user_id", user->str, "node_id", node, "joined_at",
                          iso[0] ? iso : NULL);
    /* With auth on, members are stored with their token's profile. */
    static const char *const profile[] = { "identity", "name", "metadata" };
    for (size_t i = 0; p && m && i < sizeof(profile) / sizeof(profile[0]); i++) {
        json_t *v = json_object_get(m, profile[i]);
        if (v)
            json_object_set(p, profile[i], v);
    }
    json_decref(m);
    return p;
}

static void on_get_reply(redisReply *r, void *privdata)
{
    http_request *req = privdata;
    if (!http_reply_wanted(req))
        return;
    if (r && r->type == REDIS_REPLY_NIL) {
        http_respond_detail(req, 404, SB_ERR_ROOM_NOT_FOUND);
        return;
    }
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2
        || r->element[0]->type != REDIS_REPLY_ARRAY || r->element[1]->type != REDIS_REPLY_ARRAY) {
        http_respond_unavailable(req);
        return;
    }
    const redisReply *room = r->element[0], *members = r->element[1];
    json_t *participants = json_array();
    for (size_t i = 0; i + 1 < members->elements; i += 2)
        if (members->element[i]->type == REDIS_REPLY_STRING
            && members->element[i + 1]->type == REDIS_REPLY_STRING)
            json_array_append_new(participants,
                                  participant_json(members->element[i], members->element[i + 1]));
    const char *max = hash_field(room, "max_participants");
    const char *empty = hash_field(room, "empty_timeout");
    const char *departure = hash_field(room, "departure_timeout");
    const char *meta = hash_field(room, "metadata");
    json_error_t jerr;
    json_t *metadata = meta ? json_loads(meta, JSON_DECODE_ANY, &jerr) : NULL;
    long long max_n = max ? atoll(max) : 0;
    json_t *out = json_pack(
        "{s:s,s:I,s:s?,s:o,s:o,s:I,s:I,s:o}", "room_id", req->room_id, "participant_count",
        (json_int_t)json_array_size(participants), "created_at", hash_field(room, "created_at"),
        "max_participants", max_n > 0 ? json_integer(max_n) : json_null(), "metadata",
        metadata ? metadata : json_null(), "empty_timeout", (json_int_t)(empty ? atoll(empty) : 0),
        "departure_timeout", (json_int_t)(departure ? atoll(departure) : 0), "participants",
        participants);
    http_respond_json(req, 200, out);
}

static void on_delete_reply(redisReply *r, void *privdata)
{
    http_request *req = privdata;
    if (!http_reply_wanted(req))
        return;
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        http_respond_unavailable(req);
        return;
    }
    if (r->integer == 0) {
        http_respond_detail(req, 404, SB_ERR_ROOM_NOT_FOUND);
        return;
    }
    char message[96];
    snprintf(message, sizeof(message), "Room %s closed", req->room_id);
    sb_info(req->room_id, NULL, "room deleted over REST");
    http_respond_json(req, 200,
                      json_pack("{s:s,s:s}", "room_id", req->room_id, "message", message));
}

void route_delete_room(http_request *req)
{
    json_t *closed = json_pack("{s:s,s:s}", "type", "room-closed", "room_id", req->room_id);
    size_t plen, elen;
    char *payload = sb_json_dump_headroom(closed, 0, &plen);
    json_decref(closed);
    char *env =
        payload ? sb_envelope_encode(cfg->node_id, SB_ENV_CLOSE, NULL, payload, plen, &elen) : NULL;
    free(payload);
    if (!env) {
        http_respond_detail(req, 500, "Out of memory");
        return;
    }
    http_park(req, bus_room_delete(req->room_id, env, elen, on_delete_reply, req));
    free(env);
}

void route_get_room(http_request *req)
{
    http_park(req, bus_room_get(req->room_id, on_get_reply, req));
}
