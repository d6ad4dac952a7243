/*
 * modes.h - the three measurements switchboard-bench can run.
 *
 * Each is a bench_mode_ops for the runner: mode_relay.c, mode_join.c and
 * mode_capacity.c. They share the fleet (rooms, participants, events) and
 * keep only what they measure.
 */
#ifndef BENCH_MODES_H
#define BENCH_MODES_H

#include "runner.h"

extern const bench_mode_ops mode_relay;
extern const bench_mode_ops mode_join;
extern const bench_mode_ops mode_capacity;

#endif
