/*
 * The device: routing datagrams to peers (by static key for initiations,
 * by receiver index otherwise), drops for strangers, index uniqueness, and
 * several threads driving different peers of one device at once.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>

#include "tests/wg/wg_pair.h"
#include "transport/wg/device.h"
#include "transport/wg/messages.h"

enum { N_CLIENTS = 4, ROUNDS = 25 };

typedef struct {
	floe_wg_device_t *server;           /* shared */
	floe_wg_peer_t *server_peer;        /* the server's peer for this client (this thread only) */
	floe_wg_device_t *client_dev;
	floe_wg_peer_t *client;
	int failures;
} client_t;

static void client_init(client_t *c, floe_wg_device_t *server)
{
	uint8_t k[32];
	floe_wg_peer_config_t to_server = { 0 }, to_client = { 0 };

	randombytes_buf(k, 32);
	c->server = server;
	c->client_dev = floe_wg_device_new(k);
	cr_assert(c->client_dev);
	floe_wg_device_public_key(server, to_server.public_key);
	floe_wg_device_public_key(c->client_dev, to_client.public_key);
	c->client = floe_wg_peer_new(c->client_dev, &to_server);
	c->server_peer = floe_wg_peer_new(server, &to_client);
	cr_assert(c->client && c->server_peer);
	c->failures = 0;
}

static void client_fini(client_t *c)
{
	floe_wg_peer_destroy(&c->client);
	floe_wg_peer_destroy(&c->server_peer);
	floe_wg_device_destroy(&c->client_dev);
}

/* One handshake and one packet each way, routing every server-bound datagram through device_lookup. */
static int client_round(client_t *c, uint64_t now)
{
	uint8_t init[BUF_LEN], resp[BUF_LEN], pkt[100], dgram[BUF_LEN], out[BUF_LEN];
	floe_wg_out_t kind;
	floe_wg_peer_t *routed;
	ssize_t n;

	if (floe_wg_peer_initiate(c->client, now, init, sizeof(init)) != FLOE_WG_MSG_INITIATION_LEN)
		return 1;
	routed = floe_wg_device_lookup(c->server, init, FLOE_WG_MSG_INITIATION_LEN);
	if (routed != c->server_peer)
		return 2;
	if (floe_wg_peer_receive(routed, now, NULL, 0, init, FLOE_WG_MSG_INITIATION_LEN, resp, BUF_LEN, &kind) !=
	    FLOE_WG_MSG_RESPONSE_LEN)
		return 3;
	if (floe_wg_device_lookup(c->client_dev, resp, FLOE_WG_MSG_RESPONSE_LEN) != c->client)
		return 4;
	if (floe_wg_peer_receive(c->client, now, NULL, 0, resp, FLOE_WG_MSG_RESPONSE_LEN, out, BUF_LEN, &kind) != 0)
		return 5;
	ip_packet(pkt, sizeof(pkt), 7);
	n = floe_wg_peer_encrypt(c->client, now, pkt, sizeof(pkt), dgram, sizeof(dgram));
	if (n <= 0 || floe_wg_device_lookup(c->server, dgram, (size_t)n) != c->server_peer)
		return 6;
	if (floe_wg_peer_receive(c->server_peer, now, NULL, 0, dgram, (size_t)n, out, BUF_LEN, &kind) != sizeof(pkt))
		return 7;
	n = floe_wg_peer_encrypt(c->server_peer, now, pkt, sizeof(pkt), dgram, sizeof(dgram));
	if (n <= 0 || floe_wg_device_lookup(c->client_dev, dgram, (size_t)n) != c->client)
		return 8;
	return 0;
}

Test(device, lookup_routes_each_message_to_its_peer)
{
	uint8_t k[32], junk[BUF_LEN];
	floe_wg_device_t *server;
	client_t clients[N_CLIENTS];
	uint64_t drops;

	randombytes_buf(k, 32);
	server = floe_wg_device_new(k);
	cr_assert(server);
	for (int i = 0; i < N_CLIENTS; i++)
		client_init(&clients[i], server);
	for (int i = 0; i < N_CLIENTS; i++)
		cr_assert_eq(client_round(&clients[i], T0 + S(6 * i)), 0, "client %d", i);

	drops = floe_wg_device_drops(server);
	randombytes_buf(junk, sizeof(junk));
	junk[0] = FLOE_WG_MSG_DATA;
	junk[1] = junk[2] = junk[3] = 0;
	cr_assert_null(floe_wg_device_lookup(server, junk, 64), "a random index names no peer (2^-32 flake)");
	junk[0] = FLOE_WG_MSG_INITIATION;
	cr_assert_null(floe_wg_device_lookup(server, junk, FLOE_WG_MSG_INITIATION_LEN), "bad MAC1");
	cr_assert_null(floe_wg_device_lookup(server, junk, 3));
	cr_assert_null(floe_wg_device_lookup(server, NULL, 64));
	junk[0] = 9;
	cr_assert_null(floe_wg_device_lookup(server, junk, 64));
	cr_assert_eq(floe_wg_device_drops(server), drops + 5);

	for (int i = 0; i < N_CLIENTS; i++)
		client_fini(&clients[i]);
	floe_wg_device_destroy(&server);
}

static void *client_thread(void *arg)
{
	client_t *c = arg;

	for (int r = 0; r < ROUNDS; r++)
		if (client_round(c, T0 + S(6 * r)) != 0)
			c->failures++;
	return NULL;
}

/* Different peers of one device on different threads: the tables are shared, the peers are not. */
Test(device, peers_driven_from_several_threads)
{
	uint8_t k[32];
	floe_wg_device_t *server;
	client_t clients[N_CLIENTS];
	pthread_t th[N_CLIENTS];

	randombytes_buf(k, 32);
	server = floe_wg_device_new(k);
	cr_assert(server);
	for (int i = 0; i < N_CLIENTS; i++)
		client_init(&clients[i], server);
	for (int i = 0; i < N_CLIENTS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, client_thread, &clients[i]), 0);
	for (int i = 0; i < N_CLIENTS; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(clients[i].failures, 0, "client %d", i);
	}
	for (int i = 0; i < N_CLIENTS; i++)
		client_fini(&clients[i]);
	floe_wg_device_destroy(&server);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

Test(device, receiver_indices_are_unique_and_unregister)
{
	enum { N = 20000 };
	uint8_t k[32];
	floe_wg_device_t *dev;
	floe_wg_index_entry_t *entries = calloc(N, sizeof(*entries));
	uint32_t *idx = calloc(N, sizeof(*idx));
	floe_wg_peer_t *fake = (floe_wg_peer_t *)(uintptr_t)0x1000;
	uint8_t msg[64] = { FLOE_WG_MSG_DATA };

	cr_assert(entries && idx);
	randombytes_buf(k, 32);
	dev = floe_wg_device_new(k);
	for (size_t i = 0; i < N; i++) {
		cr_assert_eq(floe_wg_device_index_register(dev, &entries[i], fake), 0);
		idx[i] = entries[i].index;
	}
	qsort(idx, N, sizeof(*idx), cmp_u32);
	for (size_t i = 1; i < N; i++)
		cr_assert_neq(idx[i], idx[i - 1], "duplicate index");
	floe_wg_le32_put(msg + FLOE_WG_DATA_OFF_RECEIVER, entries[123].index);
	cr_assert_eq(floe_wg_device_lookup(dev, msg, sizeof(msg)), fake);
	/* Moving an index keeps it routable; unregistering removes it. */
	floe_wg_index_entry_t moved = { 0 };
	floe_wg_device_index_move(dev, &entries[123], &moved);
	cr_assert_not(entries[123].registered);
	cr_assert(moved.registered);
	cr_assert_eq(floe_wg_device_lookup(dev, msg, sizeof(msg)), fake);
	floe_wg_device_index_unregister(dev, &moved);
	floe_wg_device_index_unregister(dev, &moved);
	cr_assert_null(floe_wg_device_lookup(dev, msg, sizeof(msg)));
	for (size_t i = 0; i < N; i++)
		floe_wg_device_index_unregister(dev, &entries[i]);
	free(entries);
	free(idx);
	floe_wg_device_destroy(&dev);
}

Test(device, public_key_and_under_load)
{
	uint8_t k[32], pub[32], want[32];
	floe_wg_device_t *dev;

	randombytes_buf(k, 32);
	dev = floe_wg_device_new(k);
	cr_assert(dev);
	floe_wg_device_public_key(dev, pub);
	cr_assert_eq(crypto_scalarmult_base(want, k), 0);
	cr_assert_eq(memcmp(pub, want, 32), 0);
	cr_assert_not(floe_wg_device_is_under_load(dev));
	floe_wg_device_set_under_load(dev, true);
	cr_assert(floe_wg_device_is_under_load(dev));
	floe_wg_device_destroy(&dev);
	cr_assert_null(dev);
}
