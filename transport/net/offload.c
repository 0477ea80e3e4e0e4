/* TUN offloads: splitting TSO frames in userspace, see offload.h. */
#include "transport/net/offload.h"

#include <errno.h>
#include <string.h>

/* struct virtio_net_hdr, as TUN writes it (host byte order: we never ask
 * for TUNSETVNETBE/LE). */
enum vnet_hdr_layout {
	VNET_FLAGS = 0,
	VNET_GSO_TYPE = 1,
	VNET_HDR_LEN = 2,
	VNET_GSO_SIZE = 4,
	VNET_CSUM_START = 6,
	VNET_CSUM_OFFSET = 8,
};

enum vnet_values {
	VNET_F_NEEDS_CSUM = 1,
	VNET_GSO_NONE = 0,
	VNET_GSO_TCPV4 = 1,
	VNET_GSO_TCPV6 = 4,
	VNET_GSO_ECN = 0x80,   /* a flag on top of the type */
};

enum ip_layout {
	IP4_MIN_HDR_BYTES = 20,
	IP6_HDR_BYTES = 40,
	TCP_MIN_HDR_BYTES = 20,
	IP_PROTO_TCP = 6,
	IP4_FRAG_MASK = 0x3fff,  /* MF flag and fragment offset */
	TCP_FIN = 0x01,
	TCP_PSH = 0x08,
	TCP_CWR = 0x80,
};

static uint16_t get16_host(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Returns the running sum with carries folded back into 16 bits, so sums
 * can be chained (one's-complement addition is associative). Only the last
 * chunk of a chain may have an odd length.
 *
 * The sum is independent of byte order up to a final swap (RFC 1071 2(B)),
 * and 2^16 = 1 modulo 0xffff, so the bulk is summed as native 32-bit
 * halves of 64-bit loads (this ran at 5.5% of floe-wg's profile byte by
 * byte), folded, and swapped to network order once. */
uint32_t floe_offload_csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	uint64_t acc = 0;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, sizeof(w));
		acc += (w & 0xffffffffu) + (w >> 32);
	}
	for (; i + 2 <= len; i += 2) {
		uint16_t h;

		memcpy(&h, p + i, sizeof(h));
		acc += h;
	}
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	acc = ((acc & 0xff) << 8) | (acc >> 8);
#endif
	if (len & 1)
		acc += (uint32_t)p[len - 1] << 8;
	acc += sum;
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint32_t)acc;
}

uint16_t floe_offload_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* A frame without GSO: complete the checksum the kernel left to us (the
 * field holds the pseudo-header sum), or pass it on untouched. */
static int pass_whole(const uint8_t *hdr, const uint8_t *pkt, size_t plen, uint8_t *scratch,
		      size_t cap, floe_offload_emit_fn emit, void *ctx)
{
	size_t start = get16_host(hdr + VNET_CSUM_START);
	size_t off = get16_host(hdr + VNET_CSUM_OFFSET);
	int r;

	if (plen == 0)
		return -EINVAL;
	if (!(hdr[VNET_FLAGS] & VNET_F_NEEDS_CSUM)) {
		r = emit(ctx, pkt, plen);
		return r ? r : 1;
	}
	if (start >= plen || off + 2 > plen - start)
		return -EINVAL;
	if (plen > cap)
		return -EMSGSIZE;
	memcpy(scratch, pkt, plen);
	put16(scratch + start + off,
	      floe_offload_csum_fold(floe_offload_csum_add(0, scratch + start, plen - start)));
	r = emit(ctx, scratch, plen);
	return r ? r : 1;
}

/* The parsed headers of a TSO frame. */
typedef struct {
	int v6;
	size_t ip_hlen;    /* IP header bytes */
	size_t hlen;       /* IP + TCP header bytes, copied into every segment */
	size_t payload;    /* TCP payload bytes to split */
} tso_frame_t;

static int parse_tso(uint8_t gso_type, const uint8_t *pkt, size_t plen, tso_frame_t *f)
{
	size_t doff;

	if (plen < 1)
		return -EINVAL;
	f->v6 = (pkt[0] >> 4) == 6;
	if ((pkt[0] >> 4) == 4 && gso_type == VNET_GSO_TCPV4) {
		if (plen < IP4_MIN_HDR_BYTES)
			return -EINVAL;
		f->ip_hlen = (size_t)(pkt[0] & 0xf) * 4;
		if (f->ip_hlen < IP4_MIN_HDR_BYTES || f->ip_hlen > plen || get16(pkt + 2) != plen ||
		    pkt[9] != IP_PROTO_TCP || (get16(pkt + 6) & IP4_FRAG_MASK))
			return -EINVAL;
	} else if (f->v6 && gso_type == VNET_GSO_TCPV6) {
		/* No extension headers: TCP must follow the fixed header. */
		if (plen < IP6_HDR_BYTES || (size_t)get16(pkt + 4) + IP6_HDR_BYTES != plen ||
		    pkt[6] != IP_PROTO_TCP)
			return -EINVAL;
		f->ip_hlen = IP6_HDR_BYTES;
	} else {
		return -EINVAL;
	}
	if (plen - f->ip_hlen < TCP_MIN_HDR_BYTES)
		return -EINVAL;
	doff = (size_t)(pkt[f->ip_hlen + 12] >> 4) * 4;
	if (doff < TCP_MIN_HDR_BYTES || doff > plen - f->ip_hlen)
		return -EINVAL;
	f->hlen = f->ip_hlen + doff;
	f->payload = plen - f->hlen;
	return 0;
}

/* Fixes the IP and TCP headers of segment `seg` (payload_off bytes into the
 * original payload, seg_len long, `last` or not) built in p. */
static void fix_segment(uint8_t *p, const tso_frame_t *f, size_t idx, size_t payload_off,
			size_t seg_len, int last)
{
	size_t total = f->hlen + seg_len, tcp_len = total - f->ip_hlen;
	uint8_t *tcp = p + f->ip_hlen;
	uint8_t pseudo[40];
	uint32_t sum;

	if (f->v6) {
		put16(p + 4, (uint16_t)tcp_len);
		memcpy(pseudo, p + 8, 32);   /* source, destination */
		put32(pseudo + 32, (uint32_t)tcp_len);
		put32(pseudo + 36, IP_PROTO_TCP);
		sum = floe_offload_csum_add(0, pseudo, 40);
	} else {
		put16(p + 2, (uint16_t)total);
		/* Each segment is a datagram of its own: consecutive IDs, as
		 * the kernel's own segmentation does. */
		put16(p + 4, (uint16_t)(get16(p + 4) + idx));
		put16(p + 10, 0);
		put16(p + 10, floe_offload_csum_fold(floe_offload_csum_add(0, p, f->ip_hlen)));
		memcpy(pseudo, p + 12, 8);   /* source, destination */
		pseudo[8] = 0;
		pseudo[9] = IP_PROTO_TCP;
		put16(pseudo + 10, (uint16_t)tcp_len);
		sum = floe_offload_csum_add(0, pseudo, 12);
	}
	put32(tcp + 4, get32(tcp + 4) + (uint32_t)payload_off);
	/* FIN and PSH belong to the end of the data, CWR to its start. */
	if (!last)
		tcp[13] &= (uint8_t)~(TCP_FIN | TCP_PSH);
	if (idx > 0)
		tcp[13] &= (uint8_t)~TCP_CWR;
	put16(tcp + 16, 0);
	put16(tcp + 16, floe_offload_csum_fold(floe_offload_csum_add(sum, tcp, tcp_len)));
}

int floe_offload_split(const uint8_t *frame, size_t len, uint8_t *scratch, size_t cap,
		       floe_offload_emit_fn emit, void *ctx)
{
	const uint8_t *pkt;
	size_t plen, gso_size, off, limit;
	uint8_t gso_type;
	tso_frame_t f;
	int r, n = 0;

	if (!frame || !scratch || !emit || len < FLOE_OFFLOAD_VNET_HDR_BYTES)
		return -EINVAL;
	pkt = frame + FLOE_OFFLOAD_VNET_HDR_BYTES;
	plen = len - FLOE_OFFLOAD_VNET_HDR_BYTES;
	gso_type = frame[VNET_GSO_TYPE] & (uint8_t)~VNET_GSO_ECN;
	if (gso_type == VNET_GSO_NONE)
		return pass_whole(frame, pkt, plen, scratch, cap, emit, ctx);
	if (gso_type != VNET_GSO_TCPV4 && gso_type != VNET_GSO_TCPV6)
		return -EPROTONOSUPPORT;
	r = parse_tso(gso_type, pkt, plen, &f);
	if (r)
		return r;
	gso_size = get16_host(frame + VNET_GSO_SIZE);
	if (gso_size == 0)
		return -EINVAL;
	/* Every segment but the last is full: check the largest fits before
	 * emitting any, so a refusal emits nothing. */
	limit = cap < FLOE_OFFLOAD_SEG_MAX_BYTES ? cap : FLOE_OFFLOAD_SEG_MAX_BYTES;
	if (f.hlen + (f.payload < gso_size ? f.payload : gso_size) > limit)
		return -EMSGSIZE;
	off = 0;
	do {
		size_t seg = f.payload - off < gso_size ? f.payload - off : gso_size;
		int last = off + seg == f.payload;

		memcpy(scratch, pkt, f.hlen);
		memcpy(scratch + f.hlen, pkt + f.hlen + off, seg);
		fix_segment(scratch, &f, (size_t)n, off, seg, last);
		r = emit(ctx, scratch, f.hlen + seg);
		if (r)
			return r;
		n++;
		off += seg;
	} while (off < f.payload);
	return n;
}

/* ---- GRO for TUN writes ---- */

enum {
	TCP_ACK = 0x10,
	/* Flags that make a segment unfit to merge: SYN, RST, URG, ECE, FIN
	 * and CWR (the kernel's own GRO flushes on them too). */
	TCP_NO_MERGE = 0x02 | 0x04 | 0x20 | 0x40 | TCP_FIN | TCP_CWR,
};

void floe_offload_gro_init(floe_offload_gro_t *g, uint8_t *buf)
{
	memset(g, 0, sizeof(*g));
	g->buf = buf;
}

/* Parses a plain TCP data segment: IPv4 without options or IPv6 without
 * extension headers, lengths consistent, checksum right. */
static int gro_parse(const uint8_t *pkt, size_t len, size_t *ip_hlen, size_t *hlen)
{
	uint8_t pseudo[40];
	uint32_t sum;
	size_t doff, tcp_len;

	if (len < IP4_MIN_HDR_BYTES)
		return -EBADMSG;
	if (pkt[0] == 0x45) {
		if (get16(pkt + 2) != len)
			return -EBADMSG;
		if (pkt[9] != IP_PROTO_TCP || (get16(pkt + 6) & IP4_FRAG_MASK))
			return -ENOTSUP;
		*ip_hlen = IP4_MIN_HDR_BYTES;
	} else if ((pkt[0] >> 4) == 6) {
		if (len < IP6_HDR_BYTES || (size_t)get16(pkt + 4) + IP6_HDR_BYTES != len)
			return -EBADMSG;
		if (pkt[6] != IP_PROTO_TCP)
			return -ENOTSUP;
		*ip_hlen = IP6_HDR_BYTES;
	} else {
		return -ENOTSUP; /* IPv4 with options, or not IP */
	}
	if (len - *ip_hlen < TCP_MIN_HDR_BYTES)
		return -EBADMSG;
	doff = (size_t)(pkt[*ip_hlen + 12] >> 4) * 4;
	if (doff < TCP_MIN_HDR_BYTES || doff > len - *ip_hlen)
		return -EBADMSG;
	*hlen = *ip_hlen + doff;
	/* Before the checksum: it costs a pass over the data. */
	if ((pkt[*ip_hlen + 13] & TCP_NO_MERGE) || !(pkt[*ip_hlen + 13] & TCP_ACK) || len == *hlen)
		return -ENOTSUP;
	tcp_len = len - *ip_hlen;
	if (*ip_hlen == IP6_HDR_BYTES) {
		memcpy(pseudo, pkt + 8, 32);
		put32(pseudo + 32, (uint32_t)tcp_len);
		put32(pseudo + 36, IP_PROTO_TCP);
		sum = floe_offload_csum_add(0, pseudo, 40);
	} else {
		memcpy(pseudo, pkt + 12, 8);
		pseudo[8] = 0;
		pseudo[9] = IP_PROTO_TCP;
		put16(pseudo + 10, (uint16_t)tcp_len);
		sum = floe_offload_csum_add(0, pseudo, 12);
	}
	/* Summed with its checksum in place, a right segment folds to 0. */
	if (floe_offload_csum_fold(floe_offload_csum_add(sum, pkt + *ip_hlen, tcp_len)) != 0)
		return -EBADMSG;
	return 0;
}

/* Same flow and same everything but sequence, IP ID/length/checksum, PSH
 * and the TCP checksum: IP addresses, TOS/TTL/DF or traffic class, flow
 * label and hop limit, ports, ack, window, options. */
static int gro_same_flow(const floe_offload_gro_t *g, const uint8_t *pkt)
{
	const uint8_t *h = g->buf + FLOE_OFFLOAD_VNET_HDR_BYTES;
	const uint8_t *t0 = h + g->ip_hlen, *t1 = pkt + g->ip_hlen;

	if (g->ip_hlen == IP6_HDR_BYTES) {
		if (memcmp(h, pkt, 4) || memcmp(h + 6, pkt + 6, 34))
			return 0;
	} else if (h[1] != pkt[1] || h[6] != pkt[6] || h[8] != pkt[8] || memcmp(h + 12, pkt + 12, 8)) {
		return 0;
	}
	return !memcmp(t0, t1, 4) && !memcmp(t0 + 8, t1 + 8, 5) && !memcmp(t0 + 14, t1 + 14, 2) &&
	       !memcmp(t0 + TCP_MIN_HDR_BYTES, t1 + TCP_MIN_HDR_BYTES,
		       g->hlen - g->ip_hlen - TCP_MIN_HDR_BYTES);
}

int floe_offload_gro_add(floe_offload_gro_t *g, const uint8_t *pkt, size_t len)
{
	size_t ip_hlen, hlen, payload;
	uint8_t flags;
	int r;

	if (!g || !g->buf || !pkt)
		return -EINVAL;
	r = gro_parse(pkt, len, &ip_hlen, &hlen);
	if (r)
		return r;
	payload = len - hlen;
	flags = pkt[ip_hlen + 13];
	if (!g->len) {
		memset(g->buf, 0, FLOE_OFFLOAD_VNET_HDR_BYTES);
		memcpy(g->buf + FLOE_OFFLOAD_VNET_HDR_BYTES, pkt, len);
		g->len = FLOE_OFFLOAD_VNET_HDR_BYTES + len;
		g->seg = payload;
		g->ip_hlen = ip_hlen;
		g->hlen = hlen;
		g->next_seq = get32(pkt + ip_hlen + 4) + (uint32_t)payload;
		g->n = 1;
		g->closed = (flags & TCP_PSH) != 0;
		return 0;
	}
	if (g->closed || ip_hlen != g->ip_hlen || hlen != g->hlen || payload > g->seg ||
	    get32(pkt + ip_hlen + 4) != g->next_seq ||
	    g->len + payload > FLOE_OFFLOAD_GRO_BUF_BYTES || !gro_same_flow(g, pkt))
		return -EAGAIN;
	memcpy(g->buf + g->len, pkt + hlen, payload);
	g->len += payload;
	g->next_seq += (uint32_t)payload;
	g->n++;
	if (flags & TCP_PSH) /* the end of a write: carry PSH, take no more */
		g->buf[FLOE_OFFLOAD_VNET_HDR_BYTES + ip_hlen + 13] |= TCP_PSH;
	g->closed = payload < g->seg || (flags & TCP_PSH);
	return 0;
}

const uint8_t *floe_offload_gro_take(floe_offload_gro_t *g, size_t *len)
{
	uint8_t *h, *p, pseudo[40];
	size_t total, tcp_len;
	uint16_t v;

	if (!g || !g->len || !len)
		return NULL;
	h = g->buf;
	p = h + FLOE_OFFLOAD_VNET_HDR_BYTES;
	total = g->len - FLOE_OFFLOAD_VNET_HDR_BYTES;
	*len = g->len;
	g->len = 0;
	if (g->n == 1) /* as it came: complete checksums, all-zero header */
		return h;
	tcp_len = total - g->ip_hlen;
	h[VNET_FLAGS] = VNET_F_NEEDS_CSUM;
	h[VNET_GSO_TYPE] = g->ip_hlen == IP6_HDR_BYTES ? VNET_GSO_TCPV6 : VNET_GSO_TCPV4;
	v = (uint16_t)g->hlen;
	memcpy(h + VNET_HDR_LEN, &v, sizeof(v));
	v = (uint16_t)g->seg;
	memcpy(h + VNET_GSO_SIZE, &v, sizeof(v));
	v = (uint16_t)g->ip_hlen;
	memcpy(h + VNET_CSUM_START, &v, sizeof(v));
	v = 16; /* TCP checksum field */
	memcpy(h + VNET_CSUM_OFFSET, &v, sizeof(v));
	/* NEEDS_CSUM: the field holds the pseudo-header sum, uncomplemented. */
	if (g->ip_hlen == IP6_HDR_BYTES) {
		put16(p + 4, (uint16_t)tcp_len);
		memcpy(pseudo, p + 8, 32);
		put32(pseudo + 32, (uint32_t)tcp_len);
		put32(pseudo + 36, IP_PROTO_TCP);
		put16(p + g->ip_hlen + 16, (uint16_t)floe_offload_csum_add(0, pseudo, 40));
	} else {
		put16(p + 2, (uint16_t)total);
		put16(p + 10, 0);
		put16(p + 10, floe_offload_csum_fold(floe_offload_csum_add(0, p, g->ip_hlen)));
		memcpy(pseudo, p + 12, 8);
		pseudo[8] = 0;
		pseudo[9] = IP_PROTO_TCP;
		put16(pseudo + 10, (uint16_t)tcp_len);
		put16(p + g->ip_hlen + 16, (uint16_t)floe_offload_csum_add(0, pseudo, 12));
	}
	return h;
}
