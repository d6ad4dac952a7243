/*
 * http_request.c - a REST request's life (see http_request.h): framing,
 * body, answer, parking, and the connection's input in between.
 *
 * Every answer is JSON built with jansson and serialized once into the
 * request's response buffer; the writeable callback sends the headers and
 * then the body in slices of WRITE_SLICE bytes, one slice per callback, so
 * a long room listing never blocks the loop or piles up inside lws.
 *
 * One request at a time: lws 4.1.6 itself parses no pipelined request
 * before the current one's transaction is completed (after its answer is
 * written), but while a request waits for Redis it would keep reading the
 * socket: for a request with a body each read lands in its buffer and
 * calls LWS_CALLBACK_HTTP_BODY_COMPLETION again, for one without, a
 * pending read wakes the loop for nothing. The input is therefore paused
 * while a request is parked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"
#include "http_request.h"
#include "log.h"
#include "metrics.h"
#include "protocol.h"

/* Pipelined requests with a body, paths as sent, and 414/431 at the header
 * limit need the patches scripts/setup.sh applies to libwebsockets. */
#if !defined(LWS_HTTP_PIPELINED_BODY_OK) || !defined(LWS_HTTP_VERBATIM_PATH)
#error "libwebsockets lacks scripts/lws-patches: build it with scripts/setup.sh"
#endif

#define WRITE_SLICE 16384
#define LENGTH_LIST_MAX 128

static const sb_config *cfg;

void http_requests_init(const sb_config *config)
{
    cfg = config;
}

static void free_request(http_request *req)
{
    free(req->body);
    free(req->resp);
    free(req);
}

/* Forget the finished request so a keep-alive connection can carry the next. */
static void request_reset(http_request *req)
{
    free(req->body);
    free(req->resp);
    struct lws *wsi = req->wsi;
    memset(req, 0, sizeof(*req));
    req->wsi = wsi;
}

/* The request waits for Redis: read nothing more from the connection
 * meanwhile. (Not while the answer is written: lws 4.1.6 delivers no
 * writeable callback to a paused HTTP connection.) */
static void pause_input(http_request *req)
{
    if (req->input_paused || !req->wsi)
        return;
    lws_rx_flow_control(req->wsi, 0);
    req->input_paused = true;
}

static void resume_input(http_request *req)
{
    if (!req->input_paused || !req->wsi)
        return;
    lws_rx_flow_control(req->wsi, 1);
    req->input_paused = false;
}

/* ---- answers ------------------------------------------------------------------------------- */

void http_respond_raw(http_request *req, int status, const char *content_type, char *body,
                      size_t len)
{
    free(req->resp);
    req->resp = body;
    req->resp_len = body ? len : 0;
    req->content_type = content_type;
    req->status = status;
    req->responded = true;
    req->expects_body = false;
    resume_input(req);
    if (req->wsi)
        lws_callback_on_writable(req->wsi);
}

void http_respond_json(http_request *req, int status, json_t *body)
{
    char *text = NULL;
    size_t len = 0;
    if (body) {
        text = sb_json_dump_headroom(body, 0, &len);
        json_decref(body);
        if (!text)
            status = 500;
    }
    http_respond_raw(req, status, NULL, text, len);
}

void http_respond_detail(http_request *req, int status, const char *detail)
{
    http_respond_json(req, status, json_pack("{s:s}", "detail", detail));
}

void http_respond_unavailable(http_request *req)
{
    http_respond_detail(req, 503, "Redis unavailable");
}

/* Common preamble of every Redis reply: the request may be orphaned. */
bool http_reply_wanted(http_request *req)
{
    req->waiting = false;
    if (req->wsi)
        return true;
    free_request(req);
    return false;
}

bool http_park(http_request *req, int rc)
{
    if (rc != 0) {
        http_respond_unavailable(req);
        return false;
    }
    req->waiting = true;
    pause_input(req);
    return true;
}

/* ---- framing ------------------------------------------------------------------------------- */

/* Whether header h was sent at all, even empty (lws_hdr_total_length
 * cannot tell an empty value from no header). */
static bool header_present(struct lws *wsi, enum lws_token_indexes h)
{
    char c[1];
    return lws_hdr_total_length(wsi, h) > 0 || lws_hdr_copy_fragment(wsi, c, sizeof(c), h, 0) >= 0;
}

/* Every Content-Length value joined with ','; lws keeps a repeated header
 * as one fragment per occurrence. False when they do not fit. */
static bool content_length_list(struct lws *wsi, char *out, size_t size, size_t *len)
{
    size_t n = 0;
    for (int i = 0;; i++) {
        int flen = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, i);
        if (flen < 0 || n + (size_t)flen + 2 > size)
            return false;
        if (i)
            out[n++] = ',';
        int got =
            lws_hdr_copy_fragment(wsi, out + n, (int)(size - n), WSI_TOKEN_HTTP_CONTENT_LENGTH, i);
        if (got < 0) {
            if (i == 0)
                return false;
            n--; /* no fragment i: drop its comma */
            break;
        }
        n += (size_t)got;
    }
    *len = n;
    return true;
}

/* Check how the request says its body is framed. Returns 0 and the body
 * length (0: none), or the status of the refusal with its detail. */
static int check_framing(struct lws *wsi, uint64_t *length, const char **detail)
{
    bool chunked = header_present(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING);
    *length = 0;
    if (!header_present(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH)) {
        /* lws does not decode a chunked request body: refuse it rather
         * than act on a request whose body we never saw. */
        *detail = "Content-Length required";
        return chunked ? 411 : 0;
    }
    if (chunked) {
        *detail = SB_HTTP_ERR_LENGTH_AND_CHUNKED;
        return 400;
    }
    char list[LENGTH_LIST_MAX];
    size_t len;
    sb_cl_result r = SB_CL_INVALID;
    if (content_length_list(wsi, list, sizeof(list), &len))
        r = sb_http_content_length(list, len, length);
    if (r != SB_CL_OK) {
        *detail = r == SB_CL_CONFLICT ? SB_HTTP_ERR_CONFLICTING_LENGTH : SB_HTTP_ERR_BAD_LENGTH;
        return 400;
    }
    if (*length > cfg->max_message_bytes) {
        *detail = "Request body too large";
        return 413;
    }
    return 0;
}

/* ---- the lws side -------------------------------------------------------------------------- */

http_request *http_request_begin(struct lws *wsi, http_request **slot)
{
    http_request *req = *slot;
    if (!req) {
        req = calloc(1, sizeof(*req));
        if (!req)
            return NULL;
        *slot = req;
    }
    request_reset(req);
    req->wsi = wsi;
    metrics.http_requests++;
    char *uri = NULL;
    int uri_len = -1;
    req->method = lws_http_get_uri_and_method(wsi, &uri, &uri_len);
    if (lws_hdr_copy(wsi, req->origin, sizeof(req->origin), WSI_TOKEN_ORIGIN) < 0)
        req->origin[0] = '\0';

    uint64_t length;
    const char *detail = NULL;
    int refusal = check_framing(wsi, &length, &detail);
    if (refusal) {
        /* The body's end is unknown or it stays unread: whatever follows
         * on this connection cannot be taken for a next request. */
        req->close_after = true;
        http_respond_detail(req, refusal, detail);
        return req;
    }
    /* lws reads a POST, PUT or PATCH without Content-Length as a body up
     * to the end of the connection: answer it, then close. */
    if ((req->method == LWSHUMETH_POST || req->method == LWSHUMETH_PUT
         || req->method == LWSHUMETH_PATCH)
        && !header_present(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH))
        req->close_after = true;
    if (uri_len < 0 || uri_len >= (int)sizeof(req->path)) {
        req->close_after = true;
        http_respond_detail(req, 414, "URI too long");
        return req;
    }
    memcpy(req->path, uri, (size_t)uri_len);
    req->path[uri_len] = '\0';
    req->path_len = (size_t)uri_len;
    req->expects_body = length > 0;
    return req;
}

int http_request_body(http_request *req, const void *in, size_t len)
{
    if (!req || !req->expects_body || !len)
        return 0;
    if (req->body_len + len > cfg->max_message_bytes) {
        req->close_after = true;
        free(req->body);
        req->body = NULL;
        req->body_len = 0;
        http_respond_detail(req, 413, "Request body too large");
        return 0;
    }
    char *body = realloc(req->body, req->body_len + len + 1);
    if (!body)
        return -1;
    memcpy(body + req->body_len, in, len);
    req->body = body;
    req->body_len += len;
    return 0;
}

bool http_request_body_done(http_request *req)
{
    if (!req || !req->expects_body)
        return false;
    req->expects_body = false;
    return !req->responded && !req->waiting;
}

static int add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p,
                      unsigned char *end)
{
    return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                       (const unsigned char *)value, (int)strlen(value), p, end);
}

static int add_cors_headers(struct lws *wsi, const http_request *req, unsigned char **p,
                            unsigned char *end)
{
    if (strcmp(cfg->cors_origins, "*") == 0)
        return add_header(wsi, "access-control-allow-origin:", "*", p, end);
    if (!req->origin[0] || !sb_config_origin_allowed(cfg, req->origin))
        return 0;
    if (add_header(wsi, "access-control-allow-origin:", req->origin, p, end)
        || add_header(wsi, "vary:", "Origin", p, end))
        return 1;
    return 0;
}

/* An embedded page or script: its validator and caching, and for a page
 * its Content-Security-Policy (web_assets.h). */
static int add_asset_headers(struct lws *wsi, const http_request *req, unsigned char **p,
                             unsigned char *end)
{
    if (!req->etag)
        return 0;
    if (add_header(wsi, "etag:", req->etag, p, end)
        || add_header(wsi, "cache-control:", req->cache_control, p, end)
        || add_header(wsi, "x-content-type-options:", "nosniff", p, end))
        return 1;
    return 0;
}

static int write_headers(struct lws *wsi, http_request *req)
{
    unsigned char buf[LWS_PRE + 2048];
    unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
    const char *type = !req->resp_len      ? NULL
                       : req->content_type ? req->content_type
                                           : "application/json";
    if (lws_add_http_common_headers(wsi, (unsigned int)req->status, type, req->resp_len, &p, end)
        || add_cors_headers(wsi, req, &p, end))
        return -1;
    if (req->method == LWSHUMETH_OPTIONS
        && (add_header(wsi, "access-control-allow-methods:", "GET, POST, DELETE, OPTIONS", &p, end)
            || add_header(wsi, "access-control-allow-headers:",
                          "Content-Type, Authorization, X-Requested-With", &p, end)
            || add_header(wsi, "access-control-max-age:", "600", &p, end)))
        return -1;
    if (req->status == 405
        && add_header(wsi, "allow:", "GET, HEAD, POST, DELETE, OPTIONS", &p, end))
        return -1;
    char seconds[16];
    snprintf(seconds, sizeof(seconds), "%u", req->retry_after_s);
    if (req->retry_after_s && add_header(wsi, "retry-after:", seconds, &p, end))
        return -1;
    /* RFC 6750: a 401 names the scheme the client should use. */
    if (req->status == 401 && add_header(wsi, "www-authenticate:", "Bearer", &p, end))
        return -1;
    if (req->csp[0]
        && (add_header(wsi, "content-security-policy:", req->csp, &p, end)
            || add_header(wsi, "referrer-policy:", "no-referrer", &p, end)))
        return -1;
    if (req->close_after && add_header(wsi, "connection:", "close", &p, end))
        return -1;
    if (add_asset_headers(wsi, req, &p, end))
        return -1;
    return lws_finalize_write_http_header(wsi, start, &p, end) ? -1 : 0;
}

int http_request_writeable(struct lws *wsi, http_request **slot)
{
    http_request *req = *slot;
    if (!req || !req->responded)
        return 0;
    if (!req->headers_sent) {
        if (write_headers(wsi, req))
            return -1;
        req->headers_sent = true;
        /* A HEAD answer is the GET's headers, Content-Length included,
         * without the body (RFC 9110, 9.3.2): a body would be read as
         * the start of the next answer. */
        if (req->method == LWSHUMETH_HEAD)
            req->resp_sent = req->resp_len;
        if (req->resp_sent < req->resp_len) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    if (req->resp_sent < req->resp_len) {
        unsigned char buf[LWS_PRE + WRITE_SLICE];
        size_t n = req->resp_len - req->resp_sent;
        if (n > WRITE_SLICE)
            n = WRITE_SLICE;
        bool last = req->resp_sent + n == req->resp_len;
        memcpy(buf + LWS_PRE, req->resp + req->resp_sent, n);
        if (lws_write(wsi, buf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP)
            != (int)n)
            return -1;
        req->resp_sent += n;
        if (!last) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    bool close = req->close_after;
    request_reset(req);
    if (close)
        return -1;
    /* lws now parses the next request, pipelined or not. */
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

void http_request_closed(http_request **slot)
{
    http_request *req = *slot;
    *slot = NULL;
    if (!req)
        return;
    if (req->waiting) {
        req->wsi = NULL; /* the Redis reply frees it */
        return;
    }
    free_request(req);
}
