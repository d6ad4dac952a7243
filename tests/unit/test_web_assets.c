/*
 * test_web_assets.c - the embedded web assets (node/web_assets.h): which
 * path serves what, with which content type; ETags that are the content's
 * and stable; If-None-Match matching (the 304); the pages' CSP.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "web_assets.h"

#define ROOM_ID "5b0c2f8e-1c1d-4f5e-9a8b-0123456789ab"
#define ROOM_PAGE ("/room/" ROOM_ID)

static const sb_web_asset *find(const char *path, sb_web_route *kind)
{
    return sb_web_find(path, strlen(path), kind);
}

Test(web_assets, paths_and_content_types)
{
    static const struct {
        const char *path, *name, *type;
    } want[] = {
        { "/app", "app.html", "text/html; charset=utf-8" },
        { ROOM_PAGE, "room.html", "text/html; charset=utf-8" },
        { "/switchboard.js", "switchboard.js", "text/javascript; charset=utf-8" },
        { "/assets/room.js", "room.js", "text/javascript; charset=utf-8" },
        { "/assets/app.js", "app.js", "text/javascript; charset=utf-8" },
        { "/assets/style.css", "style.css", "text/css; charset=utf-8" },
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        sb_web_route kind;
        const sb_web_asset *a = find(want[i].path, &kind);
        cr_assert(a, "%s serves nothing", want[i].path);
        cr_expect_eq(kind, SB_WEB_ASSET);
        cr_expect_str_eq(a->name, want[i].name, "%s", want[i].path);
        cr_expect_str_eq(a->content_type, want[i].type, "%s", want[i].path);
        cr_expect_gt(a->len, 100, "%s is nearly empty", want[i].name);
    }
}

Test(web_assets, other_paths_are_not_pages)
{
    const char *none[] = { "/",
                           "/rooms",
                           "/app/",
                           "/App",
                           "/switchboard.js/",
                           "/assets/",
                           "/assets/nope.js",
                           ("/room/" ROOM_ID "/x"),
                           ("/room//" ROOM_ID),
                           "/web/room.js",
                           "/assets/../app" };
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        sb_web_route kind;
        cr_expect_null(find(none[i], &kind), "%s", none[i]);
        cr_expect_eq(kind, SB_WEB_NONE, "%s", none[i]);
    }
}

/* As /rooms/{id}: a room page is named by the canonical id only. */
Test(web_assets, room_page_needs_a_canonical_id)
{
    const char *bad[] = { "/room/nope", "/room/5B0C2F8E-1C1D-4F5E-9A8B-0123456789AB",
                          "/room/%35b0c2f8e-1c1d-4f5e-9a8b-0123456789ab" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sb_web_route kind;
        cr_expect_null(find(bad[i], &kind), "%s", bad[i]);
        cr_expect_eq(kind, SB_WEB_ROOM_NOT_FOUND, "%s", bad[i]);
    }
}

static unsigned long long fnv1a(const unsigned char *p, size_t n)
{
    unsigned long long h = 14695981039346656037ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

/* The ETag is a strong tag of the bytes served: the same for the same
 * content, different between assets. */
Test(web_assets, etag_is_the_content_hash)
{
    for (size_t i = 0; i < sb_web_asset_count; i++) {
        const sb_web_asset *a = &sb_web_assets[i];
        char want[32];
        snprintf(want, sizeof(want), "\"%016llx\"", fnv1a(a->data, a->len));
        cr_expect_str_eq(a->etag, want, "%s", a->name);
        for (size_t j = 0; j < i; j++)
            cr_expect_str_neq(a->etag, sb_web_assets[j].etag);
    }
}

Test(web_assets, if_none_match)
{
    const char *etag = "\"0123456789abcdef\"";
    cr_expect(sb_web_etag_matches("\"0123456789abcdef\"", etag));
    cr_expect(sb_web_etag_matches("W/\"0123456789abcdef\"", etag));
    cr_expect(sb_web_etag_matches("\"x\", \"0123456789abcdef\"", etag));
    cr_expect(sb_web_etag_matches("\"x\",W/\"0123456789abcdef\" ", etag));
    cr_expect(sb_web_etag_matches("*", etag));
    cr_expect_not(sb_web_etag_matches("", etag));
    cr_expect_not(sb_web_etag_matches("\"0123456789abcdee\"", etag));
    cr_expect_not(sb_web_etag_matches("0123456789abcdef", etag));
    cr_expect_not(sb_web_etag_matches("\"0123456789abcdef", etag));
    cr_expect_not(sb_web_etag_matches("\"0123456789abcdef\"x", etag));
    cr_expect_not(sb_web_etag_matches(NULL, etag));
}

Test(web_assets, caching_and_csp)
{
    sb_web_route kind;
    const sb_web_asset *page = find("/app", &kind), *js = find("/switchboard.js", &kind);
    cr_assert(page && js);
    cr_expect(sb_web_is_page(page));
    cr_expect_not(sb_web_is_page(js));
    cr_expect_str_eq(sb_web_cache_control(page), "no-cache");
    char csp[1024];
    sb_web_csp("localhost:8000", csp, sizeof(csp));
    cr_expect(strstr(csp, "default-src 'none'"), "%s", csp);
    cr_expect(strstr(csp, "script-src 'self';"), "%s", csp);
    cr_expect(strstr(csp, "connect-src 'self' ws://localhost:8000 wss://localhost:8000;"), "%s",
              csp);
    /* A Host that could add a directive or a source is left out. */
    sb_web_csp("evil.example; script-src *", csp, sizeof(csp));
    cr_expect(strstr(csp, "connect-src 'self';"), "%s", csp);
    cr_expect_null(strstr(csp, "evil"), "%s", csp);
    sb_web_csp("a b", csp, sizeof(csp));
    cr_expect_null(strstr(csp, "ws://"), "%s", csp);
}
