/*
 * The JSON-lines logger (runtime/log.h, docs/logging.md).
 *
 * A line is built in a stack buffer of FLOE_LOG_LINE_MAX_BYTES and handed to
 * the sink in one call under one lock; the default sink writes it with one
 * write(2). Building needs no lock and no allocation, so threads only
 * serialise on the final hand-off.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "runtime/log.h"

enum {
	/* Room kept free at the end of the buffer so a cut line can always be
	 * closed: ellipsis (3) + '"' + ",\"truncated\":true" (17) + '}' + '\n'. */
	LINE_CLOSE_RESERVE_BYTES = 32,
	/* Longest JSON number we print: 20 digits of a u64, a sign, or %.17g. */
	NUMBER_MAX_BYTES = 32,
	UTF8_REPLACEMENT_BYTES = 3,
};

static const char UTF8_REPLACEMENT[] = "\xEF\xBF\xBD"; /* U+FFFD */
static const char UTF8_ELLIPSIS[] = "\xE2\x80\xA6";    /* U+2026 */

_Atomic int floe_log_threshold_ = FLOE_LOG_THRESHOLD_UNSET_;

/* The sink and its user pointer; the lock also serialises every line. */
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static floe_log_sink_fn *sink_fn;
static void *sink_user;

static const char *const severity_names[] = {
	[FLOE_LOG_DEBUG] = "DEBUG",
	[FLOE_LOG_INFO] = "INFO",
	[FLOE_LOG_WARNING] = "WARNING",
	[FLOE_LOG_ERROR] = "ERROR",
};

/* ---- level ---------------------------------------------------------- */

int floe_log_level_parse(const char *s, floe_log_level_t *out)
{
	static const struct {
		const char *name;
		floe_log_level_t level;
	} names[] = {
		{ "debug", FLOE_LOG_DEBUG }, { "info", FLOE_LOG_INFO },
		{ "warning", FLOE_LOG_WARNING }, { "warn", FLOE_LOG_WARNING },
		{ "error", FLOE_LOG_ERROR }, { "off", FLOE_LOG_OFF },
	};
	size_t i;

	if (!s || !out)
		return -EINVAL;
	for (i = 0; i < FLOE_ARRAY_LEN(names); i++) {
		if (strcasecmp(s, names[i].name) == 0) {
			*out = names[i].level;
			return 0;
		}
	}
	return -EINVAL;
}

/* The level FLOE_LOG asks for; *bad is set when it names no level. */
static floe_log_level_t env_level(const char **bad)
{
	const char *v = getenv("FLOE_LOG");
	floe_log_level_t level = FLOE_LOG_INFO;

	*bad = NULL;
	if (v && *v && floe_log_level_parse(v, &level) != 0) {
		*bad = v;
		level = FLOE_LOG_INFO;
	}
	return level;
}

static void warn_bad_env(const char *bad)
{
	if (bad)
		floe_log(FLOE_LOG_WARNING, "floe::log", "FLOE_LOG names no level, using info",
			 FLOE_F_STR("FLOE_LOG", bad),
			 FLOE_F_STR("expected", "debug, info, warning, error or off"));
}

void floe_log_init(void)
{
	const char *bad;

	atomic_store_explicit(&floe_log_threshold_, (int)env_level(&bad), memory_order_relaxed);
	warn_bad_env(bad);
}

bool floe_log_enabled_slow_(floe_log_level_t level)
{
	const char *bad;
	int expected = FLOE_LOG_THRESHOLD_UNSET_;
	int want = (int)env_level(&bad);

	/* Only the first caller installs the environment's level: a level set
	 * explicitly in the meantime (floe_log_set_level) wins. */
	if (atomic_compare_exchange_strong(&floe_log_threshold_, &expected, want))
		warn_bad_env(bad);
	return (int)level >= atomic_load_explicit(&floe_log_threshold_, memory_order_relaxed);
}

void floe_log_set_level(floe_log_level_t level)
{
	if ((int)level < FLOE_LOG_DEBUG || level > FLOE_LOG_OFF)
		return;
	atomic_store_explicit(&floe_log_threshold_, (int)level, memory_order_relaxed);
}

floe_log_level_t floe_log_get_level(void)
{
	int t = atomic_load_explicit(&floe_log_threshold_, memory_order_relaxed);

	if (t == FLOE_LOG_THRESHOLD_UNSET_) {
		(void)floe_log_enabled_slow_(FLOE_LOG_DEBUG);
		t = atomic_load_explicit(&floe_log_threshold_, memory_order_relaxed);
	}
	return (floe_log_level_t)t;
}

void floe_log_set_sink(floe_log_sink_fn *fn, void *user)
{
	pthread_mutex_lock(&sink_lock);
	sink_fn = fn;
	sink_user = fn ? user : NULL;
	pthread_mutex_unlock(&sink_lock);
}

/* ---- rate limiting -------------------------------------------------- */

#define RL_COUNT_MASK ((UINT64_C(1) << FLOE_LOG_RL_COUNT_BITS) - 1)

bool floe_log_ratelimit_check(floe_log_ratelimit_t *rl, uint64_t now_ms, uint64_t *suppressed_out)
{
	uint64_t old = atomic_load_explicit(&rl->state, memory_order_relaxed);
	uint64_t start, count, next;
	bool new_window;

	/* 0 marks "no window yet" in state, so a window never starts at 0. */
	if (now_ms == 0)
		now_ms = 1;
	for (;;) {
		start = old >> FLOE_LOG_RL_COUNT_BITS;
		count = old & RL_COUNT_MASK;
		new_window = start == 0 || now_ms < start ||
			     now_ms - start >= FLOE_LOG_RATELIMIT_INTERVAL_MS;
		if (new_window) {
			next = (now_ms << FLOE_LOG_RL_COUNT_BITS) | 1;
		} else if (count >= FLOE_LOG_RATELIMIT_BURST) {
			atomic_fetch_add_explicit(&rl->suppressed, 1, memory_order_relaxed);
			return false;
		} else {
			next = old + 1;
		}
		if (atomic_compare_exchange_weak_explicit(&rl->state, &old, next,
							  memory_order_relaxed,
							  memory_order_relaxed))
			break;
	}
	/* The line that opens a window reports what the last one dropped. A
	 * thread still counting into the old window may add after this exchange:
	 * that count is reported by the next window instead, never lost. */
	*suppressed_out = new_window ? atomic_exchange_explicit(&rl->suppressed, 0,
								 memory_order_relaxed)
				     : 0;
	return true;
}

bool floe_log_ratelimit_pass_(floe_log_ratelimit_t *rl, uint64_t *suppressed_out)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return floe_log_ratelimit_check(rl, (uint64_t)ts.tv_sec * 1000u +
						    (uint64_t)ts.tv_nsec / 1000000u,
					suppressed_out);
}

/* ---- line building -------------------------------------------------- */

/*
 * A line under construction. Everything up to limit may hold content; the
 * bytes past it are kept for closing a cut line. Once truncated is set,
 * nothing more is appended.
 */
typedef struct {
	char buf[FLOE_LOG_LINE_MAX_BYTES];
	size_t len;
	size_t limit;
	bool truncated;
} line_t;

static bool put(line_t *l, const char *s, size_t n)
{
	if (l->truncated || l->len + n > l->limit) {
		l->truncated = true;
		return false;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	return true;
}

static bool put_str(line_t *l, const char *s)
{
	return put(l, s, strlen(s));
}

/*
 * Length of the well-formed UTF-8 sequence at s (RFC 3629, table 3-7 of
 * Unicode), or 0 when it is not one. *consumed_bad is then how many bytes
 * form the maximal ill-formed prefix, replaced by one U+FFFD as Unicode
 * recommends (so "\xE2\x82" + "x" gives U+FFFD then "x").
 */
static size_t utf8_seq(const unsigned char *s, const unsigned char *end, size_t *consumed_bad)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xBF;
	size_t need, i;

	if (c >= 0xC2 && c <= 0xDF) {
		need = 2;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 3;
		if (c == 0xE0)
			lo = 0xA0; /* overlong */
		else if (c == 0xED)
			hi = 0x9F; /* UTF-16 surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 4;
		if (c == 0xF0)
			lo = 0x90; /* overlong */
		else if (c == 0xF4)
			hi = 0x8F; /* above U+10FFFF */
	} else {
		/* Continuation byte without a lead, C0/C1 (overlong), F5..FF. */
		*consumed_bad = 1;
		return 0;
	}
	for (i = 1; i < need; i++) {
		if (s + i >= end || s[i] < lo || s[i] > hi) {
			*consumed_bad = i;
			return 0;
		}
		lo = 0x80;
		hi = 0xBF;
	}
	return need;
}

/*
 * Appends s as a JSON string. When it does not fit, the string is cut at a
 * character boundary, ends in an ellipsis and is closed, so the line stays
 * valid JSON; the caller sees false.
 */
static bool put_json_string(line_t *l, const char *s)
{
	const unsigned char *p = (const unsigned char *)s, *end;
	char esc[8];
	size_t n, bad;

	if (!s)
		return put(l, "null", 4);
	if (!put(l, "\"", 1))
		return false;
	end = p + strlen(s);
	while (p < end) {
		const char *out = (const char *)p;

		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			out = esc;
			n = 2;
			p++;
		} else if (*p < 0x20) {
			static const char short_esc[] = { ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n',
							  ['\r'] = 'r', ['\t'] = 't' };

			if (*p < sizeof(short_esc) && short_esc[*p])
				n = (size_t)snprintf(esc, sizeof(esc), "\\%c", short_esc[*p]);
			else
				n = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", *p);
			out = esc;
			p++;
		} else if (*p < 0x80) {
			n = 1;
			p++;
		} else if ((n = utf8_seq(p, end, &bad)) > 0) {
			p += n;
		} else {
			out = UTF8_REPLACEMENT;
			n = UTF8_REPLACEMENT_BYTES;
			p += bad;
		}
		if (!put(l, out, n)) {
			/* The reserve always has room for this close. */
			memcpy(l->buf + l->len, UTF8_ELLIPSIS, sizeof(UTF8_ELLIPSIS) - 1);
			l->len += sizeof(UTF8_ELLIPSIS) - 1;
			l->buf[l->len++] = '"';
			return false;
		}
	}
	return put(l, "\"", 1);
}

static bool put_number(line_t *l, const floe_log_field_t *f)
{
	char num[NUMBER_MAX_BYTES];
	int n;

	switch (f->type) {
	case FLOE_LOG_FIELD_I64:
		n = snprintf(num, sizeof(num), "%lld", (long long)f->v.i);
		break;
	case FLOE_LOG_FIELD_U64:
		n = snprintf(num, sizeof(num), "%llu", (unsigned long long)f->v.u);
		break;
	case FLOE_LOG_FIELD_F64:
		/* JSON has no NaN or infinity. */
		if (!isfinite(f->v.f))
			return put(l, "null", 4);
		/* Shortest of %.15g/%.17g that reads back as the same double. */
		n = snprintf(num, sizeof(num), "%.15g", f->v.f);
		if (strtod(num, NULL) != f->v.f)
			n = snprintf(num, sizeof(num), "%.17g", f->v.f);
		break;
	case FLOE_LOG_FIELD_BOOL:
		return put_str(l, f->v.b ? "true" : "false");
	default:
		return put(l, "null", 4);
	}
	return put(l, num, (size_t)n);
}

/*
 * Appends ,"key":value. A field cut in its key or in a number is removed
 * whole; a string value cut short stays, closed (put_json_string).
 */
static void put_field(line_t *l, const floe_log_field_t *f)
{
	size_t mark = l->len;

	if (l->truncated)
		return;
	if (!put(l, ",", 1) || !put_json_string(l, f->key) || !put(l, ":", 1))
		goto drop;
	if (f->type == FLOE_LOG_FIELD_STR) {
		size_t value_mark = l->len;

		/* A string cut inside stays; one that did not even start goes. */
		if (put_json_string(l, f->v.s) || l->len != value_mark)
			return;
	} else if (put_number(l, f)) {
		return;
	}
drop:
	l->len = mark;
	l->truncated = true;
}

static void put_time(line_t *l)
{
	struct timespec ts;
	struct tm tm;
	char t[40];
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(t, sizeof(t), "{\"time\":\"%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(t + n, sizeof(t) - n, ".%06ldZ\"", ts.tv_nsec / 1000);
	put(l, t, n);
}

static void default_sink(const char *line, size_t len)
{
	ssize_t w;

	/* One write(2) per line; a short write (a full pipe with O_NONBLOCK)
	 * is finished rather than lost, EINTR retried. Errors are dropped: a
	 * logger has nowhere to report them. */
	while (len > 0) {
		w = write(STDERR_FILENO, line, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		line += w;
		len -= (size_t)w;
	}
}

static void emit(floe_log_level_t level, const char *target, uint64_t suppressed, const char *msg,
		 va_list ap)
{
	line_t l = { .len = 0, .limit = sizeof(l.buf) - LINE_CLOSE_RESERVE_BYTES };
	floe_log_field_t f;
	int saved_errno = errno;

	/* A level can only be checked here once the lazy init has run. */
	if ((int)level < FLOE_LOG_DEBUG || level >= FLOE_LOG_OFF || !floe_log_enabled(level))
		return;
	put_time(&l);
	put_str(&l, ",\"severity\":\"");
	put_str(&l, severity_names[level]);
	put_str(&l, "\",\"target\":");
	put_json_string(&l, target);
	put_str(&l, ",\"message\":");
	put_json_string(&l, msg);
	for (f = va_arg(ap, floe_log_field_t); f.type != FLOE_LOG_FIELD_END;
	     f = va_arg(ap, floe_log_field_t))
		put_field(&l, &f);
	if (suppressed)
		put_field(&l, &FLOE_F_U64("suppressed", suppressed));
	if (l.truncated) {
		memcpy(l.buf + l.len, ",\"truncated\":true", 17);
		l.len += 17;
	}
	l.buf[l.len++] = '}';
	l.buf[l.len++] = '\n';

	pthread_mutex_lock(&sink_lock);
	if (sink_fn)
		sink_fn(sink_user, l.buf, l.len);
	else
		default_sink(l.buf, l.len);
	pthread_mutex_unlock(&sink_lock);
	/* Logging in an error path must not change the errno being reported. */
	errno = saved_errno;
}

void floe_log_emit_(floe_log_level_t level, const char *target, const char *msg, ...)
{
	va_list ap;

	va_start(ap, msg);
	emit(level, target, 0, msg, ap);
	va_end(ap);
}

void floe_log_emit_rl_(floe_log_level_t level, const char *target, uint64_t suppressed,
		       const char *msg, ...)
{
	va_list ap;

	va_start(ap, msg);
	emit(level, target, suppressed, msg, ap);
	va_end(ap);
}
