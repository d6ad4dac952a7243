/*
 * rfc6455.c - UTF-8 validation in pieces and upgrade-request checks (see
 * rfc6455.h).
 *
 * The UTF-8 check runs on every text byte a client sends, so it skips
 * ASCII - nearly all of a signaling message, SDP included - eight bytes at
 * a time and only walks multi-byte characters byte by byte. Its state is
 * one byte: how many continuation bytes the current character still needs
 * (low two bits) and which range the next one must fall in (the rest),
 * which is how RFC 3629 excludes overlong forms, surrogates and code points
 * beyond U+10FFFF.
 */
#include "rfc6455.h"

#include <string.h>
#include <strings.h>

/* Ranges of the byte after a lead byte: any continuation byte, or the
 * narrower ranges after E0, ED, F0 and F4 (RFC 3629 §4). */
enum { NEXT_ANY, NEXT_AFTER_E0, NEXT_AFTER_ED, NEXT_AFTER_F0, NEXT_AFTER_F4 };
static const uint8_t next_lo[] = { 0x80, 0xa0, 0x80, 0x90, 0x80 };
static const uint8_t next_hi[] = { 0xbf, 0xbf, 0x9f, 0xbf, 0x8f };

#define ASCII_MASK 0x8080808080808080ull

/* The state after lead byte c (not ASCII), or -1 when c cannot start a
 * character. */
static int lead_state(unsigned c)
{
    if (c < 0xc2 || c > 0xf4)
        return -1;
    if (c < 0xe0)
        return 1;
    if (c < 0xf0)
        return 2 | (c == 0xe0 ? NEXT_AFTER_E0 : c == 0xed ? NEXT_AFTER_ED : NEXT_ANY) << 2;
    return 3 | (c == 0xf0 ? NEXT_AFTER_F0 : c == 0xf4 ? NEXT_AFTER_F4 : NEXT_ANY) << 2;
}

int sb_utf8_feed(uint8_t *state, const void *buf, size_t len)
{
    const unsigned char *p = buf, *end = p + len;
    unsigned s = *state;
    while (p < end) {
        if (s == 0) {
            while (end - p >= 8) {
                uint64_t w;
                memcpy(&w, p, sizeof(w));
                if (w & ASCII_MASK)
                    break;
                p += 8;
            }
            if (p == end)
                break;
            unsigned c = *p++;
            if (c < 0x80)
                continue;
            int next = lead_state(c);
            if (next < 0)
                return -1;
            s = (unsigned)next;
        } else {
            unsigned c = *p++, range = s >> 2;
            if (c < next_lo[range] || c > next_hi[range])
                return -1;
            s = (s & 3) - 1; /* the bytes after the second take any continuation */
        }
    }
    *state = (uint8_t)s;
    return 0;
}

static bool is_base64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+'
           || c == '/';
}

bool sb_ws_key_is_valid(const char *key, size_t len)
{
    if (key == NULL || len != 24 || key[22] != '=' || key[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++)
        if (!is_base64_char(key[i]))
            return false;
    return true;
}

static bool is_list_space(char c)
{
    return c == ' ' || c == '\t';
}

bool sb_http_list_has_token(const char *list, size_t len, const char *token)
{
    size_t token_len = strlen(token);
    const char *p = list, *end = list + len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *item_end = comma ? comma : end;
        while (p < item_end && is_list_space(*p))
            p++;
        const char *q = item_end;
        while (q > p && is_list_space(q[-1]))
            q--;
        if ((size_t)(q - p) == token_len && strncasecmp(p, token, token_len) == 0)
            return true;
        p = comma ? comma + 1 : end;
    }
    return false;
}
