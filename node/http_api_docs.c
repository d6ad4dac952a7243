/*
 * http_api_docs.c - GET /openapi.json, GET /docs and GET /docs.js (see
 * http_api_docs.h): the embedded files, answered as they are, with their
 * ETag.
 *
 * The page loads its script from this node and nothing from elsewhere, so
 * its Content-Security-Policy allows this origin only: a page of the
 * node's own origin that ran someone else's script could call the API
 * with whatever the browser holds for it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_api_docs.h"
#include "http_request.h"
#include "web_assets.h"

/* img-src allows the page's empty data: icon, which keeps browsers from
 * asking for /favicon.ico (a 404). */
#define DOCS_CSP                                                                               \
    "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "           \
    "frame-ancestors 'none'"

static void respond_asset(http_request *req, const api_doc_asset *asset, const char *type,
                          const char *csp)
{
    /* Cached as the web pages are (web_assets.h): revalidated each time,
     * 304 while the client's copy is this build's. */
    req->etag = asset->etag;
    req->cache_control = "no-cache";
    if (csp)
        snprintf(req->csp, sizeof(req->csp), "%s", csp);
    char tags[512];
    if (lws_hdr_copy(req->wsi, tags, sizeof(tags), WSI_TOKEN_HTTP_IF_NONE_MATCH) > 0
        && sb_web_etag_matches(tags, asset->etag)) {
        http_respond_raw(req, 304, NULL, NULL, 0);
        return;
    }
    char *copy = malloc(asset->len ? asset->len : 1);
    if (!copy) {
        http_respond_detail(req, 500, "Out of memory");
        return;
    }
    memcpy(copy, asset->data, asset->len);
    http_respond_raw(req, 200, type, copy, asset->len);
}

void route_openapi(http_request *req)
{
    respond_asset(req, &api_doc_openapi, "application/json", NULL);
}

void route_docs(http_request *req)
{
    respond_asset(req, &api_doc_page, "text/html; charset=utf-8", DOCS_CSP);
}

void route_docs_script(http_request *req)
{
    respond_asset(req, &api_doc_script, "text/javascript; charset=utf-8", NULL);
}
