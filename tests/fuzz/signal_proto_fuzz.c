/*
 * fuzz/signal_proto: the portal protocol decoder on arbitrary bytes. Every
 * frame is either refused (-EPROTO / -EINVAL, message wiped) or decodes to a
 * message that encodes again and decodes to the same message.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transport/signal/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static floe_signal_msg_t a, b;
	static char buf[FLOE_SIGNAL_MAX_FRAME_BYTES];
	size_t len = 0;
	int r = floe_signal_decode(data, size, &a);

	if (r < 0) {
		if (r != -EPROTO && r != -EINVAL)
			abort();
		if (a.type != FLOE_SIGNAL_NONE)
			abort();
		return 0;
	}
	/* what we accept we can say, and saying it back means the same */
	if (floe_signal_encode(&a, buf, sizeof(buf), &len) != 0)
		abort();
	if (floe_signal_decode(buf, len, &b) != 0 || memcmp(&a, &b, sizeof(a)) != 0)
		abort();
	return 0;
}
