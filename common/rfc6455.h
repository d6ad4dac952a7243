/*
 * rfc6455.h - the checks of RFC 6455 that the node makes itself, as pure
 * functions: UTF-8 validation of text messages that may arrive in any
 * number of pieces, and the parts of an upgrade request libwebsockets
 * would otherwise answer by hanging up.
 */
#ifndef SB_RFC6455_H
#define SB_RFC6455_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Close codes for a client that breaks the protocol. */
#define SB_CLOSE_PROTOCOL_ERROR 1002
#define SB_CLOSE_INVALID_PAYLOAD 1007

/*
 * Validate the next piece of a UTF-8 text (RFC 3629: no overlong forms, no
 * UTF-16 surrogates, nothing beyond U+10FFFF). *state is 0 at the start of
 * a text and whenever a piece ends between characters; a character may be
 * split across pieces at any byte. Returns 0 and updates *state, or -1 at
 * the first byte that cannot be UTF-8. A whole text is valid when every
 * piece returned 0 and *state is 0 after the last one.
 */
int sb_utf8_feed(uint8_t *state, const void *buf, size_t len);

/* A Sec-WebSocket-Key value as RFC 6455 §4.1 requires: the base64 form
 * of 16 bytes, which is 22 base64 characters and "==". */
bool sb_ws_key_is_valid(const char *key, size_t len);

/* True when the comma-separated header value `list` (e.g. Connection:
 * keep-alive, Upgrade) holds `token`, compared case-insensitively. */
bool sb_http_list_has_token(const char *list, size_t len, const char *token);

#endif
