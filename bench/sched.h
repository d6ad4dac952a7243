/*
 * sched.h - when each sender sends next: a binary min-heap of participants
 * ordered by next_send_us.
 *
 * The relay mode keeps every sender in it; a timer fires at the earliest
 * due time and pops every sender that is due, so the cost per message is
 * O(log senders) whatever the rate, and no timer is armed per sender.
 */
#ifndef BENCH_SCHED_H
#define BENCH_SCHED_H

#include <stdint.h>

#include "fleet.h"

int sched_init(uint32_t capacity);
void sched_free(void);
void sched_push(participant *p);
participant *sched_peek(void);
participant *sched_pop(void);
uint32_t sched_size(void);

#endif
