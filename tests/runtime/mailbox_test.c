/*
 * Mailboxes: the bound is exactly SNDHWM + RCVHWM per sender, a full
 * mailbox drops and counts without blocking, every dropped or queued
 * buffer goes back to its pool, batches come out in order, and packets
 * cross threads intact (run under ASan and TSan too).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <zmq.h>

#include "runtime/mailbox.h"

static floe_ctx_t *ctx;
static floe_pool_t *pool;
static floe_mailbox_t *mb;

enum { POOL_BUFS = FLOE_MAILBOX_HWM_MSGS + 64 };

static void setup(void)
{
	ctx = floe_ctx_new();
	cr_assert_not_null(ctx);
	pool = floe_pool_new(FLOE_POOL_BUF_BYTES, POOL_BUFS);
	cr_assert_not_null(pool);
	mb = floe_mailbox_new(ctx);
	cr_assert_not_null(mb);
}

static void teardown(void)
{
	floe_mailbox_destroy(&mb);
	floe_ctx_destroy(&ctx);
	cr_assert_eq(floe_pool_available(pool), POOL_BUFS, "no buffer leaked");
	cr_assert_eq(floe_pool_destroy(&pool), 0);
}

TestSuite(mailbox, .init = setup, .fini = teardown, .timeout = 60);

static floe_msg_t *s_packet(uint32_t seq, size_t len)
{
	floe_msg_t *m = floe_msg_new(pool, FLOE_MSG_TUN_PACKET);

	cr_assert_not_null(m);
	cr_assert_eq(floe_msg_set_len(m, len), 0);
	memset(floe_msg_data(m), (int)(seq & 0xff), len);
	memcpy(floe_msg_data(m), &seq, sizeof(seq));
	return m;
}

static uint32_t s_seq(floe_msg_t *m)
{
	uint32_t seq;

	memcpy(&seq, floe_msg_data(m), sizeof(seq));
	return seq;
}

Test(mailbox, context_raises_socket_limit)
{
	cr_assert_eq(zmq_ctx_get(floe_ctx_zmq(ctx), ZMQ_MAX_SOCKETS), FLOE_CTX_MAX_SOCKETS);
	cr_assert_eq(zmq_ctx_get(floe_ctx_zmq(ctx), ZMQ_IO_THREADS), 0);
	cr_assert_eq(strncmp(floe_mailbox_endpoint(mb), "inproc://", 9), 0);
}

Test(mailbox, bound_is_exact_and_full_mailbox_drops_and_counts)
{
	floe_mailbox_sender_t *s = floe_mailbox_sender_new(ctx, floe_mailbox_endpoint(mb));
	floe_msg_t *m, *batch[FLOE_MAILBOX_BATCH_MAX_MSGS];
	int i, n, total = 0;

	cr_assert_not_null(s);
	/* Nobody reads: exactly HWM messages fit, then every send drops. */
	for (i = 0; i < FLOE_MAILBOX_HWM_MSGS; i++) {
		m = s_packet((uint32_t)i, 64);
		cr_assert_eq(floe_mailbox_send(s, &m), 0, "message %d of %d", i,
			     FLOE_MAILBOX_HWM_MSGS);
		cr_assert_null(m);
	}
	for (i = 0; i < 10; i++) {
		m = s_packet(0xdead, 64);
		cr_assert_eq(floe_mailbox_send(s, &m), -EAGAIN);
		cr_assert_null(m, "a dropped message is consumed too");
	}
	cr_assert_eq(floe_mailbox_sender_drops(s), 10);
	cr_assert_eq(floe_mailbox_sender_sent(s), FLOE_MAILBOX_HWM_MSGS);
	cr_assert_eq(floe_pool_available(pool), POOL_BUFS - FLOE_MAILBOX_HWM_MSGS,
		     "dropped buffers went back, queued ones are held");

	/* try_send keeps the message on a full mailbox, counting nothing. */
	m = s_packet(0xbeef, 64);
	cr_assert_eq(floe_mailbox_try_send(s, &m), -EAGAIN);
	cr_assert_not_null(m);
	cr_assert_eq(s_seq(m), 0xbeef);
	cr_assert_eq(floe_mailbox_sender_drops(s), 10);
	cr_assert_eq(floe_mailbox_sender_wait_writable(s, 0), 0, "still full");

	/* Everything queued comes out, in order, none of the dropped ones. */
	while ((n = floe_mailbox_recv_batch(mb, batch, FLOE_MAILBOX_BATCH_MAX_MSGS)) > 0) {
		for (i = 0; i < n; i++) {
			cr_assert_eq(s_seq(batch[i]), (uint32_t)(total + i));
			floe_msg_destroy(&batch[i]);
		}
		total += n;
	}
	cr_assert_eq(n, 0);
	cr_assert_eq(total, FLOE_MAILBOX_HWM_MSGS);

	/* Room again: the kept message goes through now. */
	cr_assert_eq(floe_mailbox_sender_wait_writable(s, 1000), 1);
	cr_assert_eq(floe_mailbox_try_send(s, &m), 0);
	cr_assert_null(m);
	cr_assert_eq(floe_mailbox_recv(mb, &m, 1000), 0);
	cr_assert_eq(s_seq(m), 0xbeef);
	floe_msg_destroy(&m);
	floe_mailbox_sender_destroy(&s);
	cr_assert_null(s);
	floe_mailbox_sender_destroy(&s);
}

Test(mailbox, each_sender_has_its_own_bound)
{
	floe_mailbox_sender_t *a = floe_mailbox_sender_new(ctx, floe_mailbox_endpoint(mb));
	floe_mailbox_sender_t *b = floe_mailbox_sender_new(ctx, floe_mailbox_endpoint(mb));
	floe_msg_t *m;
	int i, sent_a = 0, sent_b = 0;

	cr_assert_not_null(a);
	cr_assert_not_null(b);
	for (i = 0; i < FLOE_MAILBOX_HWM_MSGS / 2 + 10; i++) {
		m = s_packet(1, 16);
		sent_a += floe_mailbox_send(a, &m) == 0;
		m = s_packet(2, 16);
		sent_b += floe_mailbox_send(b, &m) == 0;
	}
	cr_assert_eq(sent_a, FLOE_MAILBOX_HWM_MSGS / 2 + 10);
	cr_assert_eq(sent_b, FLOE_MAILBOX_HWM_MSGS / 2 + 10);
	cr_assert_eq(floe_mailbox_sender_drops(a) + floe_mailbox_sender_drops(b), 0);
	floe_mailbox_sender_destroy(&a);
	floe_mailbox_sender_destroy(&b);
	/* teardown: destroying the mailbox returns every queued buffer. */
}

Test(mailbox, destroy_returns_queued_buffers)
{
	floe_mailbox_sender_t *s = floe_mailbox_sender_new(ctx, floe_mailbox_endpoint(mb));
	floe_msg_t *m;
	int i;

	cr_assert_not_null(s);
	for (i = 0; i < 100; i++) {
		m = s_packet((uint32_t)i, 1420);
		cr_assert_eq(floe_mailbox_send(s, &m), 0);
	}
	floe_mailbox_sender_destroy(&s);
	cr_assert_eq(floe_pool_available(pool), POOL_BUFS - 100);
	floe_mailbox_destroy(&mb);
	cr_assert_null(mb);
	cr_assert_eq(floe_pool_available(pool), POOL_BUFS, "back when destroy returns");
}

Test(mailbox, batch_receive_takes_what_is_there)
{
	floe_mailbox_sender_t *s = floe_mailbox_sender_new(ctx, floe_mailbox_endpoint(mb));
	floe_msg_t *m, *batch[32];
	int i, n, expect[] = { 32, 32, 32, 4, 0 };

	cr_assert_not_null(s);
	cr_assert_eq(floe_mailbox_recv_batch(mb, batch, 32), 0, "empty: returns at once");
	cr_assert_eq(floe_mailbox_wait(mb, 0), 0);
	for (i = 0; i < 100; i++) {
		m = s_packet((uint32_t)i, 100);
		cr_assert_eq(floe_mailbox_send(s, &m), 0);
	}
	cr_assert_eq(floe_mailbox_wait(mb, 1000), 1);
	for (i = 0; i < (int)FLOE_ARRAY_LEN(expect); i++) {
		int k;

		n = floe_mailbox_recv_batch(mb, batch, 32);
		cr_assert_eq(n, expect[i]);
		for (k = 0; k < n; k++) {
			cr_assert_eq(s_seq(batch[k]), (uint32_t)(i * 32 + k));
			cr_assert_eq(floe_msg_len(batch[k]), 100);
			cr_assert_eq(floe_msg_type(batch[k]), FLOE_MSG_TUN_PACKET);
			floe_msg_destroy(&batch[k]);
		}
	}
	cr_assert_eq(floe_mailbox_recv_batch(mb, batch, FLOE_MAILBOX_BATCH_MAX_MSGS + 1), -EINVAL);
	cr_assert_eq(floe_mailbox_recv(mb, &m, 10), -EAGAIN, "timeout when empty");
	floe_mailbox_sender_destroy(&s);
}

Test(mailbox, foreign_frames_are_counted_not_trusted)
{
	void *raw = zmq_socket(floe_ctx_zmq(ctx), ZMQ_PUSH);
	floe_msg_t *batch[4];
	char junk[300];
	int linger = 0;

	cr_assert_not_null(raw);
	cr_assert_eq(zmq_setsockopt(raw, ZMQ_LINGER, &linger, sizeof(linger)), 0);
	cr_assert_eq(zmq_connect(raw, floe_mailbox_endpoint(mb)), 0);
	memset(junk, 0x5a, sizeof(junk));
	cr_assert_eq(zmq_send(raw, junk, 3, 0), 3);
	cr_assert_eq(zmq_send(raw, junk, sizeof(junk), 0), (int)sizeof(junk));
	cr_assert_eq(floe_mailbox_wait(mb, 1000), 1);
	cr_assert_eq(floe_mailbox_recv_batch(mb, batch, 4), 0);
	cr_assert_eq(floe_mailbox_malformed(mb), 2);
	cr_assert_eq(zmq_close(raw), 0);
}

Test(mailbox, forwarding_a_received_message_reuses_it)
{
	floe_mailbox_t *second = floe_mailbox_new(ctx);
	floe_mailbox_sender_t *s1 = floe_mailbox_sender_new(ctx, floe_mailbox_endpoint(mb));
	floe_mailbox_sender_t *s2;
	floe_msg_t *m = s_packet(77, 500);

	cr_assert_not_null(second);
	s2 = floe_mailbox_sender_new(ctx, floe_mailbox_endpoint(second));
	cr_assert_not_null(s1);
	cr_assert_not_null(s2);
	cr_assert_eq(floe_mailbox_send(s1, &m), 0);
	cr_assert_eq(floe_mailbox_recv(mb, &m, 1000), 0);
	cr_assert_eq(floe_pool_available(pool), POOL_BUFS - 1);
	cr_assert_eq(floe_mailbox_send(s2, &m), 0);
	cr_assert_eq(floe_mailbox_recv(second, &m, 1000), 0);
	cr_assert_eq(s_seq(m), 77);
	cr_assert_eq(floe_msg_len(m), 500);
	cr_assert_eq(floe_pool_available(pool), POOL_BUFS - 1, "one buffer all the way");
	floe_msg_destroy(&m);
	cr_assert_eq(floe_pool_available(pool), POOL_BUFS);
	floe_mailbox_sender_destroy(&s1);
	floe_mailbox_sender_destroy(&s2);
	floe_mailbox_destroy(&second);
}

/* Producers on their own threads, each with its own sender. */
enum { PRODUCERS = 3, PER_PRODUCER = 3000 };

struct producer {
	const char *endpoint;
	uint32_t id;
	int sent, dropped, no_buffer;
};

static void *s_produce(void *arg)
{
	struct producer *p = arg;
	floe_mailbox_sender_t *s = floe_mailbox_sender_new(ctx, p->endpoint);
	int i;

	if (!s)
		return NULL;
	for (i = 0; i < PER_PRODUCER; i++) {
		floe_msg_t *m = floe_msg_new(pool, FLOE_MSG_DATAGRAM);
		uint32_t word[2] = { p->id, (uint32_t)i };
		int rc;

		if (!m) {
			p->no_buffer++; /* the pool bounds memory: the caller drops */
			continue;
		}
		(void)floe_msg_set_len(m, 1420);
		memset(floe_msg_data(m), (int)p->id, 1420);
		memcpy(floe_msg_data(m), word, sizeof(word));
		rc = floe_mailbox_send(s, &m);
		if (rc == 0)
			p->sent++;
		else if (rc == -EAGAIN)
			p->dropped++;
	}
	if ((uint64_t)p->dropped != floe_mailbox_sender_drops(s))
		p->sent = -1;
	floe_mailbox_sender_destroy(&s);
	return NULL;
}

Test(mailbox, many_producers_order_per_producer_and_intact_payloads)
{
	struct producer p[PRODUCERS];
	pthread_t t[PRODUCERS];
	int next[PRODUCERS] = { 0 }, received = 0, sent = 0, i, n, k, idle = 0;
	floe_msg_t *batch[32];

	for (i = 0; i < PRODUCERS; i++) {
		p[i] = (struct producer){ .endpoint = floe_mailbox_endpoint(mb), .id = (uint32_t)i };
		cr_assert_eq(pthread_create(&t[i], NULL, s_produce, &p[i]), 0);
	}
	/* Receive until the producers are done and 200 ms pass without a message. */
	while (idle < 20) {
		if (floe_mailbox_wait(mb, 10) == 0) {
			idle++;
			continue;
		}
		idle = 0;
		n = floe_mailbox_recv_batch(mb, batch, 32);
		cr_assert_geq(n, 0);
		for (k = 0; k < n; k++) {
			uint32_t word[2];
			const uint8_t *d = floe_msg_data(batch[k]);

			memcpy(word, d, sizeof(word));
			cr_assert_lt(word[0], PRODUCERS);
			cr_assert_geq((int)word[1], next[word[0]], "per-producer order kept");
			next[word[0]] = (int)word[1] + 1;
			cr_assert_eq(floe_msg_len(batch[k]), 1420);
			cr_assert_eq(d[1419], (uint8_t)word[0], "payload intact");
			floe_msg_destroy(&batch[k]);
		}
		received += n;
	}
	for (i = 0; i < PRODUCERS; i++) {
		cr_assert_eq(pthread_join(t[i], NULL), 0);
		cr_assert_geq(p[i].sent, 0, "drops seen by the producer == drops counted");
		cr_assert_eq(p[i].sent + p[i].dropped + p[i].no_buffer, PER_PRODUCER);
		sent += p[i].sent;
	}
	cr_assert_eq(received, sent, "every queued message arrived exactly once");
}
