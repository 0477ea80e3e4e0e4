/*
 * Syntax of the protocol's fields, shared by decoding, the portal's
 * configuration and the gateway: ids, keys, UUIDs, port lists, CIDRs and
 * RFC 3339 times. See syntax.h.
 */
#include "transport/signal/syntax.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

bool floe_signal_id_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= FLOE_SIGNAL_ID_CAP)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
		if (!ok)
			return false;
	}
	return true;
}

bool floe_signal_key_valid(const char *b64)
{
	uint8_t key[FLOE_SIGNAL_PSK_LEN];
	size_t len = 0;
	bool ok;

	if (strlen(b64) != FLOE_SIGNAL_KEY_CAP - 1)
		return false;
	ok = sodium_base642bin(key, sizeof(key), b64, strlen(b64), NULL, &len, NULL,
			       sodium_base64_VARIANT_ORIGINAL) == 0 &&
	     len == sizeof(key);
	sodium_memzero(key, sizeof(key));
	return ok;
}

bool floe_signal_uuid_valid(const char *s)
{
	if (strlen(s) != FLOE_SIGNAL_CID_CAP - 1)
		return false;
	for (int i = 0; i < FLOE_SIGNAL_CID_CAP - 1; i++) {
		char c = s[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return false;
		}
	}
	/* version 4, RFC 4122 variant */
	return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

void floe_signal_uuid_generate(char out[FLOE_SIGNAL_CID_CAP])
{
	uint8_t b[16];

	randombytes_buf(b, sizeof(b));
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, FLOE_SIGNAL_CID_CAP,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
		 b[12], b[13], b[14], b[15]);
}

/* Parses a decimal number in [lo, hi] from *p, advancing it. */
static int parse_uint(const char **p, unsigned long lo, unsigned long hi, unsigned long *out)
{
	const char *s = *p;
	unsigned long v = 0;
	int digits = 0;

	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (unsigned long)(*s - '0');
		if (++digits > 10)
			return -EINVAL;
		s++;
	}
	if (digits == 0 || v < lo || v > hi)
		return -EINVAL;
	*p = s;
	*out = v;
	return 0;
}

static const char *skip_spaces(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

int floe_signal_ports_parse(const char *s, floe_signal_port_range_t *out, size_t cap, size_t *n)
{
	size_t count = 0;

	*n = 0;
	for (;;) {
		unsigned long lo, hi;

		s = skip_spaces(s);
		if (parse_uint(&s, 1, 65535, &lo) < 0)
			return -EINVAL;
		hi = lo;
		if (*s == '-') {
			s++;
			if (parse_uint(&s, 1, 65535, &hi) < 0 || hi < lo)
				return -EINVAL;
		}
		if (count == cap)
			return -E2BIG;
		out[count].lo = (uint16_t)lo;
		out[count].hi = (uint16_t)hi;
		count++;
		s = skip_spaces(s);
		if (*s == '\0')
			break;
		if (*s != ',')
			return -EINVAL;
		s++;
	}
	*n = count;
	return 0;
}

int floe_signal_cidr_parse(const char *s, int *family, uint8_t addr[16], unsigned *prefix)
{
	char host[FLOE_SIGNAL_CIDR_CAP];
	const char *slash = strchr(s, '/');
	const char *p;
	unsigned long bits, max_bits;
	size_t host_len;
	int fam;

	if (!slash)
		return -EINVAL;
	host_len = (size_t)(slash - s);
	if (host_len == 0 || host_len >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, host_len);
	host[host_len] = '\0';
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, host, addr) == 1) {
		fam = AF_INET;
		max_bits = 32;
	} else if (inet_pton(AF_INET6, host, addr) == 1) {
		fam = AF_INET6;
		max_bits = 128;
	} else {
		return -EINVAL;
	}
	p = slash + 1;
	if (parse_uint(&p, 0, max_bits, &bits) < 0 || *p != '\0')
		return -EINVAL;
	/* Host bits must be clear: "10.1.2.3/8" is almost always a typo. */
	for (unsigned long i = bits; i < max_bits; i++) {
		if (addr[i / 8] & (0x80 >> (i % 8)))
			return -EINVAL;
	}
	*family = fam;
	*prefix = (unsigned)bits;
	return 0;
}

static bool is_leap(long y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int floe_signal_time_parse(const char *s, int64_t *unix_s)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	unsigned long y, mo, d, h, mi, sec, oh = 0, om = 0;
	const char *p = s;
	struct tm tm = { 0 };
	int64_t offset_s = 0;
	time_t t;
	int mdays_this;

#define EXPECT(ch) do { if (*p != (ch)) return -EINVAL; p++; } while (0)
	/* fixed-width fields: parse_uint would accept "2026-1-1", so check widths */
	if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':')
		return -EINVAL;
	if (parse_uint(&p, 0, 9999, &y) < 0 || p != s + 4)
		return -EINVAL;
	EXPECT('-');
	if (parse_uint(&p, 1, 12, &mo) < 0 || p != s + 7)
		return -EINVAL;
	EXPECT('-');
	if (parse_uint(&p, 1, 31, &d) < 0 || p != s + 10)
		return -EINVAL;
	if (*p != 'T' && *p != 't')
		return -EINVAL;
	p++;
	if (parse_uint(&p, 0, 23, &h) < 0 || p != s + 13)
		return -EINVAL;
	EXPECT(':');
	if (parse_uint(&p, 0, 59, &mi) < 0 || p != s + 16)
		return -EINVAL;
	EXPECT(':');
	/* 60 is a leap second; it is folded into the next minute by timegm. */
	if (parse_uint(&p, 0, 60, &sec) < 0 || p != s + 19)
		return -EINVAL;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1;
		const char *start = ++p;

		if (parse_uint(&p, 0, 23, &oh) < 0 || p != start + 2)
			return -EINVAL;
		EXPECT(':');
		if (parse_uint(&p, 0, 59, &om) < 0 || p != start + 5)
			return -EINVAL;
		offset_s = sign * (int64_t)(oh * 3600 + om * 60);
	} else {
		return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;
#undef EXPECT
	mdays_this = mdays[mo - 1] + (mo == 2 && is_leap((long)y));
	if ((int)d > mdays_this)
		return -EINVAL;
	tm.tm_year = (int)y - 1900;
	tm.tm_mon = (int)mo - 1;
	tm.tm_mday = (int)d;
	tm.tm_hour = (int)h;
	tm.tm_min = (int)mi;
	tm.tm_sec = (int)sec;
	t = timegm(&tm);
	*unix_s = (int64_t)t - offset_s;
	return 0;
}

int floe_signal_time_format(int64_t unix_s, char out[FLOE_SIGNAL_TIME_CAP])
{
	time_t t = (time_t)unix_s;
	struct tm tm;

	if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
		return -EINVAL;
	if (strftime(out, FLOE_SIGNAL_TIME_CAP, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return -EINVAL;
	return 0;
}

