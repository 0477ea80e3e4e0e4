/*
 * fuzz/shard_show: the sharded gateway's parent reading a worker's "show
 * json" (daemons/common/shard_show.c) on arbitrary bytes. Every body is
 * refused (-EPROTO) or merged; whatever was merged carries the worker it
 * came from, renders again, and the rendering merges back to as many
 * connections.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemons/common/shard_show.h"

enum { FUZZ_WORKER = 3 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	floe_control_snapshot_t a = { 0 }, b = { 0 };
	char *json;
	int r = floe_shard_show_merge(&a, (const char *)data, size, FUZZ_WORKER);

	if (r != 0 && r != -EPROTO && r != -ENOMEM)
		abort();
	for (size_t i = 0; i < a.n_conns; i++) {
		if (!a.conns[i].has_worker || a.conns[i].worker != FUZZ_WORKER)
			abort();
	}
	if (r == 0) {
		json = floe_control_render_json(&a);
		if (!json)
			abort();
		if (floe_shard_show_merge(&b, json, strlen(json), FUZZ_WORKER) != 0 || b.n_conns != a.n_conns)
			abort();
		free(json);
	}
	floe_control_snapshot_clear(&a);
	floe_control_snapshot_clear(&b);
	return 0;
}
