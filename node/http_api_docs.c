/*
 * http_api_docs.c - GET /openapi.json, GET /docs and GET /docs.js (see
 * http_api_docs.h): the embedded files, answered as they are.
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

#define DOCS_CSP "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static void respond_asset(http_request *req, const api_doc_asset *asset, const char *type,
                          const char *csp)
{
    char *copy = malloc(asset->len ? asset->len : 1);
    if (!copy) {
        http_respond_detail(req, 500, "Out of memory");
        return;
    }
    memcpy(copy, asset->data, asset->len);
    if (csp)
        snprintf(req->csp, sizeof(req->csp), "%s", csp);
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
