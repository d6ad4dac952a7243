/*
 * http_api_docs.h - the API's own description: GET /openapi.json (OpenAPI
 * 3.1, docs/api/openapi.json) and the page that renders it, GET /docs and
 * GET /docs.js (docs/api/docs.html, docs/api/docs.js).
 *
 * Owns: those three routes. The files are embedded in the binary at build
 * time (node/embed_api_docs.cmake generates api_docs_data.c) and served as
 * the web pages are: ETag, Cache-Control: no-cache, 304 on If-None-Match.
 */
#ifndef SB_HTTP_API_DOCS_H
#define SB_HTTP_API_DOCS_H

#include <stddef.h>

typedef struct {
    const unsigned char *data; /* NUL-terminated, for convenience */
    size_t len;
    const char *etag; /* strong: "\"<SHA-256 of data, first 16 hex>\"" */
} api_doc_asset;

/* Defined in the generated api_docs_data.c. */
extern const api_doc_asset api_doc_openapi, api_doc_page, api_doc_script;

struct http_request;

void route_openapi(struct http_request *req);
void route_docs(struct http_request *req);
void route_docs_script(struct http_request *req);

#endif
