/*
 * fuzz/offload: arbitrary bytes as a TUN frame to split (virtio-net header
 * + packet) and as decrypted packets offered to the TUN-write GRO. Never a
 * crash or a read outside the input; every segment fits the scratch
 * buffer; a gathered frame never exceeds its buffer.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transport/net/offload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { FUZZ_SCRATCH_BYTES = 1500 };

static size_t s_input_len;

/* A split segment is built in the scratch buffer; a frame without GSO and
 * without a checksum to complete is passed on in place, whole. */
static int sink(void *ctx, const uint8_t *pkt, size_t len)
{
	size_t *total = ctx;

	if (!pkt || len == 0 || (len > FUZZ_SCRATCH_BYTES && len >= s_input_len))
		abort();
	*total += pkt[0] + pkt[len - 1]; /* touch both ends */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t scratch[FUZZ_SCRATCH_BYTES], gbuf[FLOE_OFFLOAD_GRO_BUF_BYTES];
	floe_offload_gro_t g;
	size_t total = 0, len, half = size / 2;
	const uint8_t *f;

	s_input_len = size;
	(void)floe_offload_split(data, size, scratch, sizeof(scratch), sink, &total);
	/* The input as two packets offered in a row (the second may continue
	 * the first), then the frame taken. */
	floe_offload_gro_init(&g, gbuf);
	(void)floe_offload_gro_add(&g, data, half);
	if (floe_offload_gro_add(&g, data + half, size - half) == -EAGAIN) {
		f = floe_offload_gro_take(&g, &len);
		if (!f || len > FLOE_OFFLOAD_GRO_BUF_BYTES)
			abort();
	}
	f = floe_offload_gro_take(&g, &len);
	if (f && (len > FLOE_OFFLOAD_GRO_BUF_BYTES || len <= FLOE_OFFLOAD_VNET_HDR_BYTES))
		abort();
	return 0;
}
