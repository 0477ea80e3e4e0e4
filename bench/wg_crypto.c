/*
 * WireGuard engine crypto throughput, one core, beside its ceilings:
 *
 *   - data path: floe_wg_peer_encrypt / floe_wg_peer_receive on an
 *     established session, against raw libsodium ChaCha20-Poly1305 IETF
 *     encrypt / decrypt of the same plaintext sizes in the same run;
 *   - handshakes: initiation + response + completion, against the X25519
 *     bound (crypto_scalarmult ops/s divided by the DHs one handshake does).
 *
 * Usage: bench_wg_crypto [--short] [seconds_per_case]
 *   seconds_per_case  timed seconds of each measurement (default 1)
 *   --short           about 2 s in all, for CI
 *
 * As libzmq's perf/ tools: a warm-up outside the timing, every return code
 * checked, units printed. The clock is read once per batch, not per packet.
 * Throughput counts plaintext bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "transport/wg/wg.h"

enum {
	BATCH = 256,                 /* packets between clock reads */
	LARGE_BYTES = 1420,
	SMALL_BYTES = 64,
	HANDSHAKE_PAIRS = 64,        /* initiators taking turns (see bench_handshakes) */
	/*
	 * X25519 operations per handshake with the static-static DH
	 * precomputed at peer creation, as WireGuard does: initiation
	 * (ephemeral, es), its consumption (es), response (ephemeral, ee, se),
	 * its consumption (ee, se).
	 */
	DH_PER_HANDSHAKE = 8,
	ENCRYPT_TARGET_PERCENT = 85,
};

#define DEFAULT_SECONDS 1.0
#define SHORT_SECONDS 0.12           /* 10 timed cases + warm-ups ~ 2 s */
#define WARMUP_FRACTION 0.2
#define BENCH_START_NS (1000ULL * 1000000000ULL)
#define REKEY_TIMEOUT_NS (6ULL * 1000000000ULL) /* > REKEY_TIMEOUT: initiate never says -EALREADY */

static const uint8_t src_addr[] = { 127, 0, 0, 1, 0xca, 0xfe };

#define DIE(...)                                                     \
	do {                                                         \
		fprintf(stderr, "bench_wg_crypto: " __VA_ARGS__);    \
		fputc('\n', stderr);                                 \
		exit(1);                                             \
	} while (0)

static double now_s(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		DIE("clock_gettime: %s", strerror(errno));
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- a pair of peers ------------------------------------------------- */

struct pair {
	floe_wg_device_t *dev_a, *dev_b;
	floe_wg_peer_t *a;   /* on dev_a, for B: the initiator */
	floe_wg_peer_t *b;   /* on dev_b, for A */
	uint64_t now;
};

static floe_wg_device_t *device_with_key(uint8_t fill)
{
	uint8_t priv[FLOE_WG_KEY_LEN];
	floe_wg_device_t *dev;

	memset(priv, fill, sizeof(priv));
	dev = floe_wg_device_new(priv);
	sodium_memzero(priv, sizeof(priv));
	if (!dev)
		DIE("floe_wg_device_new failed");
	return dev;
}

static floe_wg_peer_t *peer_for(floe_wg_device_t *dev, const floe_wg_device_t *remote)
{
	floe_wg_peer_config_t cfg;
	floe_wg_peer_t *p;

	memset(&cfg, 0, sizeof(cfg));
	floe_wg_device_public_key(remote, cfg.public_key);
	p = floe_wg_peer_new(dev, &cfg);
	if (!p)
		DIE("floe_wg_peer_new: %s", strerror(errno));
	return p;
}

static ssize_t receive(floe_wg_peer_t *p, uint64_t now, const uint8_t *msg, size_t len,
		       uint8_t *out, size_t cap, floe_wg_out_t expect)
{
	floe_wg_out_t kind = FLOE_WG_OUT_NONE;
	ssize_t n = floe_wg_peer_receive(p, now, src_addr, sizeof(src_addr), msg, len, out, cap, &kind);

	if (n < 0)
		DIE("floe_wg_peer_receive: %s", strerror((int)-n));
	if (kind != expect)
		DIE("floe_wg_peer_receive: output kind %d, expected %d", (int)kind, (int)expect);
	return n;
}

/* One full handshake initiated by a; returns with both sides established. */
static void handshake(floe_wg_peer_t *a, floe_wg_peer_t *b, uint64_t now)
{
	uint8_t init[FLOE_WG_MSG_INITIATION_LEN];
	uint8_t resp[FLOE_WG_MSG_INITIATION_LEN]; /* receive wants cap >= the received length */
	uint8_t scratch[FLOE_WG_MSG_INITIATION_LEN];
	ssize_t n;

	n = floe_wg_peer_initiate(a, now, init, sizeof(init));
	if (n != FLOE_WG_MSG_INITIATION_LEN)
		DIE("floe_wg_peer_initiate: %zd", n);
	n = receive(b, now, init, (size_t)n, resp, sizeof(resp), FLOE_WG_OUT_NETWORK);
	if (n != FLOE_WG_MSG_RESPONSE_LEN)
		DIE("handshake response of %zd bytes", n);
	(void)receive(a, now, resp, (size_t)n, scratch, sizeof(scratch), FLOE_WG_OUT_NONE);
	if (!(floe_wg_peer_take_events(a) & FLOE_WG_EV_HANDSHAKE_COMPLETE))
		DIE("initiator did not complete the handshake");
}

static void pair_open(struct pair *p)
{
	uint8_t dgram[FLOE_WG_DATA_OVERHEAD + 16], plain[FLOE_WG_MSG_INITIATION_LEN];
	ssize_t n;

	p->now = BENCH_START_NS;
	p->dev_a = device_with_key(0x11);
	p->dev_b = device_with_key(0x22);
	p->a = peer_for(p->dev_a, p->dev_b);
	p->b = peer_for(p->dev_b, p->dev_a);
	handshake(p->a, p->b, p->now);
	/* A keepalive confirms the keys to the responder. */
	n = floe_wg_peer_encrypt(p->a, p->now, NULL, 0, dgram, sizeof(dgram));
	if (n < 0)
		DIE("keepalive: %s", strerror((int)-n));
	(void)receive(p->b, p->now, dgram, (size_t)n, plain, sizeof(plain), FLOE_WG_OUT_NONE);
	if (!floe_wg_peer_is_established(p->a) || !floe_wg_peer_is_established(p->b))
		DIE("session not established both ways");
}

static void pair_close(struct pair *p)
{
	floe_wg_peer_destroy(&p->a);
	floe_wg_peer_destroy(&p->b);
	floe_wg_device_destroy(&p->dev_a);
	floe_wg_device_destroy(&p->dev_b);
}

/* ---- timed loops ----------------------------------------------------- */

/*
 * A case runs batches of BATCH operations through `step`; `prepare`
 * (optional, untimed) readies a batch.
 */
struct bench_case {
	void (*prepare)(void *ctx);
	void (*step)(void *ctx, int i);
	void *ctx;
};

static double run_batch(const struct bench_case *c)
{
	double t0;

	if (c->prepare)
		c->prepare(c->ctx);
	t0 = now_s();
	for (int i = 0; i < BATCH; i++)
		c->step(c->ctx, i);
	return now_s() - t0;
}

/*
 * Rates of n cases (ops/s). Their batches take turns, so that load from
 * other processes on a shared machine hits all of them alike and their
 * ratio stays meaningful.
 */
static void run_rates(const struct bench_case *cases, double *rate, int n, double seconds)
{
	double timed[2] = { 0 }, warm_until = now_s() + seconds * WARMUP_FRACTION;
	unsigned long long batches = 0;

	if (n > 2)
		DIE("run_rates: at most 2 cases");
	/* Warm-up: caches, branch predictors, CPU frequency. Not counted. */
	do {
		for (int k = 0; k < n; k++)
			(void)run_batch(&cases[k]);
	} while (now_s() < warm_until);
	while (timed[0] < seconds) {
		for (int k = 0; k < n; k++)
			timed[k] += run_batch(&cases[k]);
		batches++;
	}
	for (int k = 0; k < n; k++)
		rate[k] = (double)(batches * BATCH) / timed[k];
}

static double run_rate(const struct bench_case *c, double seconds)
{
	double rate;

	run_rates(c, &rate, 1, seconds);
	return rate;
}

/* Raw libsodium AEAD, with a nonce laid out as WireGuard's. */
struct raw_ctx {
	uint8_t key[crypto_aead_chacha20poly1305_ietf_KEYBYTES];
	uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
	uint64_t counter;
	uint8_t *plain, *sealed;
	size_t len;
};

static void raw_encrypt_step(void *ctx, int i)
{
	struct raw_ctx *r = ctx;
	unsigned long long clen;

	r->counter++;
	memcpy(r->nonce + 4, &r->counter, sizeof(r->counter));
	if (crypto_aead_chacha20poly1305_ietf_encrypt(r->sealed, &clen, r->plain, r->len,
						       NULL, 0, NULL, r->nonce, r->key) != 0)
		DIE("crypto_aead_chacha20poly1305_ietf_encrypt failed");
}

static void raw_decrypt_step(void *ctx, int i)
{
	struct raw_ctx *r = ctx;
	unsigned long long mlen;

	if (crypto_aead_chacha20poly1305_ietf_decrypt(r->plain, &mlen, NULL, r->sealed,
						       r->len + crypto_aead_chacha20poly1305_ietf_ABYTES,
						       NULL, 0, r->nonce, r->key) != 0 || mlen != r->len)
		DIE("crypto_aead_chacha20poly1305_ietf_decrypt failed");
}

/* The engine: A encrypts, B receives a ring of A's datagrams. */
struct floe_ctx {
	struct pair *pair;
	uint8_t *plain, *out;
	size_t len, cap;
	uint8_t *ring;               /* BATCH datagrams of ring_stride bytes */
	size_t ring_stride, ring_len[BATCH];
};

static void floe_encrypt_step(void *ctx, int i)
{
	struct floe_ctx *f = ctx;
	ssize_t n = floe_wg_peer_encrypt(f->pair->a, f->pair->now, f->plain, f->len, f->out, f->cap);

	if (n < (ssize_t)(f->len + FLOE_WG_DATA_OVERHEAD))
		DIE("floe_wg_peer_encrypt: %zd", n);
}

/* Untimed: the next BATCH datagrams for B, fresh counters so none is a replay. */
static void floe_decrypt_prepare(void *ctx)
{
	struct floe_ctx *f = ctx;

	for (int i = 0; i < BATCH; i++) {
		ssize_t n = floe_wg_peer_encrypt(f->pair->a, f->pair->now, f->plain, f->len,
						 f->ring + (size_t)i * f->ring_stride, f->ring_stride);

		if (n < 0)
			DIE("floe_wg_peer_encrypt: %s", strerror((int)-n));
		f->ring_len[i] = (size_t)n;
	}
}

static void floe_decrypt_step(void *ctx, int i)
{
	struct floe_ctx *f = ctx;
	ssize_t n = receive(f->pair->b, f->pair->now, f->ring + (size_t)i * f->ring_stride,
			    f->ring_len[i], f->out, f->cap, FLOE_WG_OUT_TUNNEL);

	if ((size_t)n != f->len)
		DIE("decrypted %zd bytes, sent %zu", n, f->len);
}

/* A plaintext the receiver accepts: an IPv4 header whose length is len. */
static void fill_ipv4(uint8_t *pkt, size_t len)
{
	memset(pkt, 0x5c, len);
	pkt[0] = 0x45;
	pkt[2] = (uint8_t)(len >> 8);
	pkt[3] = (uint8_t)len;
	pkt[8] = 64;
	pkt[9] = 17;
}

static double gbps(double pps, size_t len)
{
	return pps * (double)len * 8 / 1e9;
}

static void print_pair(const char *what, size_t len, double raw, double eng)
{
	printf("%-8s %5zu [B]  raw: %9.0f [packets/s] %6.2f [Gb/s]   floe: %9.0f [packets/s] %6.2f [Gb/s]   ratio: %.3f\n",
	       what, len, raw, gbps(raw, len), eng, gbps(eng, len), eng / raw);
}

/* Returns floe/raw for encryption at this size. */
static double bench_size(struct pair *pair, size_t len, double seconds)
{
	struct raw_ctx raw = { .len = len };
	struct floe_ctx fl = { .pair = pair, .len = len };
	double enc[2], dec[2];

	fl.cap = len + 15 + FLOE_WG_DATA_OVERHEAD;
	fl.ring_stride = fl.cap;
	raw.plain = malloc(len);
	raw.sealed = malloc(len + crypto_aead_chacha20poly1305_ietf_ABYTES);
	fl.plain = malloc(len);
	fl.out = malloc(fl.cap);
	fl.ring = malloc((size_t)BATCH * fl.ring_stride);
	if (!raw.plain || !raw.sealed || !fl.plain || !fl.out || !fl.ring)
		DIE("out of memory");
	fill_ipv4(raw.plain, len);
	fill_ipv4(fl.plain, len);
	crypto_aead_chacha20poly1305_ietf_keygen(raw.key);
	memset(raw.nonce, 0, sizeof(raw.nonce));

	/* One raw encryption first: raw.sealed then holds a box to open over and over. */
	raw_encrypt_step(&raw, 0);
	run_rates((const struct bench_case[]){
			  { NULL, raw_encrypt_step, &raw },
			  { NULL, floe_encrypt_step, &fl },
		  }, enc, 2, seconds);
	run_rates((const struct bench_case[]){
			  { NULL, raw_decrypt_step, &raw },
			  { floe_decrypt_prepare, floe_decrypt_step, &fl },
		  }, dec, 2, seconds);

	print_pair("encrypt", len, enc[0], enc[1]);
	print_pair("decrypt", len, dec[0], dec[1]);

	sodium_memzero(raw.key, sizeof(raw.key));
	free(raw.plain);
	free(raw.sealed);
	free(fl.plain);
	free(fl.out);
	free(fl.ring);
	return enc[1] / enc[0];
}

/* ---- handshakes ------------------------------------------------------ */

struct x25519_ctx {
	uint8_t scalar[crypto_scalarmult_SCALARBYTES];
	uint8_t point[crypto_scalarmult_BYTES];
};

static void x25519_step(void *ctx, int i)
{
	struct x25519_ctx *x = ctx;
	uint8_t q[crypto_scalarmult_BYTES];

	if (crypto_scalarmult(q, x->scalar, x->point) != 0)
		DIE("crypto_scalarmult failed");
	/* Chain the result so the work cannot be hoisted or skipped. */
	memcpy(x->point, q, sizeof(q));
}

/*
 * Many initiators, one responder: a responder rejects an initiation whose
 * timestamp is not newer than the last one from that peer, and WireGuard
 * may coarsen timestamps, so back-to-back handshakes take turns.
 */
struct hs_ctx {
	floe_wg_device_t *responder;
	floe_wg_device_t *dev[HANDSHAKE_PAIRS];
	floe_wg_peer_t *init[HANDSHAKE_PAIRS];
	floe_wg_peer_t *resp[HANDSHAKE_PAIRS];
	uint64_t now;
	unsigned next;
};

static void handshake_step(void *ctx, int i)
{
	struct hs_ctx *h = ctx;
	unsigned k = h->next++ % HANDSHAKE_PAIRS;

	/* Manual clock: past REKEY_TIMEOUT, so initiate is never rate limited. */
	h->now += REKEY_TIMEOUT_NS;
	handshake(h->init[k], h->resp[k], h->now);
}

static void bench_handshakes(double seconds)
{
	struct x25519_ctx x;
	struct hs_ctx h = { .now = BENCH_START_NS };
	struct bench_case c;
	double dh, hs;

	randombytes_buf(x.scalar, sizeof(x.scalar));
	if (crypto_scalarmult_base(x.point, x.scalar) != 0)
		DIE("crypto_scalarmult_base failed");
	c = (struct bench_case){ NULL, x25519_step, &x };
	dh = run_rate(&c, seconds);
	sodium_memzero(&x, sizeof(x));

	h.responder = device_with_key(0x33);
	for (int k = 0; k < HANDSHAKE_PAIRS; k++) {
		h.dev[k] = device_with_key((uint8_t)(0x40 + k));
		h.init[k] = peer_for(h.dev[k], h.responder);
		h.resp[k] = peer_for(h.responder, h.dev[k]);
	}
	c = (struct bench_case){ NULL, handshake_step, &h };
	hs = run_rate(&c, seconds);

	printf("x25519:   %9.0f [ops/s]  bound: %9.0f [handshakes/s] (%d DH each)\n",
	       dh, dh / DH_PER_HANDSHAKE, DH_PER_HANDSHAKE);
	printf("handshake: %8.0f [handshakes/s] (initiation + response + completion, one thread)  ratio: %.3f\n",
	       hs, hs / (dh / DH_PER_HANDSHAKE));

	for (int k = 0; k < HANDSHAKE_PAIRS; k++) {
		floe_wg_peer_destroy(&h.init[k]);
		floe_wg_peer_destroy(&h.resp[k]);
		floe_wg_device_destroy(&h.dev[k]);
	}
	floe_wg_device_destroy(&h.responder);
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [--short] [seconds_per_case]\n", prog);
	exit(2);
}

int main(int argc, char **argv)
{
	double seconds = DEFAULT_SECONDS, ratio;
	struct pair pair;
	int arg = 1;

	if (arg < argc && strcmp(argv[arg], "--short") == 0) {
		seconds = SHORT_SECONDS;
		arg++;
	}
	if (arg < argc) {
		char *end;

		seconds = strtod(argv[arg++], &end);
		if (*end != '\0' || !(seconds > 0) || seconds > 600)
			usage(argv[0]);
	}
	if (arg != argc)
		usage(argv[0]);
	if (sodium_init() < 0)
		DIE("sodium_init failed");

	printf("seconds per case: %.2f, one thread, plaintext bytes counted\n", seconds);
	pair_open(&pair);
	ratio = bench_size(&pair, LARGE_BYTES, seconds);
	(void)bench_size(&pair, SMALL_BYTES, seconds);
	pair_close(&pair);
	bench_handshakes(seconds);

	printf("encrypt %d [B]: floe reaches %.1f%% of raw ChaCha20-Poly1305 (target >= %d%%): %s\n",
	       LARGE_BYTES, ratio * 100, ENCRYPT_TARGET_PERCENT,
	       ratio * 100 >= ENCRYPT_TARGET_PERCENT ? "ok" : "BELOW TARGET");
	return 0;
}
