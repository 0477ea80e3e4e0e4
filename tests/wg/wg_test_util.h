/* Helpers shared by the WireGuard engine's Criterion suites (header only). */
#ifndef FLOE_TESTS_WG_TEST_UTIL_H
#define FLOE_TESTS_WG_TEST_UTIL_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Decodes hex into out (cap bytes); returns the byte count, fails the test on bad hex. */
static inline size_t hex2bin(uint8_t *out, size_t cap, const char *hex)
{
	size_t n = strlen(hex) / 2;

	cr_assert_eq(strlen(hex) % 2, 0, "odd hex length");
	cr_assert_leq(n, cap, "hex longer than buffer");
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		cr_assert_eq(sscanf(hex + 2 * i, "%2x", &v), 1, "bad hex");
		out[i] = (uint8_t)v;
	}
	return n;
}

#define cr_assert_bytes_eq(a, b, n, ...) cr_assert_eq(memcmp((a), (b), (n)), 0, __VA_ARGS__)

#endif
