/*
 * json_members.c - top-level members of a JSON object text (see
 * json_members.h).
 *
 * A value is skipped, not parsed: a string to its closing quote (a
 * backslash always escapes the next byte), an object or array by counting
 * brackets outside strings (a counter, not recursion, so nesting depth
 * costs nothing), and any other value up to the next delimiter.
 */
#include "ids.h"
#include "json_members.h"

#include <string.h>

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_ws(const char *buf, size_t len, size_t pos)
{
    while (pos < len && is_ws(buf[pos]))
        pos++;
    return pos;
}

/* buf[pos] is an opening quote: the position after the closing one, or 0
 * when the string does not end. */
static size_t skip_string(const char *buf, size_t len, size_t pos)
{
    for (pos++; pos < len; pos++) {
        if (buf[pos] == '\\')
            pos++;
        else if (buf[pos] == '"')
            return pos + 1;
    }
    return 0;
}

static size_t skip_nested(const char *buf, size_t len, size_t pos)
{
    size_t depth = 0;
    while (pos < len) {
        char c = buf[pos];
        if (c == '"') {
            pos = skip_string(buf, len, pos);
            if (pos == 0)
                return 0;
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && --depth == 0)
            return pos + 1;
        pos++;
    }
    return 0;
}

static size_t skip_scalar(const char *buf, size_t len, size_t pos)
{
    size_t start = pos;
    while (pos < len && !is_ws(buf[pos]) && buf[pos] != ',' && buf[pos] != '}' && buf[pos] != ']')
        pos++;
    return pos > start ? pos : 0;
}

/* The position after the value at buf[pos], or 0 when there is none. */
static size_t skip_value(const char *buf, size_t len, size_t pos)
{
    if (pos >= len)
        return 0;
    if (buf[pos] == '"')
        return skip_string(buf, len, pos);
    if (buf[pos] == '{' || buf[pos] == '[')
        return skip_nested(buf, len, pos);
    return skip_scalar(buf, len, pos);
}

int sb_json_members_begin(sb_json_members *it, const char *buf, size_t len)
{
    size_t pos = skip_ws(buf, len, 0);
    if (pos >= len || buf[pos] != '{')
        return -1;
    it->buf = buf;
    it->len = len;
    it->pos = pos + 1;
    it->count = 0;
    it->done = false;
    return 0;
}

/* After a member: a comma and another member, or the closing brace. */
static int after_member(sb_json_members *it, size_t pos)
{
    pos = skip_ws(it->buf, it->len, pos);
    if (pos < it->len && it->buf[pos] == ',') {
        it->pos = pos + 1;
        return 1;
    }
    if (pos < it->len && it->buf[pos] == '}') {
        it->pos = pos + 1;
        it->done = true;
        return 1;
    }
    return -1;
}

int sb_json_members_next(sb_json_members *it, sb_json_member *m)
{
    if (it->done)
        return 0;
    const char *buf = it->buf;
    size_t len = it->len;
    size_t pos = skip_ws(buf, len, it->pos);
    if (it->count == 0 && pos < len && buf[pos] == '}') { /* {} */
        it->pos = pos + 1;
        it->done = true;
        return 0;
    }
    if (pos >= len || buf[pos] != '"')
        return -1;
    size_t key_end = skip_string(buf, len, pos);
    if (key_end == 0)
        return -1;
    m->start = pos;
    m->key = buf + pos + 1;
    m->key_len = key_end - pos - 2;
    pos = skip_ws(buf, len, key_end);
    if (pos >= len || buf[pos] != ':')
        return -1;
    size_t value_end = skip_value(buf, len, skip_ws(buf, len, pos + 1));
    if (value_end == 0)
        return -1;
    m->end = value_end;
    it->count++;
    return after_member(it, value_end);
}

/* Decodes the escape at key[*i] (a backslash) into one byte, advancing *i
 * past it. Returns -1 for an escape that is not an ASCII character, which
 * cannot be part of an ASCII name. */
static int unescape_ascii(const char *key, size_t len, size_t *i)
{
    if (*i + 1 >= len)
        return -1;
    char c = key[*i + 1];
    *i += 2;
    /* Pairs: the letter after the backslash, the byte it stands for. */
    static const char simple[] = "\"\"\\\\//b\bf\fn\nr\rt\t";
    for (const char *e = simple; *e; e += 2)
        if (*e == c)
            return e[1];
    if (c != 'u')
        return -1;
    if (*i + 4 > len)
        return -1;
    int v = 0;
    for (int k = 0; k < 4; k++) {
        int h = sb_hex_digit(key[*i + (size_t)k]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    *i += 4;
    return v < 0x80 ? v : -1;
}

bool sb_json_key_is(const char *key, size_t key_len, const char *name)
{
    size_t name_len = strlen(name);
    if (memchr(key, '\\', key_len) == NULL)
        return key_len == name_len && memcmp(key, name, name_len) == 0;
    size_t i = 0, j = 0;
    while (i < key_len) {
        int c = key[i] == '\\' ? unescape_ascii(key, key_len, &i) : (unsigned char)key[i++];
        if (c < 0 || j == name_len || c != (unsigned char)name[j])
            return false;
        j++;
    }
    return j == name_len;
}
