/*
 * httpclient.h - a minimal blocking HTTP/1.1 client for the integration
 * tests.
 *
 * One request per TCP connection ("Connection: close") to 127.0.0.1:port,
 * every read and write bounded by poll() against one deadline. Answers are
 * read to the end: by Content-Length, by chunked transfer coding, or to
 * EOF. It is deliberately small and strict so the tests see exactly what
 * the server sent.
 */
#ifndef SB_IT_HTTPCLIENT_H
#define SB_IT_HTTPCLIENT_H

#include <stddef.h>
#include <jansson.h>

#define HTTP_TIMEOUT_MS 10000

typedef struct {
    int status;          /* e.g. 200 */
    char *head;          /* status line and headers, NUL-terminated */
    char *body;          /* NUL-terminated (the NUL is not counted) */
    size_t body_len;
} http_resp;

/*
 * Send `method path` to 127.0.0.1:port. `headers` is a NULL-terminated
 * list of "Name: value" lines (or NULL). When `body` is non-NULL it is sent
 * with Content-Length (and Content-Type: application/json unless a header
 * in `headers` names a Content-Type); when NULL no body and no
 * Content-Length are sent. Returns 0 and fills *out, or -1 on a transport
 * error or timeout (then `err` says why).
 */
int http_request(int port, const char *method, const char *path,
                 const char *const *headers, const char *body, size_t body_len,
                 int timeout_ms, http_resp *out, char *err, size_t errlen);

/* Value of the first header `name` (case-insensitive) copied into buf
 * (trimmed); returns buf, or NULL when absent. */
const char *http_header(const http_resp *r, const char *name, char *buf, size_t buflen);

/* Body parsed as JSON, or NULL. Caller decrefs. */
json_t *http_json(const http_resp *r);

void http_resp_free(http_resp *r);

#endif
