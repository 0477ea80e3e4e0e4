/*
 * The JSON-lines logger: every line it writes is parsed back with jansson
 * and the decoded values compared with what was logged, whatever bytes went
 * in (quotes, control bytes, invalid UTF-8, lines past the length limit).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/log.h"

enum {
	CAPTURE_MAX_LINES = 256,
	THREADS = 4,
	LINES_PER_THREAD = 300,
	RL_THREADS = 4,
	RL_CALLS_PER_THREAD = 1000,
};

/* ---- a sink that keeps the lines ------------------------------------ */

typedef struct {
	char *lines[CAPTURE_MAX_LINES];
	size_t lens[CAPTURE_MAX_LINES];
	size_t n;
	size_t dropped;
} capture_t;

static capture_t cap;

static void capture_sink(void *user, const char *line, size_t len)
{
	capture_t *c = user;

	if (c->n == CAPTURE_MAX_LINES) {
		c->dropped++;
		return;
	}
	c->lines[c->n] = strndup(line, len);
	c->lens[c->n] = len;
	c->n++;
}

static void capture_start(void)
{
	memset(&cap, 0, sizeof(cap));
	floe_log_set_sink(capture_sink, &cap);
	floe_log_set_level(FLOE_LOG_DEBUG);
}

static void capture_stop(void)
{
	size_t i;

	floe_log_set_sink(NULL, NULL);
	for (i = 0; i < cap.n; i++)
		free(cap.lines[i]);
	memset(&cap, 0, sizeof(cap));
}

/* Parses captured line i, checking the framing every line must have. */
static json_t *parse_line(size_t i)
{
	json_error_t err;
	json_t *j;
	size_t k;

	cr_assert_lt(i, cap.n, "line %zu was not written (%zu lines)", i, cap.n);
	cr_assert_leq(cap.lens[i], (size_t)FLOE_LOG_LINE_MAX_BYTES);
	cr_assert_eq(cap.lines[i][cap.lens[i] - 1], '\n', "a line ends in a newline");
	for (k = 0; k + 1 < cap.lens[i]; k++)
		cr_assert_geq((unsigned char)cap.lines[i][k], 0x20,
			      "raw control byte 0x%02x at %zu in %s", cap.lines[i][k], k, cap.lines[i]);
	/* jansson rejects invalid UTF-8, so success also proves the encoding. */
	j = json_loads(cap.lines[i], JSON_REJECT_DUPLICATES, &err);
	cr_assert_not_null(j, "line %zu is not JSON (%s at %d): %s", i, err.text, err.position,
			   cap.lines[i]);
	cr_assert(json_is_object(j));
	return j;
}

static const char *str_of(json_t *j, const char *key)
{
	json_t *v = json_object_get(j, key);

	cr_assert(json_is_string(v), "\"%s\" is not a string", key);
	return json_string_value(v);
}

/* ---- escaping and UTF-8 --------------------------------------------- */

static const struct {
	const char *in;
	const char *want;
} strings[] = {
	{ "plain", "plain" },
	{ "", "" },
	{ "he said \"hi\"", "he said \"hi\"" },
	{ "C:\\path\\", "C:\\path\\" },
	{ "\n\t\r\b\f", "\n\t\r\b\f" },
	{ "\x01\x02\x1f\x7f", "\x01\x02\x1f\x7f" },
	{ "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80" },
	{ "\xF4\x8F\xBF\xBF", "\xF4\x8F\xBF\xBF" }, /* U+10FFFF, the last code point */
	{ "\xEF\xBF\xBD", "\xEF\xBF\xBD" },         /* a real U+FFFD passes */
	/* Invalid: each maximal ill-formed prefix becomes one U+FFFD. */
	{ "\x80", "\xEF\xBF\xBD" },
	{ "a\xC3(", "a\xEF\xBF\xBD(" },
	{ "\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD" },                 /* overlong '/' */
	{ "\xC1\xBF", "\xEF\xBF\xBD\xEF\xBF\xBD" },                 /* overlong */
	{ "\xE0\x80\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" }, /* overlong */
	{ "\xF0\x80\x80\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" },
	{ "\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" }, /* surrogate D800 */
	{ "\xF4\x90\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" }, /* > 10FFFF */
	{ "\xE2\x82", "\xEF\xBF\xBD" },                 /* truncated at the end */
	{ "\xE2\x82x", "\xEF\xBF\xBDx" },               /* truncated mid-string */
	{ "\xF0\x9F\x98", "\xEF\xBF\xBD" },
	{ "\xF5\xFF\xFE", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" },
	{ "\"\xFF\\\x01", "\"\xEF\xBF\xBD\\\x01" },
};

Test(log, strings_round_trip_through_a_json_parser)
{
	size_t i;

	capture_start();
	for (i = 0; i < FLOE_ARRAY_LEN(strings); i++)
		floe_log(FLOE_LOG_INFO, strings[i].in, strings[i].in,
			 FLOE_F_STR(strings[i].in, strings[i].in));
	cr_assert_eq(cap.n, FLOE_ARRAY_LEN(strings));
	for (i = 0; i < FLOE_ARRAY_LEN(strings); i++) {
		json_t *j = parse_line(i);

		cr_expect_str_eq(str_of(j, "message"), strings[i].want, "case %zu", i);
		cr_expect_str_eq(str_of(j, "target"), strings[i].want, "case %zu", i);
		/* Keys are escaped the same way as values. */
		cr_expect_str_eq(str_of(j, strings[i].want), strings[i].want, "case %zu", i);
		json_decref(j);
	}
	/* The short escapes are used where JSON has them, \u00XX elsewhere. */
	cr_expect_not_null(strstr(cap.lines[4], "\"message\":\"\\n\\t\\r\\b\\f\""), "%s",
			   cap.lines[4]);
	cr_expect_not_null(strstr(cap.lines[5], "\\u0001\\u0002\\u001f"), "%s", cap.lines[5]);
	capture_stop();
}

/* ---- format ------------------------------------------------------------- */

Test(log, fields_in_order_with_their_types)
{
	json_t *j;
	const char *line;
	const char *order[] = { "{\"time\":", ",\"severity\":\"WARNING\"", ",\"target\":\"floe::t\"",
				",\"message\":\"m\"", ",\"s\":\"v\"", ",\"neg\":-42",
				",\"big\":18446744073709551615", ",\"u\":7", ",\"f\":0.1",
				",\"third\":0.3333333333333333", ",\"nan\":null",
				",\"inf\":null", ",\"t\":true", ",\"no\":false", ",\"null\":null}\n" };
	const char *prev;
	size_t i;

	capture_start();
	floe_log(FLOE_LOG_WARNING, "floe::t", "m", FLOE_F_STR("s", "v"), FLOE_F_I64("neg", -42),
		 FLOE_F_U64("big", UINT64_MAX), FLOE_F_U64("u", 7), FLOE_F_F64("f", 0.1),
		 FLOE_F_F64("third", 1.0 / 3.0), FLOE_F_F64("nan", NAN),
		 FLOE_F_F64("inf", -INFINITY), FLOE_F_BOOL("t", true), FLOE_F_BOOL("no", false),
		 FLOE_F_STR("null", NULL));
	cr_assert_eq(cap.n, 1);
	line = cap.lines[0];
	/* Order is part of the format (time, severity, target, message, then
	 * the fields as passed): check it on the raw text. */
	prev = line;
	for (i = 0; i < FLOE_ARRAY_LEN(order); i++) {
		const char *at = strstr(line, order[i]);

		cr_assert_not_null(at, "missing %s in %s", order[i], line);
		cr_assert_geq(at, prev, "%s out of order in %s", order[i], line);
		prev = at;
	}
	/* UINT64_MAX does not fit jansson's integer: read numbers as reals. */
	j = json_loads(line, JSON_DECODE_INT_AS_REAL, NULL);
	cr_assert_not_null(j, "%s", line);
	cr_expect_eq(json_real_value(json_object_get(j, "neg")), -42.0);
	cr_expect_eq(json_real_value(json_object_get(j, "f")), 0.1, "0.1 reads back exactly");
	cr_expect_eq(json_real_value(json_object_get(j, "third")), 1.0 / 3.0);
	cr_expect(json_is_true(json_object_get(j, "t")));
	cr_expect(json_is_null(json_object_get(j, "nan")));
	json_decref(j);
	capture_stop();
}

Test(log, time_is_rfc3339_utc_with_microseconds)
{
	regex_t re;
	struct tm tm = { 0 };
	time_t before = time(NULL), logged;
	const char *t, *rest;
	json_t *j;

	cr_assert_eq(regcomp(&re,
			     "^[0-9]{4}-(0[1-9]|1[0-2])-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]"
			     "\\.[0-9]{6}Z$",
			     REG_EXTENDED | REG_NOSUB),
		     0);
	capture_start();
	floe_log(FLOE_LOG_INFO, "floe::t", "tick");
	j = parse_line(0);
	t = str_of(j, "time");
	cr_expect_eq(regexec(&re, t, 0, NULL, 0), 0, "time %s", t);
	/* And it is now, in UTC. */
	rest = strptime(t, "%Y-%m-%dT%H:%M:%S", &tm);
	cr_assert_not_null(rest);
	logged = timegm(&tm);
	cr_expect(logged >= before && logged <= time(NULL), "time %s is not now", t);
	json_decref(j);
	regfree(&re);
	capture_stop();
}

/* ---- levels ------------------------------------------------------------- */

static int evaluated;

static int side_effect(void)
{
	return ++evaluated;
}

Test(log, disabled_levels_emit_nothing_and_evaluate_no_field)
{
	static const char *const sev[] = { "DEBUG", "INFO", "WARNING", "ERROR" };
	int level, threshold;
	size_t want;

	capture_start();
	for (threshold = FLOE_LOG_DEBUG; threshold <= FLOE_LOG_OFF; threshold++) {
		floe_log_set_level((floe_log_level_t)threshold);
		cr_assert_eq(floe_log_get_level(), (floe_log_level_t)threshold);
		evaluated = 0;
		cap.n = 0;
		for (level = FLOE_LOG_DEBUG; level <= FLOE_LOG_ERROR; level++)
			floe_log((floe_log_level_t)level, "floe::t", "m",
				 FLOE_F_I64("n", side_effect()));
		want = (size_t)(FLOE_LOG_ERROR - threshold + 1) * (threshold <= FLOE_LOG_ERROR);
		cr_expect_eq(cap.n, want, "threshold %d: %zu lines", threshold, cap.n);
		cr_expect_eq((size_t)evaluated, want, "threshold %d: fields evaluated %d times",
			     threshold, evaluated);
		for (size_t i = 0; i < cap.n; i++) {
			json_t *j = parse_line(i);

			cr_expect_str_eq(str_of(j, "severity"), sev[threshold + (int)i]);
			json_decref(j);
			free(cap.lines[i]);
		}
		cap.n = 0;
	}
	/* The ratelimited form is filtered the same way. */
	floe_log_set_level(FLOE_LOG_ERROR);
	evaluated = 0;
	floe_log_ratelimited(FLOE_LOG_INFO, "floe::t", "m", FLOE_F_I64("n", side_effect()));
	cr_expect_eq(evaluated, 0);
	cr_expect_eq(cap.n, 0);
	capture_stop();
}

Test(log, level_names_parse)
{
	static const struct {
		const char *s;
		int rc;
		floe_log_level_t level;
	} cases[] = {
		{ "debug", 0, FLOE_LOG_DEBUG }, { "INFO", 0, FLOE_LOG_INFO },
		{ "warning", 0, FLOE_LOG_WARNING }, { "warn", 0, FLOE_LOG_WARNING },
		{ "Error", 0, FLOE_LOG_ERROR }, { "off", 0, FLOE_LOG_OFF },
		{ "", -EINVAL, 0 }, { "trace", -EINVAL, 0 }, { "debug ", -EINVAL, 0 },
		{ NULL, -EINVAL, 0 },
	};
	floe_log_level_t out;
	size_t i;

	for (i = 0; i < FLOE_ARRAY_LEN(cases); i++) {
		out = (floe_log_level_t)99;
		cr_expect_eq(floe_log_level_parse(cases[i].s, &out), cases[i].rc, "case %zu", i);
		if (cases[i].rc == 0)
			cr_expect_eq(out, cases[i].level, "case %zu", i);
		else
			cr_expect_eq(out, (floe_log_level_t)99, "failed parse leaves out alone");
	}
}

Test(log, floe_log_environment_variable)
{
	json_t *j;

	capture_start();
	setenv("FLOE_LOG", "error", 1);
	floe_log_init();
	cr_expect_eq(floe_log_get_level(), FLOE_LOG_ERROR);
	unsetenv("FLOE_LOG");
	floe_log_init();
	cr_expect_eq(floe_log_get_level(), FLOE_LOG_INFO, "default is info");
	cr_expect_eq(cap.n, 0);

	/* An unknown value falls back to info, and says so. */
	setenv("FLOE_LOG", "verbose", 1);
	floe_log_init();
	cr_expect_eq(floe_log_get_level(), FLOE_LOG_INFO);
	j = parse_line(0);
	cr_expect_str_eq(str_of(j, "severity"), "WARNING");
	cr_expect_str_eq(str_of(j, "FLOE_LOG"), "verbose");
	json_decref(j);

	/* Lazily, on the first call, when nobody called floe_log_init(). */
	setenv("FLOE_LOG", "debug", 1);
	atomic_store(&floe_log_threshold_, FLOE_LOG_THRESHOLD_UNSET_);
	floe_log(FLOE_LOG_DEBUG, "floe::t", "lazy");
	cr_expect_eq(cap.n, 2, "the debug line passed once FLOE_LOG was read");
	cr_expect_eq(floe_log_get_level(), FLOE_LOG_DEBUG);
	unsetenv("FLOE_LOG");
	capture_stop();
}

/* ---- truncation --------------------------------------------------------- */

Test(log, long_lines_are_cut_and_stay_valid_json)
{
	/* Sizes around the limit hit every cut point: inside the message,
	 * inside an escape or a multibyte character, in a key, in a number. */
	static const char *const units[] = { "a", "\xE2\x82\xAC", "\x01", "\"", "\xFF" };
	char *big = malloc(2 * FLOE_LOG_LINE_MAX_BYTES);
	size_t u, len, i;

	cr_assert_not_null(big);
	capture_start();
	for (u = 0; u < FLOE_ARRAY_LEN(units); u++) {
		for (len = 0; len < 2 * FLOE_LOG_LINE_MAX_BYTES - 4; len += 97) {
			size_t ul = strlen(units[u]), n = 0;
			json_t *j, *tr;

			while (n + ul < len) {
				memcpy(big + n, units[u], ul);
				n += ul;
			}
			big[n] = '\0';
			floe_log(FLOE_LOG_INFO, "floe::t", big, FLOE_F_I64("after", 123456789),
				 FLOE_F_STR("key", big), FLOE_F_U64("last", 1));
			j = parse_line(cap.n - 1);
			tr = json_object_get(j, "truncated");
			if (tr) {
				cr_expect(json_is_true(tr));
				/* What survives is a prefix, marked with an ellipsis. */
				cr_expect_null(json_object_get(j, "last"), "cut fields are gone");
			} else {
				cr_expect_eq(json_integer_value(json_object_get(j, "last")), 1);
				cr_expect_str_eq(str_of(j, "key"), str_of(j, "message"));
			}
			json_decref(j);
			free(cap.lines[--cap.n]);
		}
	}
	/* A long message keeps its start and ends in U+2026. */
	memset(big, 'x', FLOE_LOG_LINE_MAX_BYTES);
	big[FLOE_LOG_LINE_MAX_BYTES] = '\0';
	floe_log(FLOE_LOG_INFO, "floe::t", big);
	{
		json_t *j = parse_line(0);
		const char *m = str_of(j, "message");
		size_t ml = strlen(m);

		cr_expect(json_is_true(json_object_get(j, "truncated")));
		cr_expect_gt(ml, (size_t)FLOE_LOG_LINE_MAX_BYTES / 2);
		cr_expect_str_eq(m + ml - 3, "\xE2\x80\xA6");
		for (i = 0; i + 3 < ml; i++)
			cr_assert_eq(m[i], 'x');
		json_decref(j);
	}
	/* Many small fields: the ones that do not fit are dropped whole. */
	cap.n = 0;
	free(cap.lines[0]);
	floe_log(FLOE_LOG_INFO, "floe::t", "m", FLOE_F_STR("a", big + 200), FLOE_F_I64("n1", -1),
		 FLOE_F_I64("n2", -2), FLOE_F_I64("n3", -3), FLOE_F_I64("n4", -4),
		 FLOE_F_I64("n5", -5), FLOE_F_I64("n6", -6), FLOE_F_I64("n7", -7),
		 FLOE_F_I64("n8", -8), FLOE_F_I64("n9", -9), FLOE_F_I64("n10", -10),
		 FLOE_F_I64("n11", -11), FLOE_F_I64("n12", -12), FLOE_F_I64("n13", -13));
	{
		json_t *j = parse_line(0);

		cr_expect_eq(json_integer_value(json_object_get(j, "n1")), -1, "%s", cap.lines[0]);
		cr_expect(json_is_true(json_object_get(j, "truncated")), "%s", cap.lines[0]);
		json_decref(j);
	}
	free(big);
	capture_stop();
}

/* ---- rate limiting ------------------------------------------------------ */

Test(log, ratelimit_burst_then_suppressed_then_reported)
{
	floe_log_ratelimit_t rl = { 0 };
	uint64_t sup = 99;
	int i;

	for (i = 0; i < FLOE_LOG_RATELIMIT_BURST; i++) {
		cr_assert(floe_log_ratelimit_check(&rl, 5000, &sup), "burst line %d", i);
		cr_assert_eq(sup, 0);
	}
	for (i = 0; i < 7; i++)
		cr_assert_not(floe_log_ratelimit_check(&rl, 5000 + (uint64_t)i * 100, &sup));
	/* One ms before the window ends: still closed. */
	cr_assert_not(floe_log_ratelimit_check(&rl, 5000 + FLOE_LOG_RATELIMIT_INTERVAL_MS - 1, &sup));
	/* The window ends: the first line reports the 8 dropped ones, once. */
	cr_assert(floe_log_ratelimit_check(&rl, 5000 + FLOE_LOG_RATELIMIT_INTERVAL_MS, &sup));
	cr_assert_eq(sup, 8);
	for (i = 1; i < FLOE_LOG_RATELIMIT_BURST; i++) {
		cr_assert(floe_log_ratelimit_check(&rl, 6500, &sup));
		cr_assert_eq(sup, 0);
	}
	cr_assert_not(floe_log_ratelimit_check(&rl, 6500, &sup));
	/* A quiet window in between reports nothing stale. */
	cr_assert(floe_log_ratelimit_check(&rl, 9000, &sup));
	cr_assert_eq(sup, 1);
	cr_assert(floe_log_ratelimit_check(&rl, 20000, &sup));
	cr_assert_eq(sup, 0);
}

typedef struct {
	floe_log_ratelimit_t *rl;
	int passed;
} rl_arg_t;

static void *rl_thread(void *p)
{
	rl_arg_t *a = p;
	uint64_t sup;
	int i;

	for (i = 0; i < RL_CALLS_PER_THREAD; i++)
		if (floe_log_ratelimit_check(a->rl, 1000, &sup))
			a->passed++;
	return NULL;
}

Test(log, ratelimit_is_exact_across_threads)
{
	floe_log_ratelimit_t rl = { 0 };
	rl_arg_t args[RL_THREADS];
	pthread_t th[RL_THREADS];
	int i, passed = 0;
	uint64_t sup;

	for (i = 0; i < RL_THREADS; i++) {
		args[i] = (rl_arg_t){ .rl = &rl };
		cr_assert_eq(pthread_create(&th[i], NULL, rl_thread, &args[i]), 0);
	}
	for (i = 0; i < RL_THREADS; i++) {
		pthread_join(th[i], NULL);
		passed += args[i].passed;
	}
	cr_expect_eq(passed, FLOE_LOG_RATELIMIT_BURST);
	cr_assert(floe_log_ratelimit_check(&rl, 1000 + FLOE_LOG_RATELIMIT_INTERVAL_MS, &sup));
	cr_expect_eq(sup, (uint64_t)(RL_THREADS * RL_CALLS_PER_THREAD - FLOE_LOG_RATELIMIT_BURST));
}

static void log_from_one_site(int i)
{
	floe_log_ratelimited(FLOE_LOG_INFO, "floe::t", "Datagram rejected", FLOE_F_I64("i", i));
}

Test(log, ratelimited_macro_carries_suppressed)
{
	struct timespec gap = { .tv_sec = FLOE_LOG_RATELIMIT_INTERVAL_MS / 1000,
				.tv_nsec = (FLOE_LOG_RATELIMIT_INTERVAL_MS % 1000) * 1000000L +
					   50 * 1000000L };
	json_t *j;
	int i;

	capture_start();
	for (i = 0; i < 25; i++)
		log_from_one_site(i);
	cr_assert_eq(cap.n, FLOE_LOG_RATELIMIT_BURST);
	for (i = 0; i < FLOE_LOG_RATELIMIT_BURST; i++) {
		j = parse_line((size_t)i);
		cr_expect_eq(json_integer_value(json_object_get(j, "i")), i);
		cr_expect_null(json_object_get(j, "suppressed"));
		json_decref(j);
	}
	nanosleep(&gap, NULL);
	log_from_one_site(100);
	cr_assert_eq(cap.n, FLOE_LOG_RATELIMIT_BURST + 1);
	j = parse_line(FLOE_LOG_RATELIMIT_BURST);
	cr_expect_eq(json_integer_value(json_object_get(j, "i")), 100);
	cr_expect_eq(json_integer_value(json_object_get(j, "suppressed")), 25 - FLOE_LOG_RATELIMIT_BURST);
	json_decref(j);
	capture_stop();
}

/* ---- the default sink under concurrency --------------------------------- */

/*
 * One line written by log_thread/short_lines_thread: it parses (so it was
 * not torn or interleaved) and is the next of its thread's sequence (so
 * each thread's lines arrive whole and in its own order).
 */
static void check_thread_line(const char *line, int seen[THREADS], size_t index)
{
	json_error_t err;
	json_t *j = json_loads(line, 0, &err);
	long t;

	cr_assert_not_null(j, "torn or interleaved line %zu (%s): %.80s", index, err.text, line);
	t = (long)json_integer_value(json_object_get(j, "thread"));
	cr_assert(t >= 0 && t < THREADS, "line %zu: thread %ld", index, t);
	cr_assert_eq(json_integer_value(json_object_get(j, "seq")), seen[t], "line %zu", index);
	seen[t]++;
	json_decref(j);
}

static void *log_thread(void *p)
{
	long id = (long)(intptr_t)p;
	char pad[FLOE_LOG_LINE_MAX_BYTES];
	int i;

	memset(pad, 'p', sizeof(pad));
	for (i = 0; i < LINES_PER_THREAD; i++) {
		/* Lengths up to and past the limit, so some writes are large. */
		size_t n = ((size_t)i * 131u + (size_t)id * 17u) % sizeof(pad);

		pad[n] = '\0';
		floe_log(FLOE_LOG_INFO, "floe::t", "line", FLOE_F_I64("thread", id),
			 FLOE_F_I64("seq", i), FLOE_F_STR("pad", pad));
		pad[n] = 'p';
	}
	return NULL;
}

Test(log, threads_write_whole_lines_to_stderr)
{
	char path[] = "/tmp/log-floe-log-test-XXXXXX";
	int fd = mkstemp(path), saved, seen[THREADS] = { 0 };
	pthread_t th[THREADS];
	FILE *f;
	char *line = NULL;
	size_t cap_bytes = 0, lines = 0;
	ssize_t n;
	long i;

	cr_assert_geq(fd, 0);
	unlink(path);
	floe_log_set_sink(NULL, NULL);
	floe_log_set_level(FLOE_LOG_INFO);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	cr_assert_geq(saved, 0);
	cr_assert_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	for (i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, log_thread, (void *)(intptr_t)i), 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	dup2(saved, STDERR_FILENO);
	close(saved);

	cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
	f = fdopen(fd, "r");
	cr_assert_not_null(f);
	while ((n = getline(&line, &cap_bytes, f)) > 0) {
		cr_assert_leq((size_t)n, (size_t)FLOE_LOG_LINE_MAX_BYTES);
		check_thread_line(line, seen, lines++);
	}
	cr_expect_eq(lines, (size_t)THREADS * LINES_PER_THREAD);
	free(line);
	fclose(f);
}

/*
 * A sink that is not atomic by itself (it copies a line in small steps into
 * one shared buffer): the logger's lock must hand it one line at a time.
 */
typedef struct {
	char buf[THREADS * LINES_PER_THREAD * 128];
	size_t len;
} slow_sink_t;

static void slow_sink(void *user, const char *line, size_t len)
{
	slow_sink_t *s = user;
	size_t i;

	for (i = 0; i < len && s->len < sizeof(s->buf); i++) {
		s->buf[s->len++] = line[i];
		if (i % 16 == 0)
			sched_yield();
	}
}

static void *short_lines_thread(void *p)
{
	long id = (long)(intptr_t)p;
	int i;

	for (i = 0; i < LINES_PER_THREAD; i++)
		floe_log(FLOE_LOG_INFO, "floe::t", "line", FLOE_F_I64("thread", id),
			 FLOE_F_I64("seq", i));
	return NULL;
}

Test(log, custom_sink_gets_one_line_at_a_time)
{
	static slow_sink_t s;
	pthread_t th[THREADS];
	int seen[THREADS] = { 0 };
	char *line, *save = NULL;
	size_t lines = 0;
	long i;

	floe_log_set_level(FLOE_LOG_INFO);
	floe_log_set_sink(slow_sink, &s);
	for (i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, short_lines_thread, (void *)(intptr_t)i), 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	floe_log_set_sink(NULL, NULL);
	cr_assert_lt(s.len, sizeof(s.buf), "buffer large enough for every line");
	s.buf[s.len] = '\0';
	for (line = strtok_r(s.buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		check_thread_line(line, seen, lines++);
	cr_expect_eq(lines, (size_t)THREADS * LINES_PER_THREAD);
}

/* ---- odds and ends ------------------------------------------------------ */

Test(log, errno_survives_logging)
{
	capture_start();
	errno = EPROTO;
	floe_log(FLOE_LOG_INFO, "floe::t", "m", FLOE_F_STR("e", strerror(errno)));
	cr_expect_eq(errno, EPROTO);
	cr_expect_eq(cap.n, 1);
	capture_stop();
}

/* The recipe in docs/logging.md: jq reads a file of our lines. */
Test(log, jq_reads_the_lines)
{
	char path[] = "/tmp/log-floe-jq-XXXXXX", cmd[128], got[512];
	int fd = mkstemp(path);
	FILE *p;
	size_t i, n = 0;
	json_t *j;
	char want[3][256];

	cr_assert_geq(fd, 0);
	if (system("command -v jq >/dev/null 2>&1") != 0) {
		close(fd);
		unlink(path);
		cr_skip_test("jq is not installed: the jq recipe is not checked");
	}
	capture_start();
	floe_log(FLOE_LOG_INFO, "floe::conn", "Created new connection", FLOE_F_STR("cid", "c1"));
	floe_log(FLOE_LOG_WARNING, "floe::conn", "bad \"bytes\" \xFF\x01 here");
	floe_log(FLOE_LOG_ERROR, "floe::conn", "caf\xC3\xA9", FLOE_F_F64("x", NAN));
	for (i = 0; i < cap.n; i++) {
		cr_assert_eq(write(fd, cap.lines[i], cap.lens[i]), (ssize_t)cap.lens[i]);
		j = parse_line(i);
		snprintf(want[i], sizeof(want[i]), "%s %s %s\n", str_of(j, "time"),
			 str_of(j, "severity"), str_of(j, "message"));
		json_decref(j);
	}
	close(fd);
	snprintf(cmd, sizeof(cmd), "jq -r '\"\\(.time) \\(.severity) \\(.message)\"' %s", path);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	while (fgets(got, sizeof(got), p)) {
		cr_assert_lt(n, cap.n);
		cr_expect_str_eq(got, want[n]);
		n++;
	}
	cr_expect_eq(pclose(p), 0);
	cr_expect_eq(n, 3);
	unlink(path);
	capture_stop();
}
