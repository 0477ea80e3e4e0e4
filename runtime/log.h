/*
 * One logger for the process: one JSON object per line.
 *
 *   {"time":"2026-11-26T15:36:46.474123Z","severity":"INFO",
 *    "target":"floe::conn","message":"Created new connection","cid":"..."}
 *
 * Call sites pass typed fields, never hand-built JSON:
 *
 *   floe_log(FLOE_LOG_INFO, "floe::conn", "Created new connection",
 *            FLOE_F_STR("cid", cid), FLOE_F_U64("num_buffered", n));
 *
 * The level comes from FLOE_LOG (debug, info, warning, error, off; default
 * info), read by floe_log_init(). A disabled level costs one branch: the
 * macro tests the threshold before evaluating any field.
 *
 * Anything a remote packet can trigger goes through floe_log_ratelimited(),
 * which lets a burst of FLOE_LOG_RATELIMIT_BURST lines per call site through
 * every FLOE_LOG_RATELIMIT_INTERVAL_MS and counts the rest as suppressed; the
 * first line of the next window carries "suppressed":N.
 *
 * Strings are escaped for JSON and invalid UTF-8 becomes U+FFFD, so every
 * line parses whatever bytes a peer sent. Doubles that are not finite are
 * written as null. A line longer than FLOE_LOG_LINE_MAX_BYTES is cut inside
 * a string (which then ends in an ellipsis, U+2026) or before a field, and gets
 * "truncated":true. See docs/logging.md.
 *
 * Thread-safety: every function may be called from any thread. Each line is
 * written with a single write(2) under one lock, so lines never interleave.
 * Never log a key: tag a connection by its id (cid), never by a key.
 */
#ifndef FLOE_RUNTIME_LOG_H
#define FLOE_RUNTIME_LOG_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <floe/floe.h>

#include "runtime/common.h"

/* floe_log_level_t, floe_log_sink_fn and the level/sink setters are public:
 * include/floe/floe.h. */

enum floe_log_limits {
	/* Longer lines are truncated, still valid JSON. Equal to PIPE_BUF, so
	 * even processes sharing one pipe never see their lines interleave. */
	FLOE_LOG_LINE_MAX_BYTES = 4096,
	FLOE_LOG_RATELIMIT_BURST = 10,
	FLOE_LOG_RATELIMIT_INTERVAL_MS = 1000,
};

typedef enum {
	FLOE_LOG_FIELD_END = 0, /* terminates the variadic list; added by the macros */
	FLOE_LOG_FIELD_STR,
	FLOE_LOG_FIELD_I64,
	FLOE_LOG_FIELD_U64,
	FLOE_LOG_FIELD_F64,
	FLOE_LOG_FIELD_BOOL,
} floe_log_field_type_t;

typedef struct {
	const char *key;
	floe_log_field_type_t type;
	union {
		const char *s; /* NULL is written as null */
		int64_t i;
		uint64_t u;
		double f;
		bool b;
	} v;
} floe_log_field_t;

#define FLOE_F_STR(k, x)  ((floe_log_field_t){ .key = (k), .type = FLOE_LOG_FIELD_STR, .v.s = (x) })
#define FLOE_F_I64(k, x)  ((floe_log_field_t){ .key = (k), .type = FLOE_LOG_FIELD_I64, .v.i = (int64_t)(x) })
#define FLOE_F_U64(k, x)  ((floe_log_field_t){ .key = (k), .type = FLOE_LOG_FIELD_U64, .v.u = (uint64_t)(x) })
#define FLOE_F_F64(k, x)  ((floe_log_field_t){ .key = (k), .type = FLOE_LOG_FIELD_F64, .v.f = (double)(x) })
#define FLOE_F_BOOL(k, x) ((floe_log_field_t){ .key = (k), .type = FLOE_LOG_FIELD_BOOL, .v.b = (x) })
#define FLOE_F_END        ((floe_log_field_t){ .key = NULL, .type = FLOE_LOG_FIELD_END })

/*
 * Sink (floe_log_sink_fn, floe.h): receives one complete line, including the trailing '\n', at most
 * FLOE_LOG_LINE_MAX_BYTES long. It runs under the logger's lock, so lines
 * reach it one at a time; it must not log itself (that would deadlock).
 */

/* The threshold; read with one relaxed load by the macros. Before the level
 * is known it holds FLOE_LOG_THRESHOLD_UNSET_, which lets the first call
 * through to read FLOE_LOG (lazy initialisation). */
#define FLOE_LOG_THRESHOLD_UNSET_ (-1)
extern _Atomic int floe_log_threshold_;

/* Reads FLOE_LOG from the environment and sets the level (default info; an
 * unknown value also gives info, with a warning line). Idempotent: calling it
 * again re-reads the same variable. The first log call does it lazily. */
FLOE_EXPORT void floe_log_init(void);
FLOE_EXPORT void floe_log_set_level(floe_log_level_t level);
FLOE_EXPORT floe_log_level_t floe_log_get_level(void);
/* Parses "debug"/"info"/"warning"/"warn"/"error"/"off" (any case);
 * -EINVAL otherwise (NULL included). */
FLOE_EXPORT int floe_log_level_parse(const char *s, floe_log_level_t *out);
/* NULL restores the default sink (one write(2) to stderr per line). */
FLOE_EXPORT void floe_log_set_sink(floe_log_sink_fn *fn, void *user);

/* Slow path of floe_log_enabled() before the level is known. */
FLOE_EXPORT bool floe_log_enabled_slow_(floe_log_level_t level);

static inline bool floe_log_enabled(floe_log_level_t level)
{
	int t = atomic_load_explicit(&floe_log_threshold_, memory_order_relaxed);

	/* A disabled level costs this one compare: UNSET is below every level,
	 * so only enabled (or not yet known) levels reach the second test. */
	return (int)level >= t && (FLOE_LIKELY(t != FLOE_LOG_THRESHOLD_UNSET_) ||
				   floe_log_enabled_slow_(level));
}

/* Implementation of the macros; fields follow msg and end with FLOE_F_END. */
FLOE_EXPORT void floe_log_emit_(floe_log_level_t level, const char *target, const char *msg, ...);
/* Same, with a "suppressed":N field after the others when N > 0. */
FLOE_EXPORT void floe_log_emit_rl_(floe_log_level_t level, const char *target, uint64_t suppressed,
				   const char *msg, ...);

/*
 * Per-call-site limiter for floe_log_ratelimited(): zero-initialised (a
 * static), lock-free. state packs the window's start (ms, upper bits) and
 * the lines passed in it (lower FLOE_LOG_RL_COUNT_BITS bits) so one
 * compare-and-swap moves both; suppressed counts the lines dropped since the
 * last line that reported them.
 */
#define FLOE_LOG_RL_COUNT_BITS 20
typedef struct {
	_Atomic uint64_t state;
	_Atomic uint64_t suppressed;
} floe_log_ratelimit_t;

/* true when this call may log at now_ms (any monotonic ms clock; 0 is
 * treated as "no window yet"); counts it as suppressed otherwise. On true,
 * *suppressed_out is the number of lines dropped before this window opened
 * (0 inside a window). Exposed for tests that drive time by hand. */
FLOE_EXPORT FLOE_MUST_CHECK bool floe_log_ratelimit_check(floe_log_ratelimit_t *rl, uint64_t now_ms,
							  uint64_t *suppressed_out);
/* floe_log_ratelimit_check() at CLOCK_MONOTONIC now. */
FLOE_EXPORT FLOE_MUST_CHECK bool floe_log_ratelimit_pass_(floe_log_ratelimit_t *rl,
							  uint64_t *suppressed_out);

#define floe_log(level, target, ...)                                              \
	do {                                                                      \
		if (floe_log_enabled(level))                                      \
			floe_log_emit_((level), (target), __VA_ARGS__, FLOE_F_END);  \
	} while (0)

#define floe_log_ratelimited(level, target, ...)                                  \
	do {                                                                      \
		static floe_log_ratelimit_t floe_rl_;                             \
		uint64_t floe_rl_sup_;                                            \
		if (floe_log_enabled(level) &&                                    \
		    floe_log_ratelimit_pass_(&floe_rl_, &floe_rl_sup_))           \
			floe_log_emit_rl_((level), (target), floe_rl_sup_,        \
					  __VA_ARGS__, FLOE_F_END);               \
	} while (0)

#endif
