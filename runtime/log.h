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
 * every FLOE_LOG_RATELIMIT_INTERVAL_MS and counts the rest as suppressed.
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

typedef enum {
	FLOE_LOG_DEBUG = 0,
	FLOE_LOG_INFO = 1,
	FLOE_LOG_WARNING = 2,
	FLOE_LOG_ERROR = 3,
	FLOE_LOG_OFF = 4,
} floe_log_level_t;

enum floe_log_limits {
	FLOE_LOG_LINE_MAX_BYTES = 4096, /* longer lines are truncated, still valid JSON */
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

/* Sink: receives one complete line, including the trailing '\n'. */
typedef void (floe_log_sink_fn)(void *user, const char *line, size_t len);

/* The threshold; read with one relaxed load by the macros. */
extern _Atomic int floe_log_threshold_;

/* Reads FLOE_LOG from the environment. Idempotent. */
void floe_log_init(void);
void floe_log_set_level(floe_log_level_t level);
/* Parses "debug"/"info"/"warning"/"warn"/"error"/"off"; -EINVAL otherwise. */
int floe_log_level_parse(const char *s, floe_log_level_t *out);
/* NULL restores the default sink (stderr). */
void floe_log_set_sink(floe_log_sink_fn *fn, void *user);

static inline bool floe_log_enabled(floe_log_level_t level)
{
	return (int)level >= atomic_load_explicit(&floe_log_threshold_, memory_order_relaxed);
}

/* Implementation of the macros; fields follow msg and end with FLOE_F_END. */
void floe_log_emit_(floe_log_level_t level, const char *target, const char *msg, ...);

/* Per-call-site limiter for floe_log_ratelimited(). */
typedef struct {
	_Atomic uint64_t window_start_ms;
	_Atomic uint32_t count;
	_Atomic uint64_t suppressed;
} floe_log_ratelimit_t;
/* true when this call may log; counts suppressed lines otherwise. */
bool floe_log_ratelimit_pass_(floe_log_ratelimit_t *rl);

#define floe_log(level, target, ...)                                              \
	do {                                                                      \
		if (floe_log_enabled(level))                                      \
			floe_log_emit_((level), (target), __VA_ARGS__, FLOE_F_END);  \
	} while (0)

#define floe_log_ratelimited(level, target, ...)                                  \
	do {                                                                      \
		static floe_log_ratelimit_t floe_rl_;                             \
		if (floe_log_enabled(level) && floe_log_ratelimit_pass_(&floe_rl_))  \
			floe_log_emit_((level), (target), __VA_ARGS__, FLOE_F_END);  \
	} while (0)

#endif
