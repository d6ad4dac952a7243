/*
 * frame.c - reference-counted outgoing messages and the envelopes that
 * carry them to other nodes (see frame.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "protocol.h"

sb_frame *frame_adopt(char *buf, size_t len)
{
    if (!buf)
        return NULL;
    sb_frame *f = malloc(sizeof(*f));
    if (!f) {
        free(buf);
        return NULL;
    }
    f->refs = 1;
    f->len = len;
    f->buf = buf;
    return f;
}

sb_frame *frame_copy(const char *data, size_t len)
{
    char *buf = malloc(LWS_PRE + len + 1);
    if (!buf)
        return NULL;
    memcpy(buf + LWS_PRE, data, len);
    buf[LWS_PRE + len] = '\0';
    return frame_adopt(buf, len);
}

void frame_ref(sb_frame *f)
{
    if (f)
        f->refs++;
}

void frame_unref(sb_frame *f)
{
    if (f && --f->refs == 0) {
        free(f->buf);
        free(f);
    }
}

/* A server's frames are unmasked, so a frame is its header and the
 * payload as it is: FIN and the text opcode, then the length in 7, 16 or
 * 64 bits (RFC 6455 5.2), as lws writes it for a single frame. */
size_t frame_pack(const sb_frame *f, unsigned char *out, size_t cap)
{
    size_t len = f->len, head = len < 126 ? 2 : len < 65536 ? 4 : 10;
    if (cap < head || cap - head < len)
        return 0;
    out[0] = 0x81; /* FIN, text */
    if (head == 2) {
        out[1] = (unsigned char)len;
    } else if (head == 4) {
        out[1] = 126;
        out[2] = (unsigned char)(len >> 8);
        out[3] = (unsigned char)len;
    } else {
        out[1] = 127;
        for (int i = 0; i < 8; i++)
            out[2 + i] = (unsigned char)((uint64_t)len >> (8 * (7 - i)));
    }
    memcpy(out + head, f->buf + LWS_PRE, len);
    return head + len;
}

sb_frame *frame_error(const char *message)
{
    size_t len = 0;
    char *buf = sb_protocol_build_error(message, LWS_PRE, &len);
    return frame_adopt(buf, len);
}

sb_frame *frame_bare(const char *type)
{
    size_t len = 0;
    char *buf = sb_protocol_build_bare(type, LWS_PRE, &len);
    return frame_adopt(buf, len);
}

sb_frame *frame_user_event(const char *type, const char *user_id, const char *room_id)
{
    size_t len = 0;
    char *buf = sb_protocol_build_user_event(type, user_id, room_id, LWS_PRE, &len);
    return frame_adopt(buf, len);
}

char *frame_envelope(const sb_frame *f, const char *origin, sb_env_event event, const char *subject,
                     size_t *len)
{
    return sb_envelope_encode(origin, event, subject, f->buf + LWS_PRE, f->len, len);
}

char *frame_member_envelope(const char *origin, sb_env_event event, const char *user_id,
                            const char *room_id, size_t *len)
{
    return frame_joined_envelope(origin, event, user_id, room_id, NULL, len);
}

char *frame_joined_envelope(const char *origin, sb_env_event event, const char *user_id,
                            const char *room_id, const json_t *profile, size_t *len)
{
    const char *type = event == SB_ENV_LEAVE ? "user-left" : "user-joined";
    size_t n = 0;
    char *buf = sb_protocol_build_member_event(type, user_id, room_id, profile, LWS_PRE, &n);
    sb_frame *f = frame_adopt(buf, n);
    char *env = f ? frame_envelope(f, origin, event, user_id, len) : NULL;
    frame_unref(f);
    return env;
}

json_t *frame_participant(const char *user_id, const char *stored, size_t len)
{
    json_t *value = stored ? json_loadb(stored, len, 0, NULL) : NULL;
    json_t *p = json_pack("{s:s}", "user_id", user_id);
    static const char *const shown[] = { "identity", "name", "metadata" };
    for (size_t i = 0; p && value && i < sizeof(shown) / sizeof(shown[0]); i++) {
        json_t *v = json_object_get(value, shown[i]);
        if (v)
            json_object_set(p, shown[i], v);
    }
    json_decref(value);
    return p;
}
