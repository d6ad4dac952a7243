/*
 * overload.c - pause client input while a subscriber falls behind (see
 * overload.h).
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "overload.h"
#include "redis_bus.h"
#include "subscriber_backlog.h"
#include "ws_session.h"

static struct {
    const sb_config *cfg;
    struct event *timer;
    bool in_flight;
    bool active;
} ov;

static void set_active(bool active, long long backlog)
{
    if (active == ov.active)
        return;
    ov.active = active;
    if (active) {
        metrics.overload_pauses++;
        sb_warn(NULL, NULL, "overloaded: a subscriber is %lld bytes behind; client input paused",
                backlog);
    } else {
        sb_warn(NULL, NULL, "client input resumed (subscriber backlog %lld bytes)", backlog);
    }
    ws_sessions_pause_input(active);
}

static void on_client_list(redisReply *r, void *privdata)
{
    (void)privdata;
    ov.in_flight = false;
    if (!r || r->type != REDIS_REPLY_STRING) {
        set_active(false, -1); /* no answer: do not hold the clients */
        return;
    }
    long long backlog = sb_subscriber_backlog(r->str, r->len);
    long long high = (long long)ov.cfg->overload_backlog;
    if (!ov.active && backlog >= high)
        set_active(true, backlog);
    else if (ov.active && backlog < high / 4)
        set_active(false, backlog);
}

static void on_check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (ov.in_flight)
        return;
    if (bus_client_list_pubsub(on_client_list, NULL) == 0)
        ov.in_flight = true;
    else
        set_active(false, -1);
}

int overload_init(struct event_base *base, const sb_config *cfg)
{
    ov.cfg = cfg;
    if (!cfg->overload_backlog)
        return 0;
    ov.timer = event_new(base, -1, EV_PERSIST, on_check, NULL);
    struct timeval tv = sb_clock_timeval(OVERLOAD_CHECK_MS);
    return ov.timer && event_add(ov.timer, &tv) == 0 ? 0 : -1;
}

void overload_stop(void)
{
    if (ov.timer)
        event_free(ov.timer);
    ov.timer = NULL;
}

bool overload_active(void)
{
    return ov.active;
}
