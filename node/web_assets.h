/*
 * web_assets.h - the browser pages and the JavaScript client, embedded in
 * the binary at build time (web/ turned into C arrays by web/embed.c).
 *
 * Owns: which path serves which asset, the ETag comparison of
 * If-None-Match, the Cache-Control and the Content-Security-Policy of the
 * pages. Pure code (no lws), so the unit tests check it alone; the HTTP
 * side is in http_routes.c.
 */
#ifndef SB_WEB_ASSETS_H
#define SB_WEB_ASSETS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *name;         /* file name in web/ */
    const char *content_type; /* with charset for text */
    const unsigned char *data;
    size_t len;
    const char *etag; /* strong: "\"<FNV-1a 64 of data, hex>\"" */
} sb_web_asset;

/* Generated (web_assets_data.c). */
extern const sb_web_asset sb_web_assets[];
extern const size_t sb_web_asset_count;

typedef enum {
    SB_WEB_NONE,          /* no page here: the REST routes decide */
    SB_WEB_ASSET,         /* serve the asset */
    SB_WEB_ROOM_NOT_FOUND /* /room/{x} with x not a canonical room id: 404 */
} sb_web_route;

/* The asset served at the raw request path (without query), or NULL with
 * *kind telling why: GET /app, /room/{room_id}, /switchboard.js, and
 * /assets/<file>. */
const sb_web_asset *sb_web_find(const char *path, size_t len, sb_web_route *kind);

/* The asset of that file name, or NULL. */
const sb_web_asset *sb_web_asset_named(const char *name);

/* Whether an If-None-Match value (a list of entity tags, or "*") matches
 * etag, by the weak comparison RFC 9110 prescribes for If-None-Match. */
bool sb_web_etag_matches(const char *if_none_match, const char *etag);

/* Cache-Control of an asset: revalidate every time (the names carry no
 * hash, so a new build must be seen at once; the ETag makes it cheap). */
const char *sb_web_cache_control(const sb_web_asset *asset);

/* Whether the asset is a page (gets a Content-Security-Policy). */
bool sb_web_is_page(const sb_web_asset *asset);

/* The page's Content-Security-Policy into out: same origin only; the
 * WebSocket URLs of `host` (the request's Host) are named explicitly, as
 * 'self' does not cover ws:/wss: in every browser. A host with bytes other
 * than letters, digits, '.', '-', ':', '[' and ']' is left out (then only
 * 'self'). Returns out. */
char *sb_web_csp(const char *host, char *out, size_t size);

#endif
