/*
 * TSO frames from a TUN with offloads, split in userspace: every segment
 * is checked against checksums computed here independently (a plain
 * word-by-word sum over a pseudo-header + segment buffer), the payload is
 * reassembled and compared, and malformed frames emit nothing.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "transport/net/offload.h"

enum {
	HDR = FLOE_OFFLOAD_VNET_HDR_BYTES,
	FRAME_MAX = 70000,
	MAX_SEGS = 64,
	SEG_CAP = 2048,
	PAYLOAD = 5000,
	MSS = 1380,
	SEQ0 = 0xfffff000u,   /* wraps during the split */
	IPID0 = 0xfffe,       /* wraps too */
};

typedef struct {
	int n;
	size_t len[MAX_SEGS];
	uint8_t pkt[MAX_SEGS][SEG_CAP];
	int fail_at;          /* emit returns -ECANCELED on this call (1-based) */
} sink_t;

static int collect(void *ctx, const uint8_t *pkt, size_t len)
{
	sink_t *s = ctx;

	if (s->fail_at && s->n + 1 == s->fail_at)
		return -ECANCELED;
	cr_assert_lt(s->n, MAX_SEGS);
	cr_assert_leq(len, SEG_CAP);
	memcpy(s->pkt[s->n], pkt, len);
	s->len[s->n++] = len;
	return 0;
}

/* Independent RFC 1071: 32-bit accumulate of big-endian words, fold once
 * at the end. */
static uint16_t ref_csum(const uint8_t *p, size_t len)
{
	uint32_t s = 0;

	for (size_t i = 0; i < len; i++)
		s += (i & 1) ? p[i] : (uint32_t)p[i] << 8;
	while (s > 0xffff)
		s = (s >> 16) + (s & 0xffff);
	return (uint16_t)~s;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* TCP checksum of a whole IP packet, computed from scratch with the field
 * zeroed, beside the value the packet carries. */
static void expect_tcp_csum_ok(const uint8_t *pkt, size_t len, int v6)
{
	static uint8_t buf[FRAME_MAX];
	size_t ip_hlen = v6 ? 40 : (size_t)(pkt[0] & 0xf) * 4, tcp_len = len - ip_hlen, pl;

	if (v6) {
		memcpy(buf, pkt + 8, 32);
		buf[32] = 0; buf[33] = 0; buf[34] = (uint8_t)(tcp_len >> 8); buf[35] = (uint8_t)tcp_len;
		buf[36] = 0; buf[37] = 0; buf[38] = 0; buf[39] = 6;
		pl = 40;
	} else {
		memcpy(buf, pkt + 12, 8);
		buf[8] = 0; buf[9] = 6; buf[10] = (uint8_t)(tcp_len >> 8); buf[11] = (uint8_t)tcp_len;
		pl = 12;
		uint8_t iph[60];
		memcpy(iph, pkt, ip_hlen);
		iph[10] = iph[11] = 0;
		cr_expect_eq(rd16(pkt + 10), ref_csum(iph, ip_hlen), "IPv4 header checksum");
	}
	memcpy(buf + pl, pkt + ip_hlen, tcp_len);
	buf[pl + 16] = buf[pl + 17] = 0;
	cr_expect_eq(rd16(pkt + ip_hlen + 16), ref_csum(buf, pl + tcp_len), "TCP checksum");
}

/* Builds vnet header + IPv4/IPv6 + TCP (flags given) + payload of
 * PAYLOAD bytes into f; returns the frame length. */
static size_t build_tso(uint8_t *f, int v6, uint8_t tcp_flags, uint16_t gso_size)
{
	size_t ip_hlen = v6 ? 40 : 20, tcp_hlen = 32, plen = ip_hlen + tcp_hlen + PAYLOAD;
	uint8_t *ip = f + HDR, *tcp = ip + ip_hlen;
	uint16_t v;

	memset(f, 0, HDR + plen);
	f[0] = 1;                      /* NEEDS_CSUM, as the kernel sets it */
	f[1] = v6 ? 4 : 1;
	v = (uint16_t)(ip_hlen + tcp_hlen); memcpy(f + 2, &v, 2);
	memcpy(f + 4, &gso_size, 2);
	v = (uint16_t)ip_hlen; memcpy(f + 6, &v, 2);
	v = 16; memcpy(f + 8, &v, 2);
	if (v6) {
		ip[0] = 0x60;
		ip[4] = (uint8_t)((plen - 40) >> 8); ip[5] = (uint8_t)(plen - 40);
		ip[6] = 6; ip[7] = 64;
		ip[8] = 0xfd; ip[23] = 1;
		ip[24] = 0xfd; ip[39] = 2;
	} else {
		ip[0] = 0x45;
		ip[2] = (uint8_t)(plen >> 8); ip[3] = (uint8_t)plen;
		ip[4] = IPID0 >> 8; ip[5] = IPID0 & 0xff;
		ip[6] = 0x40;                  /* DF */
		ip[8] = 64; ip[9] = 6;
		ip[12] = 10; ip[15] = 1;
		ip[16] = 10; ip[19] = 2;
		/* Deliberately wrong: the split must recompute it. */
		ip[10] = 0xde; ip[11] = 0xad;
	}
	tcp[0] = 0x9c; tcp[1] = 0x40; tcp[2] = 0x14; tcp[3] = 0x51;
	tcp[4] = SEQ0 >> 24; tcp[5] = (SEQ0 >> 16) & 0xff; tcp[6] = (SEQ0 >> 8) & 0xff; tcp[7] = SEQ0 & 0xff;
	tcp[8] = 0x11; tcp[11] = 0x22;
	tcp[12] = (tcp_hlen / 4) << 4;
	tcp[13] = tcp_flags;
	tcp[14] = 0x01; tcp[15] = 0xf5;
	/* Options: NOP NOP timestamp, copied into every segment. */
	tcp[20] = 1; tcp[21] = 1; tcp[22] = 8; tcp[23] = 10; tcp[24] = 0xaa; tcp[31] = 0xbb;
	/* The kernel leaves a pseudo-header partial sum here: garbage to us. */
	tcp[16] = 0x12; tcp[17] = 0x34;
	for (size_t i = 0; i < PAYLOAD; i++)
		tcp[tcp_hlen + i] = (uint8_t)(i * 31 + (i >> 8));
	return HDR + plen;
}

static void check_split(int v6)
{
	static uint8_t frame[FRAME_MAX], scratch[SEG_CAP], joined[PAYLOAD];
	static sink_t s;
	size_t len = build_tso(frame, v6, 0x80 | 0x10 | 0x08 | 0x01 /* CWR ACK PSH FIN */, MSS);
	size_t ip_hlen = v6 ? 40 : 20, hlen = ip_hlen + 32, got = 0;
	int want = (PAYLOAD + MSS - 1) / MSS;

	memset(&s, 0, sizeof(s));
	cr_assert_eq(floe_offload_split(frame, len, scratch, sizeof(scratch), collect, &s), want);
	cr_assert_eq(s.n, want);
	for (int i = 0; i < s.n; i++) {
		const uint8_t *p = s.pkt[i], *tcp = p + ip_hlen;
		size_t seg = i < want - 1 ? MSS : PAYLOAD - (size_t)(want - 1) * MSS;
		uint8_t flags = tcp[13];

		cr_assert_eq(s.len[i], hlen + seg, "segment %d length", i);
		if (v6) {
			cr_expect_eq(rd16(p + 4), s.len[i] - 40, "payload length");
		} else {
			cr_expect_eq(rd16(p + 2), s.len[i], "total length");
			cr_expect_eq(rd16(p + 4), (uint16_t)(IPID0 + i), "IP id");
			cr_expect_eq(p[6], 0x40, "DF kept");
		}
		cr_expect_eq(rd32(tcp + 4), (uint32_t)(SEQ0 + (uint32_t)got), "sequence of %d", i);
		cr_expect_eq(rd32(tcp + 8), 0x11000022u, "ack kept");
		cr_expect_eq(tcp[24], 0xaa, "options copied");
		cr_expect_eq(!!(flags & 0x80), i == 0, "CWR only on the first");
		cr_expect_eq(!!(flags & 0x01), i == want - 1, "FIN only on the last");
		cr_expect_eq(!!(flags & 0x08), i == want - 1, "PSH only on the last");
		cr_expect(flags & 0x10, "ACK on every segment");
		expect_tcp_csum_ok(p, s.len[i], v6);
		memcpy(joined + got, p + hlen, seg);
		got += seg;
	}
	cr_assert_eq(got, PAYLOAD);
	cr_expect_eq(memcmp(joined, frame + HDR + hlen, PAYLOAD), 0, "payload reassembles");
}

Test(offload, tso_ipv4_split_with_fresh_checksums) { check_split(0); }
Test(offload, tso_ipv6_split_with_fresh_checksums) { check_split(1); }

Test(offload, csum_matches_reference_on_odd_lengths)
{
	uint8_t b[1001];

	for (size_t i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)(i * 151 + 7);
	for (size_t n = 0; n <= sizeof(b); n++)
		for (size_t at = 0; at < 3 && at + n <= sizeof(b); at++) /* unaligned starts too */
			cr_assert_eq(floe_offload_csum_fold(floe_offload_csum_add(0, b + at, n)),
				     ref_csum(b + at, n), "length %zu at %zu", n, at);
	/* Carry-heavy: 64 KiB of 0xff. */
	static uint8_t ff[65535];
	memset(ff, 0xff, sizeof(ff));
	cr_expect_eq(floe_offload_csum_fold(floe_offload_csum_add(0, ff, sizeof(ff))),
		     ref_csum(ff, sizeof(ff)));
	cr_expect_eq(floe_offload_csum_fold(floe_offload_csum_add(0x1234, ff, 64)),
		     floe_offload_csum_fold(floe_offload_csum_add(floe_offload_csum_add(0, ff, 64), (const uint8_t[]){ 0x12, 0x34 }, 2)),
		     "a running sum adds like data");
	/* Chained even chunks equal one pass. */
	cr_expect_eq(floe_offload_csum_fold(floe_offload_csum_add(floe_offload_csum_add(0, b, 400),
								  b + 400, 601)),
		     ref_csum(b, sizeof(b)));
}

Test(offload, non_gso_frame_gets_its_checksum_completed)
{
	static uint8_t frame[FRAME_MAX], scratch[SEG_CAP];
	static sink_t s;
	size_t len = build_tso(frame, 0, 0x18, MSS);
	size_t plen = 20 + 32 + 1000;
	uint8_t *ip = frame + HDR;
	uint8_t pseudo[12];

	/* A 1052-byte packet, no GSO, the TCP checksum field holding the
	 * pseudo-header sum (not complemented), as CHECKSUM_PARTIAL leaves it. */
	(void)len;
	frame[1] = 0;
	ip[2] = (uint8_t)(plen >> 8); ip[3] = (uint8_t)plen;
	ip[10] = ip[11] = 0;
	uint16_t c = ref_csum(ip, 20);
	ip[10] = (uint8_t)(c >> 8); ip[11] = (uint8_t)c;
	memcpy(pseudo, ip + 12, 8);
	pseudo[8] = 0; pseudo[9] = 6; pseudo[10] = (uint8_t)((plen - 20) >> 8); pseudo[11] = (uint8_t)(plen - 20);
	uint16_t partial = (uint16_t)~ref_csum(pseudo, 12);
	ip[20 + 16] = (uint8_t)(partial >> 8); ip[20 + 17] = (uint8_t)partial;
	memset(&s, 0, sizeof(s));
	cr_assert_eq(floe_offload_split(frame, HDR + plen, scratch, sizeof(scratch), collect, &s), 1);
	cr_assert_eq(s.len[0], plen);
	expect_tcp_csum_ok(s.pkt[0], plen, 0);
	cr_expect_eq(memcmp(s.pkt[0] + 52, ip + 52, 1000), 0);

	/* Without NEEDS_CSUM the packet passes byte for byte. */
	frame[0] = 0;
	memset(&s, 0, sizeof(s));
	cr_assert_eq(floe_offload_split(frame, HDR + plen, scratch, sizeof(scratch), collect, &s), 1);
	cr_expect_eq(memcmp(s.pkt[0], ip, plen), 0);
}

/* Each malformed frame is refused with the right error and emits nothing. */
Test(offload, malformed_frames_emit_nothing)
{
	static uint8_t frame[FRAME_MAX], scratch[SEG_CAP];
	static sink_t s;
	size_t len;
	uint8_t *ip = frame + HDR;
	uint16_t v;

#define REFUSED(expr_len, err, what) do { \
		memset(&s, 0, sizeof(s)); \
		cr_expect_eq(floe_offload_split(frame, (expr_len), scratch, sizeof(scratch), collect, &s), \
			     (err), "%s", what); \
		cr_expect_eq(s.n, 0, "%s: nothing emitted", what); \
	} while (0)

	len = build_tso(frame, 0, 0x10, MSS);
	REFUSED(HDR - 1, -EINVAL, "shorter than the vnet header");
	REFUSED(HDR, -EINVAL, "vnet header only");
	REFUSED(HDR + 30, -EINVAL, "truncated packet");
	REFUSED(len - 1, -EINVAL, "total length disagrees with the frame");
	len = build_tso(frame, 0, 0x10, MSS); frame[1] = 4;
	REFUSED(len, -EINVAL, "IPv4 packet, TCPv6 GSO type");
	len = build_tso(frame, 0, 0x10, MSS); frame[1] = 5;
	REFUSED(len, -EPROTONOSUPPORT, "UDP GSO not enabled");
	len = build_tso(frame, 0, 0x10, MSS); frame[1] = 3;
	REFUSED(len, -EPROTONOSUPPORT, "UFO not enabled");
	len = build_tso(frame, 0, 0x10, MSS); ip[9] = 17;
	REFUSED(len, -EINVAL, "not TCP");
	len = build_tso(frame, 0, 0x10, MSS); ip[0] = 0x44;
	REFUSED(len, -EINVAL, "IHL below 5");
	len = build_tso(frame, 0, 0x10, MSS); ip[6] = 0x20;
	REFUSED(len, -EINVAL, "a fragment");
	len = build_tso(frame, 0, 0x10, MSS); ip[20 + 12] = 0x40;
	REFUSED(len, -EINVAL, "TCP data offset below 5");
	len = build_tso(frame, 0, 0x10, MSS); ip[0] = 0x65;
	REFUSED(len, -EINVAL, "version 6 under a TCPv4 type");
	len = build_tso(frame, 0, 0x10, MSS); v = 0; memcpy(frame + 4, &v, 2);
	REFUSED(len, -EINVAL, "gso_size 0");
	len = build_tso(frame, 0, 0x10, SEG_CAP);
	REFUSED(len, -EMSGSIZE, "segment larger than the scratch buffer");
	len = build_tso(frame, 1, 0x10, MSS); ip[6] = 0; /* hop-by-hop header first */
	REFUSED(len, -EINVAL, "IPv6 extension header");
	len = build_tso(frame, 1, 0x10, MSS); ip[5] ^= 1;
	REFUSED(len, -EINVAL, "IPv6 payload length disagrees");
	len = build_tso(frame, 0, 0x10, MSS); frame[1] = 0;
	v = 200; memcpy(frame + 6, &v, 2); v = 0xfff0; memcpy(frame + 8, &v, 2);
	REFUSED(len, -EINVAL, "checksum offset past the packet");
	v = 0xffff; memcpy(frame + 6, &v, 2); v = 0; memcpy(frame + 8, &v, 2);
	REFUSED(len, -EINVAL, "checksum start past the packet");
	cr_expect_eq(floe_offload_split(NULL, 100, scratch, sizeof(scratch), collect, &s), -EINVAL);
	cr_expect_eq(floe_offload_split(frame, len, NULL, sizeof(scratch), collect, &s), -EINVAL);
	cr_expect_eq(floe_offload_split(frame, len, scratch, sizeof(scratch), NULL, &s), -EINVAL);
#undef REFUSED
}

Test(offload, emit_failure_stops_the_split)
{
	static uint8_t frame[FRAME_MAX], scratch[SEG_CAP];
	static sink_t s;
	size_t len = build_tso(frame, 0, 0x10, MSS);

	memset(&s, 0, sizeof(s));
	s.fail_at = 2;
	cr_expect_eq(floe_offload_split(frame, len, scratch, sizeof(scratch), collect, &s), -ECANCELED);
	cr_expect_eq(s.n, 1, "stopped after the first");
}

/* ---- GRO for TUN writes ---- */

/* Splits a TSO frame (v4/v6) into s, as a peer's segments would arrive. */
static void segments(sink_t *s, int v6, uint8_t flags)
{
	static uint8_t frame[FRAME_MAX], scratch[SEG_CAP];
	size_t len = build_tso(frame, v6, flags, MSS);

	memset(s, 0, sizeof(*s));
	cr_assert_eq(floe_offload_split(frame, len, scratch, sizeof(scratch), collect, s),
		     (PAYLOAD + MSS - 1) / MSS);
}

/* Gathering the segments gives one GSO frame that splits back into the
 * very same segments (checksums included), for IPv4 and IPv6. */
static void check_gro_round_trip(int v6)
{
	static sink_t in, back;
	static uint8_t gbuf[FLOE_OFFLOAD_GRO_BUF_BYTES], scratch[SEG_CAP];
	floe_offload_gro_t g;
	const uint8_t *f;
	size_t flen;

	segments(&in, v6, 0x10 | 0x08); /* ACK, PSH on the last only after the split */
	floe_offload_gro_init(&g, gbuf);
	for (int i = 0; i < in.n; i++)
		cr_assert_eq(floe_offload_gro_add(&g, in.pkt[i], in.len[i]), 0, "segment %d", i);
	f = floe_offload_gro_take(&g, &flen);
	cr_assert_not_null(f);
	cr_expect_eq(f[0], 1, "NEEDS_CSUM");
	cr_expect_eq(f[1], v6 ? 4 : 1, "GSO type");
	uint16_t gso;
	memcpy(&gso, f + 4, 2);
	cr_expect_eq(gso, MSS);
	cr_expect_null(floe_offload_gro_take(&g, &flen), "taken: empty");
	memset(&back, 0, sizeof(back));
	f = floe_offload_gro_take(&g, &flen);
	cr_assert_null(f);
	/* Gather again and split the frame: the same packets, byte for byte. */
	for (int i = 0; i < in.n; i++)
		cr_assert_eq(floe_offload_gro_add(&g, in.pkt[i], in.len[i]), 0);
	f = floe_offload_gro_take(&g, &flen);
	cr_assert_eq(floe_offload_split(f, flen, scratch, sizeof(scratch), collect, &back), in.n);
	for (int i = 0; i < in.n; i++) {
		cr_assert_eq(back.len[i], in.len[i], "segment %d", i);
		cr_expect_eq(memcmp(back.pkt[i], in.pkt[i], in.len[i]), 0, "segment %d differs", i);
	}
}

Test(offload, gro_ipv4_round_trip) { check_gro_round_trip(0); }
Test(offload, gro_ipv6_round_trip) { check_gro_round_trip(1); }

Test(offload, gro_refuses_what_does_not_continue_the_flow)
{
	static sink_t in;
	static uint8_t gbuf[FLOE_OFFLOAD_GRO_BUF_BYTES], pkt[SEG_CAP];
	floe_offload_gro_t g;
	const uint8_t *f;
	size_t flen;

	segments(&in, 0, 0x10);
	floe_offload_gro_init(&g, gbuf);
	cr_assert_eq(floe_offload_gro_add(&g, in.pkt[0], in.len[0]), 0);
	/* Out of order: segment 2 before 1. */
	cr_expect_eq(floe_offload_gro_add(&g, in.pkt[2], in.len[2]), -EAGAIN);
	/* Another flow: a different source port (checksum fixed up). */
	memcpy(pkt, in.pkt[1], in.len[1]);
	pkt[20] ^= 1;
	pkt[20 + 16] ^= 1;
	cr_expect_eq(floe_offload_gro_add(&g, pkt, in.len[1]), -EAGAIN, "other port");
	/* A corrupted byte: the checksum no longer holds. */
	memcpy(pkt, in.pkt[1], in.len[1]);
	pkt[100] ^= 0x40;
	cr_expect_eq(floe_offload_gro_add(&g, pkt, in.len[1]), -EBADMSG);
	/* SYN, FIN, no payload, not TCP, IPv4 options: written alone. */
	memcpy(pkt, in.pkt[1], in.len[1]);
	pkt[20 + 13] |= 0x01;
	cr_expect_eq(floe_offload_gro_add(&g, pkt, in.len[1]), -ENOTSUP, "FIN");
	cr_expect_eq(floe_offload_gro_add(&g, in.pkt[1], 52), -EBADMSG, "cut short");
	memcpy(pkt, in.pkt[1], in.len[1]);
	pkt[0] = 0x46;
	cr_expect_eq(floe_offload_gro_add(&g, pkt, in.len[1]), -ENOTSUP, "IPv4 options");
	memcpy(pkt, in.pkt[1], in.len[1]);
	pkt[9] = 17;
	cr_expect_eq(floe_offload_gro_add(&g, pkt, in.len[1]), -ENOTSUP, "UDP");
	cr_expect_eq(floe_offload_gro_add(&g, NULL, 10), -EINVAL);
	/* None of that disturbed what was gathered: one segment, as it came. */
	f = floe_offload_gro_take(&g, &flen);
	cr_assert_not_null(f);
	cr_expect_eq(flen, FLOE_OFFLOAD_VNET_HDR_BYTES + in.len[0]);
	cr_expect_eq(f[0], 0, "a single segment needs no offload");
	cr_expect_eq(f[1], 0);
	cr_expect_eq(memcmp(f + FLOE_OFFLOAD_VNET_HDR_BYTES, in.pkt[0], in.len[0]), 0);
	/* After the short last segment nothing more joins. */
	for (int i = 0; i < in.n; i++)
		cr_assert_eq(floe_offload_gro_add(&g, in.pkt[i], in.len[i]), 0);
	cr_expect_eq(floe_offload_gro_add(&g, in.pkt[0], in.len[0]), -EAGAIN, "closed by a short one");
}
