/*
 * fuzz/wgconf: floe-wg's config parser on arbitrary text. It must return a
 * config or a one-line FILE:LINE error, never crash or read out of bounds;
 * a config it returns must satisfy what wgconf.h promises.
 */
#include <dlfcn.h>
#include <netdb.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemons/common/wgconf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Endpoint = host:port resolves names: inside the fuzzer that would be a
 * DNS query per input. Interpose getaddrinfo so only numeric hosts resolve. */
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		struct addrinfo **res)
{
	static int (*real)(const char *, const char *, const struct addrinfo *,
			   struct addrinfo **);
	struct addrinfo h = { 0 };

	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
	if (hints)
		h = *hints;
	h.ai_flags |= AI_NUMERICHOST;
	return real(node, service, &h, res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[FLOE_WGCONF_ERR_MAX];
	/* An exact-size heap copy: any over-read is an ASan report. */
	char *text = malloc(size ? size : 1);
	floe_wgconf_t *c;

	if (!text)
		return 0;
	memcpy(text, data, size);
	c = floe_wgconf_parse(text, size, "fuzz.conf", err, sizeof(err));
	if (c) {
		if (!(c->flags & FLOE_WGCONF_HAS_PRIVATE_KEY))
			__builtin_trap();
		for (size_t i = 0; i < c->n_peers; i++)
			if (!(c->peers[i].flags & FLOE_WGCONF_HAS_PUBLIC_KEY))
				__builtin_trap();
	} else if (strncmp(err, "fuzz.conf:", 10) != 0 || strchr(err, '\n')) {
		__builtin_trap();
	}
	floe_wgconf_destroy(&c);
	free(text);
	return 0;
}
