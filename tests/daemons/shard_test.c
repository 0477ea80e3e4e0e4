/* shard: a worker's TUN name, control socket and configuration derived from
 * the gateway's file (docs/perf.md, "10,000 connections"). */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemons/common/shard.h"
#include "runtime/log.h"

#define KEY_A "YEocP0e2o1WT5GlvBvQzVF7EeR6z9aCk7ANT2rGEpzI="
#define KEY_B "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="

Test(shard, tun_names)
{
	static const struct {
		const char *base;
		unsigned k;
		const char *want;
	} ok[] = {
		{ "floe-gw0", 0, "floe-gw0" }, { "floe-gw0", 2, "floe-gw2" }, { "floe-gw", 1, "floe-gw1" },
		{ "gw17", 3, "gw3" },          { "12", 5, "5" },              { "abcdefghijklmn", 9, "abcdefghijklmn9" },
	};
	char out[16];

	for (size_t i = 0; i < FLOE_ARRAY_LEN(ok); i++) {
		cr_assert_eq(floe_shard_tun_name(ok[i].base, ok[i].k, out, sizeof(out)), 0, "%s", ok[i].base);
		cr_assert_str_eq(out, ok[i].want);
	}
	/* 15 bytes is the kernel's limit */
	cr_assert_eq(floe_shard_tun_name("abcdefghijklmn", 10, out, sizeof(out)), -ENAMETOOLONG);
	cr_assert_eq(floe_shard_tun_name("abcdefghijklmno", 1, out, sizeof(out)), -ENAMETOOLONG);
	cr_assert_eq(floe_shard_tun_name("floe-gw0", 1, out, 4), -ENAMETOOLONG);
	cr_assert_eq(floe_shard_tun_name(NULL, 1, out, sizeof(out)), -EINVAL);
}

static floe_nodeconf_t *parse(const char *text)
{
	char err[FLOE_NODECONF_ERR_MAX];
	floe_nodeconf_t *c = floe_nodeconf_parse(text, strlen(text), "t.conf", FLOE_ROLE_GATEWAY, err, sizeof(err));

	cr_assert_not_null(c, "%s", err);
	return c;
}

#define GW "[Interface]\nPrivateKey = " KEY_A "\nName = floe-gw0\nAddress = 100.64.255.1/32\n" \
	   "Route = 100.64.0.0/10\n[Portal]\nEndpoint = tcp://203.0.113.1:7400\nPublicKey = " KEY_B "\n"

Test(shard, control_paths)
{
	floe_nodeconf_t *c = parse(GW "[Control]\nSocket = /tmp/x/gw.sock\n");
	char out[FLOE_CONTROL_PATH_MAX];

	cr_assert_eq(floe_shard_control_path(c, -1, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "/tmp/x/gw.sock");
	cr_assert_eq(floe_shard_control_path(c, 2, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "/tmp/x/gw.sock.w2");
	floe_nodeconf_destroy(&c);
	c = parse(GW);
	cr_assert_eq(floe_shard_control_path(c, 0, out, sizeof(out)), 0);
	cr_assert_str_eq(out, FLOE_CONTROL_DEFAULT_DIR "/floe-gateway.sock.w0");
	/* a configured path that leaves no room for ".wK" in sun_path */
	memset(c->control_socket, 'a', FLOE_CONTROL_PATH_MAX - 2);
	c->control_socket[FLOE_CONTROL_PATH_MAX - 2] = '\0';
	cr_assert_eq(floe_shard_control_path(c, -1, out, sizeof(out)), 0);
	cr_assert_eq(floe_shard_control_path(c, 1, out, sizeof(out)), -ENAMETOOLONG);
	cr_assert_eq(floe_shard_control_path(NULL, 1, out, sizeof(out)), -EINVAL);
	floe_nodeconf_destroy(&c);
}

Test(shard, worker_conf)
{
	floe_nodeconf_t *c = parse(GW "[Control]\nSocket = /tmp/gw.sock\n[Metrics]\nListen = 127.0.0.1:9100\n"
				      "[Gateway]\nWorkers = 3\n");

	cr_assert_eq(floe_shard_worker_conf(c, 3), -EINVAL, "k < Workers");
	cr_assert_eq(floe_shard_worker_conf(c, 0), 0);
	cr_assert_str_eq(c->node.tun_name, "floe-gw0");
	cr_assert_str_eq(c->control_socket, "/tmp/gw.sock.w0");
	cr_assert_not(c->has_metrics, "the parent serves metrics");
	cr_assert_eq(c->node.worker, 0);
	cr_assert_eq(c->node.workers, 3);
	cr_assert_eq(c->node.n_tun_routes, 1, "worker 0 keeps the catch-all route");
	cr_assert_eq(c->node.n_tun_addresses, 1);
	floe_nodeconf_destroy(&c);

	c = parse(GW "[Control]\nSocket = /tmp/gw.sock\n[Gateway]\nWorkers = 3\n");
	cr_assert_eq(floe_shard_worker_conf(c, 2), 0);
	cr_assert_str_eq(c->node.tun_name, "floe-gw2");
	cr_assert_str_eq(c->control_socket, "/tmp/gw.sock.w2");
	cr_assert_eq(c->node.worker, 2);
	cr_assert_eq(c->node.n_tun_routes, 0, "only host routes on the other workers");
	cr_assert_eq(c->node.n_tun_addresses, 1, "every worker has the gateway's address");
	floe_nodeconf_destroy(&c);

	c = parse(GW);
	cr_assert_eq(floe_shard_worker_conf(c, 0), -EINVAL, "Workers = 1 has no workers to derive");
	floe_nodeconf_destroy(&c);
	cr_assert_eq(floe_shard_worker_conf(NULL, 0), -EINVAL);
}

/* A worker's log lines say which worker wrote them, and stay one JSON object each. */
Test(shard, worker_log_lines_carry_the_worker)
{
	char path[] = "/tmp/h21-shard-log-XXXXXX", buf[8192];
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	char *line, *next;
	json_t *o;
	ssize_t n;
	int lines = 0;

	cr_assert_geq(fd, 0);
	cr_assert_geq(saved, 0);
	cr_assert_geq(dup2(fd, STDERR_FILENO), 0);
	floe_log_set_level(FLOE_LOG_INFO);
	floe_shard_worker_log(2);
	floe_log(FLOE_LOG_INFO, "floe::test", "hello", FLOE_F_STR("x", "y"));
	floe_log(FLOE_LOG_INFO, "floe::test", "second");
	floe_log_set_sink(NULL, NULL);
	floe_log(FLOE_LOG_INFO, "floe::test", "default again");
	cr_assert_geq(dup2(saved, STDERR_FILENO), 0);
	close(saved);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	unlink(path);
	cr_assert_gt(n, 0);
	buf[n] = '\0';
	for (line = buf; (next = strchr(line, '\n')); line = next + 1, lines++) {
		*next = '\0';
		o = json_loads(line, 0, NULL);
		cr_assert_not_null(o, "not JSON: %s", line);
		if (lines < 2) {
			cr_assert_eq(json_integer_value(json_object_get(o, "worker")), 2, "%s", line);
			cr_assert(json_is_integer(json_object_get(o, "worker")), "%s", line);
		} else {
			cr_assert_null(json_object_get(o, "worker"), "the default sink adds nothing: %s", line);
		}
		json_decref(o);
	}
	cr_assert_eq(lines, 3);
	cr_assert(strstr(buf, "\"x\":\"y\",\"worker\":2}"), "%s", buf);
}
