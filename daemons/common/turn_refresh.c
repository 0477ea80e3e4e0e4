/* The re-issue schedule of minted TURN credentials; see turn_refresh.h. */
#include "daemons/common/turn_refresh.h"

uint32_t floe_turn_refresh_ttl_s(const floe_portal_config_t *cfg)
{
	uint32_t ttl = 0;

	for (size_t i = 0; i < cfg->n_relays && i < FLOE_SIGNAL_MAX_RELAYS; i++) {
		const floe_portal_relay_secret_t *sc = &cfg->relay_secrets[i];

		if (sc->enabled && sc->ttl_s && (ttl == 0 || sc->ttl_s < ttl))
			ttl = sc->ttl_s;
	}
	return ttl;
}

uint64_t floe_turn_refresh_delay_ms(uint32_t ttl_s, uint32_t rnd)
{
	uint64_t half_ms = (uint64_t)ttl_s * 1000 / 2;
	uint64_t jitter_ms = (uint64_t)ttl_s * 1000 / FLOE_TURN_REFRESH_JITTER_DIV;

	if (ttl_s == 0)
		return 0;
	return half_ms - (uint64_t)rnd % (jitter_ms + 1);
}
