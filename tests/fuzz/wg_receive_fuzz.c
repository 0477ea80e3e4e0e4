/*
 * libFuzzer harness for the WireGuard engine's receive path.
 *
 * Every input builds a fresh world: two devices with fixed keys (A and B)
 * and one peer on each for the other. Its first byte picks the scenario:
 *
 *   0  fresh responder          A created an initiation; B has seen nothing
 *   1  responder under load     the same, with B under load (cookie replies)
 *   2  established session      handshake done and confirmed both ways
 *   3  initiator awaiting       B answered A's initiation; A has not seen it
 *
 * The rest is a list of operations, each one opcode byte and its operands:
 *
 *   raw      [len:2] [bytes]   a datagram of exactly `len` bytes (in its own
 *                              heap buffer, so ASan sees any over-read) to
 *                              the scenario's target (or to the other side)
 *   mutate   [which] [off:2] [xor]   one byte of a real message of this
 *                              scenario flipped, delivered to its receiver
 *   tick     [advance:2]       the clock moves by advance * 10 ms (0: to
 *                              the next deadline); both peers run timers
 *   send     [len]             one side encrypts a small IPv4 packet (or,
 *            [order...]        as a burst, 8 of them delivered in an
 *                              input-chosen order with repeats), after an
 *                              optional forced rekey
 *
 * Whatever a peer answers (a response, a cookie reply, a keepalive) is
 * delivered to the other side, a few hops deep, so valid exchanges go on
 * between the fuzzed ones. Besides ASan/UBSan/LSan the harness traps on
 * broken promises of wg.h: a lookup that returns a foreign peer, a return
 * value that does not match `kind` or overruns `out`, a drop that wrote to
 * `out`, a flipped byte that still authenticates, a packet that decrypts to
 * something other than what was sent.
 *
 * Randomness (ephemerals, indices, cookie nonces, timer jitter) comes from a
 * deterministic generator reset for every input, so a crash reproduces.
 *
 * With an empty corpus directory as its first argument, the harness writes
 * a small seed corpus there first (see write_seeds()).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "transport/wg/wg.h"

enum {
	SCENARIO_FRESH_RESPONDER = 0,
	SCENARIO_UNDER_LOAD = 1,
	SCENARIO_ESTABLISHED = 2,
	SCENARIO_AWAITING_RESPONSE = 3,
	SCENARIO_COUNT = 4,
};

enum {
	OP_RAW = 0,
	OP_MUTATE = 1,
	OP_TICK = 2,
	OP_SEND = 3,
	OP_COUNT = 4,
	OP_TARGET_OTHER = 0x80, /* raw: to the non-target side; send: from B */
	OP_REKEY = 0x40,        /* send: request a rekey on the sender first */
	OP_BURST = 0x20,        /* send: 8 packets, delivered in input order, repeats allowed */
};

enum {
	MAX_OPS = 256,          /* bounds the work per input */
	MAX_HOPS = 4,           /* answers bounced back and forth per delivery */
	MAX_TICK_OUTPUTS = 8,   /* datagrams drained from one tick */
	TICK_UNIT_MS = 10,
	MAX_REALS = 4,
	OUT_CAP = FLOE_WG_MAX_DATAGRAM_LEN,
	CANARY_BYTES = 256,     /* of `out` checked to stay untouched on a drop */
	CANARY = 0xa5,
	MAC2_BYTES = 16,        /* last bytes of a handshake message */
	IPV4_HEADER_BYTES = 20,
};

#define START_NS (1000ULL * 1000000000ULL)

/* Sides of the world. */
enum { SIDE_A = 0, SIDE_B = 1 };

struct real_msg {
	uint8_t bytes[FLOE_WG_MSG_INITIATION_LEN + 64];
	size_t len;
	int to;                 /* receiving side */
	size_t checked_len;     /* bytes whose flip must be rejected */
};

struct world {
	floe_wg_device_t *dev[2];
	floe_wg_peer_t *peer[2];  /* peer[s] lives on dev[s] and stands for the other side */
	uint64_t now;
	int target;
	struct real_msg reals[MAX_REALS];
	size_t n_reals;
	uint8_t *out;             /* OUT_CAP bytes */
};

static const uint8_t src_addr[2][6] = {
	{ 127, 0, 0, 1, 0x1f, 0x90 },
	{ 127, 0, 0, 2, 0x1f, 0x91 },
};

/* ---- deterministic randombytes -------------------------------------- */

static uint8_t rng_seed[randombytes_SEEDBYTES];
static uint64_t rng_counter;

static void rng_buf(void *buf, size_t size)
{
	uint8_t seed[randombytes_SEEDBYTES];

	memcpy(seed, rng_seed, sizeof(seed));
	memcpy(seed, &rng_counter, sizeof(rng_counter));
	rng_counter++;
	randombytes_buf_deterministic(buf, size, seed);
}

static uint32_t rng_random(void)
{
	uint32_t v;

	rng_buf(&v, sizeof(v));
	return v;
}

static const char *rng_name(void)
{
	return "floe-fuzz-deterministic";
}

static void rng_reset(void)
{
	memset(rng_seed, 0x5a, sizeof(rng_seed));
	rng_counter = 0;
}

static struct randombytes_implementation rng_impl = {
	.implementation_name = rng_name,
	.random = rng_random,
	.buf = rng_buf,
};

/* ---- checks ---------------------------------------------------------- */

#define CHECK(cond)                                                       \
	do {                                                              \
		if (!(cond)) {                                            \
			fprintf(stderr, "wg_receive_fuzz: %s:%d: %s\n",    \
				__FILE__, __LINE__, #cond);               \
			__builtin_trap();                                 \
		}                                                         \
	} while (0)

/* ---- input reader ---------------------------------------------------- */

struct reader {
	const uint8_t *p;
	size_t left;
};

static uint8_t take_u8(struct reader *r)
{
	uint8_t v = 0;

	if (r->left) {
		v = *r->p++;
		r->left--;
	}
	return v;
}

static uint16_t take_u16(struct reader *r)
{
	uint16_t lo = take_u8(r);

	return (uint16_t)(lo | (uint16_t)take_u8(r) << 8);
}

/* ---- world ----------------------------------------------------------- */

static void fixed_key(uint8_t key[FLOE_WG_KEY_LEN], uint8_t fill)
{
	for (int i = 0; i < FLOE_WG_KEY_LEN; i++)
		key[i] = (uint8_t)(fill + i);
}

static void world_destroy(struct world *w)
{
	for (int s = 0; s < 2; s++)
		floe_wg_peer_destroy(&w->peer[s]);
	for (int s = 0; s < 2; s++)
		floe_wg_device_destroy(&w->dev[s]);
	free(w->out);
	w->out = NULL;
}

static int world_create(struct world *w)
{
	uint8_t priv[FLOE_WG_KEY_LEN];
	floe_wg_peer_config_t cfg;

	memset(w, 0, sizeof(*w));
	w->now = START_NS;
	w->out = malloc(OUT_CAP);
	if (!w->out)
		return -ENOMEM;
	for (int s = 0; s < 2; s++) {
		fixed_key(priv, (uint8_t)(0x10 * (s + 1)));
		w->dev[s] = floe_wg_device_new(priv);
		sodium_memzero(priv, sizeof(priv));
		if (!w->dev[s])
			goto err;
	}
	for (int s = 0; s < 2; s++) {
		memset(&cfg, 0, sizeof(cfg));
		floe_wg_device_public_key(w->dev[!s], cfg.public_key);
		fixed_key(cfg.preshared_key, 0x77);
		w->peer[s] = floe_wg_peer_new(w->dev[s], &cfg);
		sodium_memzero(&cfg, sizeof(cfg));
		if (!w->peer[s])
			goto err;
	}
	return 0;
err:
	world_destroy(w);
	return -ENOMEM;
}

static void add_real(struct world *w, const uint8_t *msg, size_t len, int to)
{
	struct real_msg *r;

	if (w->n_reals == MAX_REALS || len > sizeof(r->bytes))
		return;
	r = &w->reals[w->n_reals++];
	memcpy(r->bytes, msg, len);
	r->len = len;
	r->to = to;
	/* Without load MAC2 is not checked: its flips may pass. */
	r->checked_len = msg[0] == FLOE_WG_MSG_DATA ? len : len - MAC2_BYTES;
}

/*
 * Delivers one datagram to side `to`, checking wg.h's promises, and
 * bounces any answer back. Returns what receive returned.
 */
static ssize_t deliver(struct world *w, int to, const uint8_t *msg, size_t len, int hops)
{
	floe_wg_out_t kind = (floe_wg_out_t)-1;
	floe_wg_peer_t *p;
	uint8_t *answer;
	ssize_t n;

	p = floe_wg_device_lookup(w->dev[to], msg, len);
	CHECK(p == NULL || p == w->peer[to]);
	/* A connection actor owns one peer and skips the lookup. */
	memset(w->out, CANARY, CANARY_BYTES);
	n = floe_wg_peer_receive(w->peer[to], w->now, src_addr[!to], sizeof(src_addr[0]),
				 msg, len, w->out, OUT_CAP, &kind);
	(void)floe_wg_peer_take_events(w->peer[to]);
	if (n < 0) {
		for (size_t i = 0; i < CANARY_BYTES; i++)
			CHECK(w->out[i] == CANARY);
		return n;
	}
	CHECK((size_t)n <= OUT_CAP);
	CHECK(n == 0 ? kind == FLOE_WG_OUT_NONE : kind != FLOE_WG_OUT_NONE);
	if (kind != FLOE_WG_OUT_NETWORK || hops >= MAX_HOPS)
		return n;
	/* The answer goes back to the sender; `out` is reused on the way. */
	answer = malloc((size_t)n);
	if (!answer)
		return n;
	memcpy(answer, w->out, (size_t)n);
	(void)deliver(w, !to, answer, (size_t)n, hops + 1);
	free(answer);
	return n;
}

/* Writes a minimal IPv4 header + payload, so the receiver can unpad it. */
static size_t make_ipv4(uint8_t *pkt, size_t payload, uint8_t fill)
{
	size_t len = IPV4_HEADER_BYTES + payload;

	memset(pkt, fill, len);
	pkt[0] = 0x45;                 /* version 4, IHL 5 */
	pkt[1] = 0;
	pkt[2] = (uint8_t)(len >> 8);  /* total length */
	pkt[3] = (uint8_t)len;
	pkt[8] = 64;                   /* TTL */
	pkt[9] = 17;                   /* UDP */
	return len;
}

/* Side `from` sends one packet; the other side must get it back intact. */
static void send_packet(struct world *w, int from, size_t payload, uint8_t fill)
{
	uint8_t pkt[IPV4_HEADER_BYTES + 255];
	uint8_t dgram[sizeof(pkt) + 15 + FLOE_WG_DATA_OVERHEAD];
	floe_wg_out_t kind = FLOE_WG_OUT_NONE;
	size_t len = make_ipv4(pkt, payload, fill);
	ssize_t n;

	n = floe_wg_peer_encrypt(w->peer[from], w->now, pkt, len, dgram, sizeof(dgram));
	if (n < 0) {
		CHECK(n == -ENOKEY);
		return;
	}
	CHECK((size_t)n >= len + FLOE_WG_DATA_OVERHEAD && (size_t)n <= sizeof(dgram));
	CHECK(floe_wg_device_lookup(w->dev[!from], dgram, (size_t)n) == w->peer[!from]);
	n = floe_wg_peer_receive(w->peer[!from], w->now, src_addr[from], sizeof(src_addr[0]),
				 dgram, (size_t)n, w->out, OUT_CAP, &kind);
	(void)floe_wg_peer_take_events(w->peer[!from]);
	if (n > 0 && kind == FLOE_WG_OUT_TUNNEL) {
		CHECK((size_t)n == len);
		CHECK(memcmp(w->out, pkt, len) == 0);
	}
}

static void tick_side(struct world *w, int s)
{
	uint8_t *dgram;

	dgram = malloc(OUT_CAP);
	if (!dgram)
		return;
	for (int i = 0; i < MAX_TICK_OUTPUTS; i++) {
		ssize_t n = floe_wg_peer_tick(w->peer[s], w->now, dgram, OUT_CAP);

		CHECK(n <= (ssize_t)OUT_CAP);
		if (n <= 0)
			break;
		(void)deliver(w, !s, dgram, (size_t)n, 1);
	}
	(void)floe_wg_peer_take_events(w->peer[s]);
	free(dgram);
}

/* A's initiation, kept as a real message; returns its length or -errno. */
static ssize_t initiate(struct world *w, uint8_t *init, size_t cap)
{
	ssize_t n = floe_wg_peer_initiate(w->peer[SIDE_A], w->now, init, cap);

	if (n > 0)
		add_real(w, init, (size_t)n, SIDE_B);
	return n;
}

/*
 * Brings the world into `scenario`. Returns 0, or -errno when the engine
 * refused a step that must work (a bug in itself: the caller traps).
 */
static int world_enter(struct world *w, int scenario)
{
	uint8_t init[FLOE_WG_MSG_INITIATION_LEN];
	floe_wg_out_t kind = FLOE_WG_OUT_NONE;
	ssize_t n;

	n = initiate(w, init, sizeof(init));
	if (n != FLOE_WG_MSG_INITIATION_LEN)
		return n < 0 ? (int)n : -EPROTO;
	switch (scenario) {
	case SCENARIO_FRESH_RESPONDER:
		w->target = SIDE_B;
		return 0;
	case SCENARIO_UNDER_LOAD:
		floe_wg_device_set_under_load(w->dev[SIDE_B], true);
		w->target = SIDE_B;
		return 0;
	default:
		break;
	}
	n = floe_wg_peer_receive(w->peer[SIDE_B], w->now, src_addr[SIDE_A], sizeof(src_addr[0]),
				 init, (size_t)n, w->out, OUT_CAP, &kind);
	if (n != FLOE_WG_MSG_RESPONSE_LEN || kind != FLOE_WG_OUT_NETWORK)
		return n < 0 ? (int)n : -EPROTO;
	add_real(w, w->out, (size_t)n, SIDE_A);
	if (scenario == SCENARIO_AWAITING_RESPONSE) {
		w->target = SIDE_A;
		return 0;
	}
	{
		uint8_t resp[FLOE_WG_MSG_RESPONSE_LEN];

		memcpy(resp, w->out, sizeof(resp));
		n = floe_wg_peer_receive(w->peer[SIDE_A], w->now, src_addr[SIDE_B], sizeof(src_addr[0]),
					 resp, sizeof(resp), w->out, OUT_CAP, &kind);
		if (n < 0 || !floe_wg_peer_is_established(w->peer[SIDE_A]))
			return n < 0 ? (int)n : -EPROTO;
	}
	/* A's first packet confirms the keys for B; keep it as a real message. */
	{
		uint8_t pkt[IPV4_HEADER_BYTES + 32];
		uint8_t dgram[sizeof(pkt) + 15 + FLOE_WG_DATA_OVERHEAD];
		size_t len = make_ipv4(pkt, 32, 0x42);

		n = floe_wg_peer_encrypt(w->peer[SIDE_A], w->now, pkt, len, dgram, sizeof(dgram));
		if (n < 0)
			return (int)n;
		add_real(w, dgram, (size_t)n, SIDE_B);
		n = floe_wg_peer_receive(w->peer[SIDE_B], w->now, src_addr[SIDE_A], sizeof(src_addr[0]),
					 dgram, (size_t)n, w->out, OUT_CAP, &kind);
		if (n < 0 || !floe_wg_peer_is_established(w->peer[SIDE_B]))
			return n < 0 ? (int)n : -EPROTO;
		/* And one from B to A, a real message the other way. */
		n = floe_wg_peer_encrypt(w->peer[SIDE_B], w->now, pkt, len, dgram, sizeof(dgram));
		if (n < 0)
			return (int)n;
		add_real(w, dgram, (size_t)n, SIDE_A);
	}
	(void)floe_wg_peer_take_events(w->peer[SIDE_A]);
	(void)floe_wg_peer_take_events(w->peer[SIDE_B]);
	w->target = SIDE_B;
	return 0;
}

static void op_raw(struct world *w, struct reader *r, uint8_t opcode)
{
	size_t len = take_u16(r);
	int to = (opcode & OP_TARGET_OTHER) ? !w->target : w->target;
	uint8_t *msg;

	if (len > r->left)
		len = r->left;
	/* Exactly len bytes on the heap: reading past them is an ASan report. */
	msg = malloc(len ? len : 1);
	if (!msg)
		return;
	memcpy(msg, r->p, len);
	r->p += len;
	r->left -= len;
	(void)deliver(w, to, msg, len, 0);
	free(msg);
}

static void op_mutate(struct world *w, struct reader *r)
{
	const struct real_msg *real;
	uint8_t msg[sizeof(real->bytes)];
	size_t off;
	uint8_t flip;
	ssize_t n;

	if (w->n_reals == 0)
		return;
	real = &w->reals[take_u8(r) % w->n_reals];
	off = take_u16(r) % real->len;
	flip = take_u8(r);
	if (flip == 0)
		flip = 1;
	memcpy(msg, real->bytes, real->len);
	msg[off] ^= flip;
	n = deliver(w, real->to, msg, real->len, 0);
	/*
	 * A flipped byte under MAC1 (or anywhere in a data message) must not
	 * authenticate. A cookie reply to an initiation is fine only under
	 * load, where MAC1 was valid: the flip was in MAC2's bytes then.
	 */
	if (off < real->checked_len)
		CHECK(n < 0);
}

static void op_tick(struct world *w, struct reader *r)
{
	uint16_t advance = take_u16(r);

	if (advance == 0) {
		/* Straight to the earliest deadline of either side. */
		uint64_t a = floe_wg_peer_next_deadline_ns(w->peer[SIDE_A]);
		uint64_t b = floe_wg_peer_next_deadline_ns(w->peer[SIDE_B]);
		uint64_t next = a < b ? a : b;

		if (next != UINT64_MAX && next > w->now)
			w->now = next;
	}
	w->now += (uint64_t)advance * TICK_UNIT_MS * 1000000ULL;
	tick_side(w, SIDE_A);
	tick_side(w, SIDE_B);
}

/*
 * A burst of packets delivered out of order, with repeats: the replay
 * window must pass each counter exactly once, whatever the order.
 */
static void send_burst(struct world *w, int from, struct reader *r)
{
	enum { BURST = 8, PAYLOAD = 16 };
	uint8_t pkt[IPV4_HEADER_BYTES + PAYLOAD];
	uint8_t dgram[BURST][sizeof(pkt) + 15 + FLOE_WG_DATA_OVERHEAD];
	size_t dlen[BURST], n_sent = 0, len = make_ipv4(pkt, PAYLOAD, 0x33);
	bool accepted[BURST] = { false };

	for (size_t i = 0; i < BURST; i++) {
		ssize_t n = floe_wg_peer_encrypt(w->peer[from], w->now, pkt, len, dgram[i], sizeof(dgram[i]));

		if (n < 0)
			break;
		dlen[i] = (size_t)n;
		n_sent++;
	}
	for (int k = 0; k < 2 * BURST && n_sent; k++) {
		size_t i = take_u8(r) % n_sent;
		floe_wg_out_t kind = FLOE_WG_OUT_NONE;
		ssize_t n = floe_wg_peer_receive(w->peer[!from], w->now, src_addr[from], sizeof(src_addr[0]),
						 dgram[i], dlen[i], w->out, OUT_CAP, &kind);

		(void)floe_wg_peer_take_events(w->peer[!from]);
		if (n > 0 && kind == FLOE_WG_OUT_TUNNEL) {
			CHECK(!accepted[i]);
			CHECK((size_t)n == len && memcmp(w->out, pkt, len) == 0);
			accepted[i] = true;
		}
	}
}

static void op_send(struct world *w, struct reader *r, uint8_t opcode)
{
	int from = (opcode & OP_TARGET_OTHER) ? SIDE_B : SIDE_A;
	uint8_t payload = take_u8(r);

	if (opcode & OP_REKEY)
		floe_wg_peer_request_rekey(w->peer[from]);
	if (opcode & OP_BURST)
		send_burst(w, from, r);
	else
		send_packet(w, from, payload, opcode);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = { data, size };
	struct world w;
	int scenario;

	if (size == 0)
		return 0;
	rng_reset();
	scenario = take_u8(&r) % SCENARIO_COUNT;
	CHECK(world_create(&w) == 0);
	CHECK(world_enter(&w, scenario) == 0);
	for (int i = 0; i < MAX_OPS && r.left; i++) {
		uint8_t opcode = take_u8(&r);

		switch (opcode % OP_COUNT) {
		case OP_RAW: op_raw(&w, &r, opcode); break;
		case OP_MUTATE: op_mutate(&w, &r); break;
		case OP_TICK: op_tick(&w, &r); break;
		default: op_send(&w, &r, opcode); break;
		}
	}
	world_destroy(&w);
	return 0;
}

/* ---- seed corpus ----------------------------------------------------- */

static int write_seed(const char *dir, int idx, const uint8_t *bytes, size_t len)
{
	char path[4096];
	FILE *f;
	int ok;

	if (snprintf(path, sizeof(path), "%s/seed-%02d", dir, idx) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	f = fopen(path, "wb");
	if (!f)
		return -errno;
	ok = fwrite(bytes, 1, len, f) == len;
	if (fclose(f) != 0 || !ok)
		return -EIO;
	return 0;
}

/*
 * Seeds: per scenario, an untouched delivery of each real message (which
 * the fuzzer then learns to flip), a few malformed raw datagrams of every
 * type, sends both ways, and ticks through keepalive, rekey and give-up.
 */
static void write_seeds(const char *dir)
{
	uint8_t seed[64];
	int idx = 0;

	for (uint8_t sc = 0; sc < SCENARIO_COUNT; sc++) {
		const uint8_t bodies[][16] = {
			/* mutate real 0 at offset 0 (type) and at the end */
			{ OP_MUTATE, 0, 0, 0, 1, OP_MUTATE, 1, 0xff, 0xff, 0x80 },
			/* raw: 4-byte data header only; then a 32-byte "initiation" */
			{ OP_RAW, 4, 0, 4, 0, 0, 0, OP_RAW | OP_TARGET_OTHER, 8, 0, 1, 0, 0, 0, 9, 9 },
			/* send both ways, then ticks of 11 s, 125 s, 200 s */
			{ OP_SEND, 40, OP_SEND | OP_TARGET_OTHER, 0, OP_TICK, 0x4c, 0x04,
			  OP_TICK, 0xd4, 0x30, OP_TICK, 0x20, 0x4e, OP_SEND, 100 },
			/* a mutated real message, then send, then tick 6 s */
			{ OP_MUTATE, 2, 60, 0, 0x01, OP_SEND, 7, OP_TICK, 0x58, 0x02 },
		};

		for (size_t b = 0; b < sizeof(bodies) / sizeof(bodies[0]); b++) {
			seed[0] = sc;
			memcpy(seed + 1, bodies[b], sizeof(bodies[b]));
			if (write_seed(dir, idx++, seed, 1 + sizeof(bodies[b])) < 0)
				return;
		}
	}
}

static bool dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	bool empty = true;

	if (!d)
		return false;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.') {
			empty = false;
			break;
		}
	closedir(d);
	return empty;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* Must precede sodium_init: libsodium then never opens /dev/urandom. */
	if (randombytes_set_implementation(&rng_impl) != 0 || sodium_init() < 0)
		abort();
	rng_reset();
	/* The first non-flag argument is the corpus directory. */
	for (int i = 1; i < *argc; i++) {
		const char *arg = (*argv)[i];

		if (arg[0] == '-')
			continue;
		if (dir_is_empty(arg))
			write_seeds(arg);
		break;
	}
	return 0;
}
