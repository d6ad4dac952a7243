/*
 * msg.c - signaling messages with stamps, and reading server messages
 * (see msg.h).
 *
 * The SDP is made once at start to look like what Chrome sends for one
 * audio and one video section (codecs, fmtp, rtcp-fb, extmap lines with
 * their "\r\n" escaped in JSON), padded with ssrc lines to about 4 KiB.
 * Messages are then assembled from pieces with memcpy; only the stamp
 * changes from one message to the next.
 */
#include <stdio.h>
#include <string.h>

#include "msg.h"

#define SDP_TARGET 3900
#define STAMP_KEY "\"bench\":\""
#define STAMP_LEN 34 /* 8 + 1 + 10 + 1 + 14 */

static char sdp_offer[SDP_TARGET + 256];
static char sdp_answer[SDP_TARGET + 256];
static size_t sdp_offer_len, sdp_answer_len;

static const char ice_candidate[] =
    "\"candidate\":\"candidate:842163049 1 udp 1677729535 198.51.100.7 54321 typ srflx "
    "raddr 10.0.0.5 rport 54321 generation 0 ufrag 4ZcD network-cost 999\","
    "\"sdpMid\":\"0\",\"sdpMLineIndex\":0";

static size_t append(char *dst, size_t at, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (at + n >= cap)
        return at;
    memcpy(dst + at, s, n + 1);
    return at + n;
}

static size_t make_sdp(char *out, size_t cap, const char *setup)
{
    static const char *const head[] = {
        "v=0\\r\\no=- 4611731400430051336 2 IN IP4 127.0.0.1\\r\\ns=-\\r\\nt=0 0\\r\\n",
        "a=group:BUNDLE 0 1\\r\\na=extmap-allow-mixed\\r\\na=msid-semantic: WMS stream\\r\\n",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\\r\\nc=IN IP4 0.0.0.0\\r\\n",
        "a=rtcp:9 IN IP4 "
        "0.0.0.0\\r\\na=ice-ufrag:4ZcD\\r\\na=ice-pwd:2/1muCWoOi3uLifh0NuRHlEi\\r\\n",
        "a=ice-options:trickle\\r\\na=fingerprint:sha-256 75:74:5A:A6:A4:E5:52:F4:A7:67:4C:01:"
        "C7:EE:91:3F:21:3D:A2:E3:53:7B:6F:30:86:F2:30:AA:65:FB:04:24\\r\\n",
        "a=mid:0\\r\\na=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\\r\\n",
        "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\\r\\n",
        "a=sendrecv\\r\\na=msid:stream audio0\\r\\na=rtcp-mux\\r\\n",
        "a=rtpmap:111 opus/48000/2\\r\\na=rtcp-fb:111 transport-cc\\r\\n"
        "a=fmtp:111 minptime=10;useinbandfec=1\\r\\n",
        "a=rtpmap:63 red/48000/2\\r\\na=fmtp:63 111/111\\r\\na=rtpmap:9 G722/8000\\r\\n"
        "a=rtpmap:0 PCMU/8000\\r\\na=rtpmap:8 PCMA/8000\\r\\na=rtpmap:13 CN/8000\\r\\n"
        "a=rtpmap:110 telephone-event/48000\\r\\na=rtpmap:126 telephone-event/8000\\r\\n",
        "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105 106 107 108 109 127 125\\r\\n"
        "c=IN IP4 0.0.0.0\\r\\na=rtcp:9 IN IP4 0.0.0.0\\r\\na=mid:1\\r\\n",
        "a=extmap:14 urn:ietf:params:rtp-hdrext:toffset\\r\\n"
        "a=extmap:13 urn:3gpp:video-orientation\\r\\na=sendrecv\\r\\na=msid:stream video0\\r\\n"
        "a=rtcp-mux\\r\\na=rtcp-rsize\\r\\n",
        "a=rtpmap:96 VP8/90000\\r\\na=rtcp-fb:96 goog-remb\\r\\na=rtcp-fb:96 transport-cc\\r\\n"
        "a=rtcp-fb:96 ccm fir\\r\\na=rtcp-fb:96 nack\\r\\na=rtcp-fb:96 nack pli\\r\\n"
        "a=rtpmap:97 rtx/90000\\r\\na=fmtp:97 apt=96\\r\\n",
        "a=rtpmap:102 H264/90000\\r\\na=rtcp-fb:102 goog-remb\\r\\na=rtcp-fb:102 transport-cc\\r\\n"
        "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\\r\\n",
        "a=rtpmap:108 VP9/90000\\r\\na=fmtp:108 profile-id=0\\r\\n"
        "a=rtpmap:127 AV1/90000\\r\\na=rtpmap:125 ulpfec/90000\\r\\n",
    };
    size_t at = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++)
        at = append(out, at, cap, head[i]);
    at = append(out, at, cap, setup);
    for (unsigned ssrc = 1000; at < SDP_TARGET - 80; ssrc++) {
        char line[96];
        snprintf(line, sizeof(line), "a=ssrc:%u cname:bench%06u msid:stream video0\\r\\n",
                 3735928559u - ssrc, ssrc);
        at = append(out, at, cap, line);
    }
    return at;
}

void msg_init(void)
{
    sdp_offer_len = make_sdp(sdp_offer, sizeof(sdp_offer), "a=setup:actpass\\r\\n");
    sdp_answer_len = make_sdp(sdp_answer, sizeof(sdp_answer), "a=setup:active\\r\\n");
}

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

#define PUT_LIT(p, s) put((p), (s), sizeof(s) - 1)

/* Fixed-width decimal, so the receiver can read it at known offsets. */
static char *put_digits(char *p, uint64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

size_t msg_build(char *buf, sig_kind kind, const char *to, const msg_stamp *stamp)
{
    char *p = buf;
    p = PUT_LIT(p, "{\"type\":\"");
    if (kind == SIG_OFFER)
        p = PUT_LIT(p, "offer");
    else if (kind == SIG_ANSWER)
        p = PUT_LIT(p, "answer");
    else
        p = PUT_LIT(p, "ice-candidate");
    p = PUT_LIT(p, "\",");
    if (to) {
        p = PUT_LIT(p, "\"to\":\"");
        p = put(p, to, USER_ID_LEN);
        p = PUT_LIT(p, "\",");
    }
    p = PUT_LIT(p, "\"data\":{" STAMP_KEY);
    p = put_digits(p, stamp->sender, 8);
    *p++ = '-';
    p = put_digits(p, stamp->seq, 10);
    *p++ = '-';
    p = put_digits(p, stamp->sent_us, 14);
    p = PUT_LIT(p, "\",");
    if (kind == SIG_ICE) {
        p = PUT_LIT(p, ice_candidate);
    } else {
        p = PUT_LIT(p, "\"type\":\"");
        p = kind == SIG_OFFER ? PUT_LIT(p, "offer") : PUT_LIT(p, "answer");
        p = PUT_LIT(p, "\",\"sdp\":\"");
        p = kind == SIG_OFFER ? put(p, sdp_offer, sdp_offer_len)
                              : put(p, sdp_answer, sdp_answer_len);
        *p++ = '"';
    }
    p = PUT_LIT(p, "}}");
    return (size_t)(p - buf);
}

static bool read_digits(const char *p, int width, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < width; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *out = v;
    return true;
}

bool msg_find_stamp(const char *buf, size_t len, msg_stamp *out)
{
    const size_t klen = sizeof(STAMP_KEY) - 1;
    const char *k = memmem(buf, len, STAMP_KEY, klen);
    if (!k || (size_t)(buf + len - k) < klen + STAMP_LEN + 1)
        return false;
    const char *p = k + klen;
    uint64_t sender, seq, ts;
    if (!read_digits(p, 8, &sender) || p[8] != '-' || !read_digits(p + 9, 10, &seq) || p[19] != '-'
        || !read_digits(p + 20, 14, &ts) || p[34] != '"')
        return false;
    out->sender = (uint32_t)sender;
    out->seq = (uint32_t)seq;
    out->sent_us = ts;
    return true;
}

bool msg_has_sender(const char *buf, size_t len, const char *sender_id)
{
    char needle[64];
    int n = snprintf(needle, sizeof(needle), "\"sender_id\":\"%s\"", sender_id);
    if (n <= 0 || (size_t)n >= sizeof(needle))
        return false;
    /* the server appends sender_id, so look near the end first */
    size_t tail = len > 160 ? 160 : len;
    if (memmem(buf + len - tail, tail, needle, (size_t)n))
        return true;
    return memmem(buf, len, needle, (size_t)n) != NULL;
}

static ctl_type type_of(const char *t)
{
    static const struct {
        const char *name;
        ctl_type type;
    } types[] = {
        { "connected", CTL_CONNECTED }, { "user-joined", CTL_USER_JOINED },
        { "user-left", CTL_USER_LEFT }, { "error", CTL_ERROR },
        { "pong", CTL_PONG },           { "room-closed", CTL_ROOM_CLOSED },
        { "reconnect", CTL_RECONNECT },
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(t, types[i].name) == 0)
            return types[i].type;
    return CTL_OTHER;
}

void msg_parse_ctl(const char *buf, size_t len, ctl_msg *out)
{
    memset(out, 0, sizeof(*out));
    out->type = CTL_INVALID;
    out->root = json_loadb(buf, len, 0, NULL);
    const char *t = json_string_value(json_object_get(out->root, "type"));
    if (!t)
        return;
    out->type = type_of(t);
    out->user_id = json_string_value(json_object_get(out->root, "user_id"));
    out->node_id = json_string_value(json_object_get(out->root, "node_id"));
    out->message = json_string_value(json_object_get(out->root, "message"));
    out->participants = json_object_get(out->root, "participants");
    out->resume_token = json_string_value(json_object_get(out->root, "resume_token"));
    out->resumed = json_is_true(json_object_get(out->root, "resumed"));
    out->missed = json_is_true(json_object_get(out->root, "missed"));
    if (out->participants && !json_is_array(out->participants))
        out->participants = NULL;
    bool needs_user =
        out->type == CTL_CONNECTED || out->type == CTL_USER_JOINED || out->type == CTL_USER_LEFT;
    if (needs_user && (!out->user_id || strlen(out->user_id) != USER_ID_LEN))
        out->type = CTL_INVALID;
    if (out->type == CTL_CONNECTED && (!out->node_id || !out->participants))
        out->type = CTL_INVALID;
}

void msg_ctl_clear(ctl_msg *m)
{
    json_decref(m->root);
    memset(m, 0, sizeof(*m));
}
