/*
 * floe-client --config FILE: see daemons/common/daemon.h and docs/config.md.
 */
#include "daemons/common/daemon.h"

int main(int argc, char **argv)
{
	return floe_daemon_main(argc, argv, FLOE_ROLE_CLIENT);
}
