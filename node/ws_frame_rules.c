/*
 * ws_frame_rules.c - masking and RSV bits of client frames (see
 * ws_frame_rules.h).
 *
 * lws 4.1.6 refuses RSV2 and RSV3 itself, but built without extensions
 * (LWS_WITHOUT_EXTENSIONS, as ours is) it lets RSV1 through; the frame's
 * RSV bits are public (lws_get_reserved_bits), so that check is plain.
 *
 * The MASK bit is harder: lws's server parser records it for each frame
 * (this_frame_masked) and unmasks accordingly, but never refuses a frame
 * without it, and no public function returns it. It is read here from
 * lws's per-connection WebSocket state, whose layout is mirrored below for
 * exactly the build this node links (4.1.6 without extensions or the HTTP
 * proxy). The one public function that points into that state,
 * lws_get_close_payload, anchors the mirror. Because a wrong layout would
 * silently misjudge every frame, each read is checked against four fields
 * lws does make public (RSV bits, bytes left in the frame, binary, first
 * fragment) plus the protocol revision, which is always 13; on any
 * mismatch the mask check switches itself off for good, with one warning,
 * rather than refuse good clients. Built against another lws, the mask is
 * not checked and the node says so once.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "log.h"
#include "ws_frame_rules.h"

static bool rsv_forbidden(struct lws *wsi)
{
    return lws_get_reserved_bits(wsi) != 0;
}

#if LWS_LIBRARY_VERSION_MAJOR == 4 && LWS_LIBRARY_VERSION_MINOR == 1 \
    && LWS_LIBRARY_VERSION_PATCH == 6 && defined(LWS_WITHOUT_EXTENSIONS) \
    && !defined(LWS_WITH_HTTP_PROXY)

/* The start of lws 4.1.6's struct _lws_websocket_related
 * (lib/roles/ws/private-lib-roles-ws.h) in this configuration. */
struct lws_ws_state_4_1_6 {
    unsigned char *rx_ubuf;
    uint8_t ping_payload_buf[128 - 3 + LWS_PRE];
    unsigned int final : 1;
    unsigned int frame_is_binary : 1;
    unsigned int all_zero_nonce : 1;
    unsigned int this_frame_masked : 1;
    unsigned int inside_frame : 1;
    unsigned int clean_buffer : 1;
    unsigned int payload_is_close : 1;
    unsigned int ping_pending_flag : 1;
    unsigned int continuation_possible : 1;
    unsigned int owed_a_fin : 1;
    unsigned int check_utf8 : 1;
    unsigned int defeat_check_utf8 : 1;
    unsigned int stashed_write_pending : 1;
    unsigned int send_check_ping : 1;
    unsigned int first_fragment : 1;
    unsigned int peer_has_sent_close : 1;
    uint8_t mask[4];
    size_t rx_packet_length;
    uint32_t rx_ubuf_head;
    uint32_t rx_ubuf_alloc;
    uint8_t ping_payload_len;
    uint8_t mask_idx;
    uint8_t opcode;
    uint8_t rsv;
    uint8_t rsv_first_msg;
    uint8_t close_in_ping_buffer_len;
    uint8_t utf8;
    uint8_t stashed_write_type;
    uint8_t tx_draining_stashed_wp;
    uint8_t ietf_spec_revision;
};
#define MIRROR_SIZE \
    (offsetof(struct lws_ws_state_4_1_6, ietf_spec_revision) \
     + sizeof(((struct lws_ws_state_4_1_6 *)0)->ietf_spec_revision))

static bool mirror_broken;

/* Copied rather than cast, so nothing here aliases lws's own type. */
static bool read_state(struct lws *wsi, struct lws_ws_state_4_1_6 *st)
{
    const unsigned char *close_payload = lws_get_close_payload(wsi);
    const unsigned char *base =
        close_payload - LWS_PRE - offsetof(struct lws_ws_state_4_1_6, ping_payload_buf);
    memcpy(st, base, MIRROR_SIZE);
    bool consistent = st->rsv == lws_get_reserved_bits(wsi)
                      && st->rx_packet_length == lws_remaining_packet_payload(wsi)
                      && (int)st->frame_is_binary == !!lws_frame_is_binary(wsi)
                      && (int)st->first_fragment == !!lws_is_first_fragment(wsi)
                      && st->ietf_spec_revision == 13;
    if (!consistent) {
        mirror_broken = true;
        sb_warn(NULL, NULL,
                "libwebsockets' frame state is not laid out as expected: "
                "unmasked client frames are no longer refused");
    }
    return consistent;
}

static bool mask_forbidden(struct lws *wsi)
{
    struct lws_ws_state_4_1_6 st;
    if (mirror_broken || !read_state(wsi, &st))
        return false;
    return !st.this_frame_masked;
}

#else

static bool mask_forbidden(struct lws *wsi)
{
    static bool warned;
    (void)wsi;
    if (!warned)
        sb_warn(NULL, NULL,
                "built against a libwebsockets other than 4.1.6: "
                "unmasked client frames are not refused");
    warned = true;
    return false;
}

#endif

bool ws_frame_is_forbidden(struct lws *wsi)
{
    return rsv_forbidden(wsi) || mask_forbidden(wsi);
}
