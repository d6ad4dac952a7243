/*
 * web_assets.c - paths, ETags and headers of the embedded web assets (see
 * web_assets.h). The bytes themselves are in the generated
 * web_assets_data.c.
 */
#include <stdio.h>
#include <string.h>

#include "http_parse.h"
#include "ids.h"
#include "web_assets.h"

/* Exact paths; /room/{id} is matched apart. */
static const struct {
    const char *path, *name;
} paths[] = {
    { "/app", "app.html" },
    { "/switchboard.js", "switchboard.js" },
    { "/assets/app.js", "app.js" },
    { "/assets/room.js", "room.js" },
    { "/assets/style.css", "style.css" },
};

#define ROOM_PAGE_PREFIX "/room/"

const sb_web_asset *sb_web_asset_named(const char *name)
{
    for (size_t i = 0; i < sb_web_asset_count; i++)
        if (strcmp(sb_web_assets[i].name, name) == 0)
            return &sb_web_assets[i];
    return NULL;
}

const sb_web_asset *sb_web_find(const char *path, size_t len, sb_web_route *kind)
{
    *kind = SB_WEB_NONE;
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        if (strlen(paths[i].path) == len && memcmp(paths[i].path, path, len) == 0) {
            const sb_web_asset *a = sb_web_asset_named(paths[i].name);
            if (a)
                *kind = SB_WEB_ASSET;
            return a;
        }
    }
    /* The join link: one room, by its canonical id only (as /rooms/{id}). */
    char id[SB_UUID_LEN + 1];
    sb_room_path room = sb_http_room_path(path, len, ROOM_PAGE_PREFIX, id);
    if (room == SB_ROOM_PATH_OTHER)
        return NULL;
    if (room != SB_ROOM_PATH_ID) {
        *kind = SB_WEB_ROOM_NOT_FOUND;
        return NULL;
    }
    const sb_web_asset *a = sb_web_asset_named("room.html");
    if (a)
        *kind = SB_WEB_ASSET;
    return a;
}

/* One entity tag of the list at *p: its opaque part (quotes included) in
 * [*start, *end), W/ dropped; advances *p past it. False at the end of
 * the list, and where it is malformed. */
static bool next_tag(const char **p, const char **start, const char **end)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t' || *s == ',')
        s++;
    if (!*s)
        return false;
    if (s[0] == 'W' && s[1] == '/')
        s += 2;
    const char *e = s;
    if (*e == '"') {
        e = strchr(e + 1, '"');
        e = e ? e + 1 : s + strlen(s);
    } else {
        e += strcspn(e, ", \t");
    }
    /* Junk after a tag: a malformed list, of which nothing is trusted. */
    if (*e && *e != ',' && *e != ' ' && *e != '\t')
        return false;
    *start = s;
    *end = e;
    *p = e;
    return true;
}

bool sb_web_etag_matches(const char *if_none_match, const char *etag)
{
    if (!if_none_match || !etag)
        return false;
    size_t etag_len = strlen(etag);
    const char *p = if_none_match, *s, *e;
    while (next_tag(&p, &s, &e)) {
        if (e - s == 1 && *s == '*')
            return true;
        if ((size_t)(e - s) == etag_len && memcmp(s, etag, etag_len) == 0)
            return true;
    }
    return false;
}

const char *sb_web_cache_control(const sb_web_asset *asset)
{
    (void)asset;
    return "no-cache";
}

bool sb_web_is_page(const sb_web_asset *asset)
{
    return strncmp(asset->content_type, "text/html", 9) == 0;
}

static bool plain_host(const char *host)
{
    if (!host || !*host || strlen(host) > 255)
        return false;
    for (const char *c = host; *c; c++) {
        bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')
                  || *c == '.' || *c == '-' || *c == ':' || *c == '[' || *c == ']';
        if (!ok)
            return false;
    }
    return true;
}

char *sb_web_csp(const char *host, char *out, size_t size)
{
    char ws[600] = "";
    if (plain_host(host))
        snprintf(ws, sizeof(ws), " ws://%s wss://%s", host, host);
    snprintf(out, size,
             "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
             "media-src 'self' blob: mediastream:; connect-src 'self'%s; base-uri 'none'; "
             "form-action 'self'; frame-ancestors 'none'",
             ws);
    return out;
}
