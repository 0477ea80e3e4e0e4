/*
 * Device admission under a handshake flood: load detected from the rate
 * of MAC1-valid handshakes (enter at once, leave with hysteresis), cookie
 * replies instead of DH under load, MAC2 holders admitted subject to the
 * per-source limiter, bad MAC1 dropped, and non-handshake input untouched.
 */
#include <criterion/criterion.h>
#include <sodium.h>

#include "tests/wg/wg_pair.h"
#include "transport/wg/cookie.h"
#include "transport/wg/messages.h"
#include "transport/wg/ratelimit.h"

#define ENTER_PER_WINDOW (FLOE_WG_LOAD_ENTER_PER_S * FLOE_WG_LOAD_WINDOW_MS / 1000)

static const uint8_t attacker_src[4] = { 203, 0, 113, 9 };

/* What a flood sends: random bytes, a MAC1 that is right for `dev`. */
static void bogus_initiation(floe_wg_device_t *dev, uint8_t msg[FLOE_WG_MSG_INITIATION_LEN])
{
	uint8_t pub[32], mac1_key[32];

	randombytes_buf(msg, FLOE_WG_MSG_INITIATION_LEN);
	floe_wg_header_put(msg, FLOE_WG_MSG_INITIATION);
	memset(msg + FLOE_WG_INIT_OFF_MAC2, 0, FLOE_WG_MAC_LEN);
	floe_wg_device_public_key(dev, pub);
	floe_wg_cookie_mac1_key(mac1_key, pub);
	floe_wg_cookie_add_mac1(msg, FLOE_WG_MSG_INITIATION_LEN, mac1_key);
}

/* Offers n bogus initiations at `now`; returns how many got a cookie reply. */
static int flood(floe_wg_device_t *dev, uint64_t now, int n)
{
	uint8_t msg[FLOE_WG_MSG_INITIATION_LEN], out[BUF_LEN];
	int replies = 0;

	for (int i = 0; i < n; i++) {
		ssize_t r;

		bogus_initiation(dev, msg);
		r = floe_wg_device_admit(dev, now, attacker_src, 4, NULL, msg, sizeof(msg), out, sizeof(out));
		cr_assert(r == 0 || r == FLOE_WG_MSG_COOKIE_REPLY_LEN, "admit: %zd", r);
		if (r > 0) {
			cr_assert_eq(out[0], FLOE_WG_MSG_COOKIE_REPLY);
			cr_assert_eq(memcmp(out + FLOE_WG_COOKIE_OFF_RECEIVER, msg + FLOE_WG_INIT_OFF_SENDER, 4), 0);
			replies++;
		}
	}
	return replies;
}

static bool under_load(floe_wg_device_t *dev)
{
	floe_wg_device_stats_t st;

	floe_wg_device_stats(dev, &st);
	return st.under_load;
}

Test(admit, quiet_device_admits_and_filters_mac1)
{
	pair_t p;
	uint8_t init[BUF_LEN], out[BUF_LEN], data[64] = { FLOE_WG_MSG_DATA };
	floe_wg_device_stats_t st;

	pair_init(&p, false, 0);
	cr_assert_eq(floe_wg_peer_initiate(p.a, T0, init, sizeof(init)), FLOE_WG_MSG_INITIATION_LEN);
	cr_assert_eq(floe_wg_device_admit(p.dev_b, T0, p.src_a, 4, NULL, init, FLOE_WG_MSG_INITIATION_LEN, out, sizeof(out)), 0);
	cr_assert_eq(floe_wg_device_admit(p.dev_b, T0, p.src_a, 4, NULL, data, sizeof(data), out, sizeof(out)), 0,
		     "data passes untouched");
	cr_assert_eq(floe_wg_device_admit(p.dev_b, T0, p.src_a, 4, NULL, init, 100, out, sizeof(out)), 0,
		     "a wrong length is the normal path's to count");
	init[FLOE_WG_INIT_OFF_MAC1] ^= 1;
	cr_assert_eq(floe_wg_device_admit(p.dev_b, T0, p.src_a, 4, NULL, init, FLOE_WG_MSG_INITIATION_LEN, out, sizeof(out)),
		     -EBADMSG);
	init[FLOE_WG_INIT_OFF_MAC1] ^= 1;
	cr_assert_eq(floe_wg_device_admit(p.dev_b, T0, p.src_a, 4, NULL, init, FLOE_WG_MSG_INITIATION_LEN, out, 10),
		     -ENOBUFS);
	cr_assert_eq(floe_wg_device_admit(p.dev_b, T0, NULL, 4, NULL, init, FLOE_WG_MSG_INITIATION_LEN, out, sizeof(out)),
		     -ENOBUFS);
	cr_assert_eq(floe_wg_device_admit(NULL, T0, p.src_a, 4, NULL, init, FLOE_WG_MSG_INITIATION_LEN, out, sizeof(out)), 0);
	cr_assert_eq(floe_wg_device_admit(p.dev_b, T0, p.src_a, 4, NULL, NULL, 148, out, sizeof(out)), 0);
	floe_wg_device_stats(p.dev_b, &st);
	cr_assert_eq(st.handshakes_seen, 1);
	cr_assert_eq(st.mac1_drops, 1);
	cr_assert_eq(st.cookie_replies_sent, 0);
	cr_assert_not(st.under_load);
	floe_wg_device_stats(NULL, &st);
	cr_assert_eq(st.handshakes_seen, 0);
	pair_fini(&p);
}

Test(admit, load_entered_from_rate_and_left_with_hysteresis)
{
	pair_t p;
	floe_wg_device_stats_t st;
	uint64_t t = T0;

	pair_init(&p, false, 0);
	/* Exactly the entry rate is not load. */
	cr_assert_eq(flood(p.dev_b, t, ENTER_PER_WINDOW), 0);
	cr_assert_not(under_load(p.dev_b));
	/* One more in the same window is, and that one gets a cookie. */
	cr_assert_eq(flood(p.dev_b, t + MS(50), 1), 1);
	cr_assert(under_load(p.dev_b));
	cr_assert_eq(flood(p.dev_b, t + MS(60), 200), 200, "every bogus initiation is answered with a cookie");
	/* Between the leave and enter rates the device stays under load. */
	t += MS(FLOE_WG_LOAD_WINDOW_MS);
	for (int w = 0; w < 30; w++, t += MS(FLOE_WG_LOAD_WINDOW_MS))
		flood(p.dev_b, t, ENTER_PER_WINDOW / 2);
	cr_assert(under_load(p.dev_b));
	/* A busy window, then quiet, but not yet for the hold time since it. */
	cr_assert_eq(flood(p.dev_b, t, ENTER_PER_WINDOW + 1), ENTER_PER_WINDOW + 1);
	t += MS(2 * FLOE_WG_LOAD_WINDOW_MS);
	cr_assert_eq(flood(p.dev_b, t, 1), 1);
	cr_assert(under_load(p.dev_b), "a single quiet window inside the hold time keeps the load");
	/* A whole hold time of silence: the next handshake finds the device calm. */
	t += MS(FLOE_WG_LOAD_HOLD_MS);
	cr_assert_eq(flood(p.dev_b, t, 1), 0);
	cr_assert_not(under_load(p.dev_b));
	floe_wg_device_stats(p.dev_b, &st);
	cr_assert_eq(st.under_load_entered, 1);
	cr_assert_eq(st.cookie_replies_sent, 1 + 200 + 30 * (ENTER_PER_WINDOW / 2) + ENTER_PER_WINDOW + 1 + 1);
	/* Forcing overrides the detector, and releasing hands it back. */
	floe_wg_device_set_under_load(p.dev_b, true);
	cr_assert_eq(flood(p.dev_b, t, 1), 1);
	floe_wg_device_set_under_load(p.dev_b, false);
	cr_assert_eq(flood(p.dev_b, t, 1), 0);
	pair_fini(&p);
}

/* A legitimate client during a flood: cookie, then MAC2, then a handshake; its own flood is rate-limited. */
Test(admit, cookie_holder_gets_through_subject_to_limiter)
{
	pair_t p;
	uint8_t init[BUF_LEN], reply[BUF_LEN], resp[BUF_LEN], out[BUF_LEN];
	floe_wg_ratelimit_key_t key;
	floe_wg_device_stats_t st;
	floe_wg_peer_stats_t sb;
	floe_wg_out_t kind;
	uint64_t t = T0;
	int admitted = 0, limited = 0;

	pair_init(&p, false, 0);
	cr_assert_eq(floe_wg_ratelimit_key_from_string(&key, "10.0.0.1:51820"), 0);
	flood(p.dev_b, t, ENTER_PER_WINDOW + 1);
	cr_assert(under_load(p.dev_b));

	cr_assert_eq(floe_wg_peer_initiate(p.a, t, init, sizeof(init)), FLOE_WG_MSG_INITIATION_LEN);
	cr_assert_eq(floe_wg_device_admit(p.dev_b, t, p.src_a, 4, &key, init, FLOE_WG_MSG_INITIATION_LEN, reply,
					  sizeof(reply)), FLOE_WG_MSG_COOKIE_REPLY_LEN);
	floe_wg_peer_stats(p.b, &sb);
	cr_assert_eq(sb.handshake_initiations_received, 0, "no DH spent on it");
	cr_assert_eq(deliver(&p, p.a, t, reply, FLOE_WG_MSG_COOKIE_REPLY_LEN, out, &kind), 0);

	/* The retry carries MAC2; the flood goes on meanwhile. */
	t += S(FLOE_WG_REKEY_TIMEOUT_S);
	flood(p.dev_b, t, ENTER_PER_WINDOW + 1);
	cr_assert_eq(floe_wg_peer_initiate(p.a, t, init, sizeof(init)), FLOE_WG_MSG_INITIATION_LEN);
	cr_assert_eq(floe_wg_device_admit(p.dev_b, t, p.src_a, 4, &key, init, FLOE_WG_MSG_INITIATION_LEN, reply,
					  sizeof(reply)), 0);
	cr_assert_eq(deliver(&p, p.b, t, init, FLOE_WG_MSG_INITIATION_LEN, resp, &kind), FLOE_WG_MSG_RESPONSE_LEN);
	cr_assert_eq(deliver(&p, p.a, t, resp, FLOE_WG_MSG_RESPONSE_LEN, out, &kind), 0);
	cr_assert(floe_wg_peer_is_established(p.a));

	/* The same MAC2-valid message replayed 100 times at once: burst, then refused. */
	for (int i = 0; i < 100; i++) {
		ssize_t r = floe_wg_device_admit(p.dev_b, t, p.src_a, 4, &key, init, FLOE_WG_MSG_INITIATION_LEN,
						 reply, sizeof(reply));

		cr_assert(r == 0 || r == -EBUSY, "admit: %zd", r);
		admitted += r == 0;
		limited += r == -EBUSY;
	}
	cr_assert_eq(admitted, FLOE_WG_RATELIMIT_BURST - 1, "one token went to the real handshake");
	cr_assert_eq(limited, 100 - admitted);
	floe_wg_device_stats(p.dev_b, &st);
	cr_assert_eq(st.ratelimited_drops, (uint64_t)limited);
	/* Another source with the same MAC2 is not the cookie's owner: cookie again. */
	cr_assert_eq(floe_wg_device_admit(p.dev_b, t, attacker_src, 4, &key, init, FLOE_WG_MSG_INITIATION_LEN, reply,
					  sizeof(reply)), FLOE_WG_MSG_COOKIE_REPLY_LEN);
	pair_fini(&p);
}
