/*
 * floectl: the command-line tool for floe.
 *
 *   floectl genkey          a new private key, base64, like `wg genkey`
 *   floectl pubkey          private key on stdin -> public key, like `wg pubkey`
 *   floectl show [--json] [--socket PATH]   a running daemon's connections
 *
 * Each subcommand is one entry of the commands[] table and one function
 * taking the arguments after its name; exit status 0 on success, 1 on any
 * error, with a message on stderr naming floectl.
 */
#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemons/common/control.h"
#include "transport/wg/key.h"

#define PROG "floectl"

typedef int(cmd_fn)(int argc, char **argv);

typedef struct {
	const char *name;
	const char *args;
	const char *help;
	cmd_fn *fn;
} command_t;

static int cmd_genkey(int argc, char **argv);
static int cmd_pubkey(int argc, char **argv);
static int cmd_show(int argc, char **argv);

static const command_t commands[] = {
	{ "genkey", "", "Generates a new private key and writes it to stdout", cmd_genkey },
	{ "pubkey", "", "Reads a private key from stdin and writes its public key to stdout",
	  cmd_pubkey },
	{ "show", " [--json] [--socket PATH]", "Shows the connections of a running floe daemon", cmd_show },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "Usage: " PROG " <cmd> [<args>]\n\nAvailable subcommands:\n");
	for (i = 0; i < FLOE_ARRAY_LEN(commands); i++)
		fprintf(f, "  %-8s%-26s%s\n", commands[i].name, commands[i].args, commands[i].help);
	fprintf(f, "\nYou may pass --help to any subcommand for its usage.\n");
}

/* True when argv holds only the subcommand's name and --help / -h. */
static bool wants_help(int argc, char **argv)
{
	return argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
}

static int subcommand_usage(const command_t *c, FILE *f, int status)
{
	fprintf(f, "Usage: " PROG " %s%s\n", c->name, c->args);
	return status;
}

/* Writes all of s to stdout in one go; a closed or full stdout is an error
 * (a key that was not written must not look like success). */
static int put_line(const char *s, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(STDOUT_FILENO, s, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, PROG ": cannot write to stdout: %s\n", strerror(errno));
			return EXIT_FAILURE;
		}
		s += n;
		len -= (size_t)n;
	}
	return EXIT_SUCCESS;
}

static int cmd_genkey(int argc, char **argv)
{
	uint8_t key[FLOE_KEY_LEN];
	char b64[FLOE_KEY_B64_LEN + 2];
	struct stat st;
	int rc;

	if (wants_help(argc, argv))
		return subcommand_usage(&commands[0], stdout, EXIT_SUCCESS);
	if (argc != 1)
		return subcommand_usage(&commands[0], stderr, EXIT_FAILURE);
	/* Like wg genkey: a private key going into a file others can read is
	 * worth a warning (the key is still written: the user asked for it). */
	if (fstat(STDOUT_FILENO, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & S_IRWXO))
		fprintf(stderr, "Warning: writing a private key to a world accessible file.\n"
				"Consider setting the umask to 077 and trying again.\n");
	floe_key_generate(key);
	floe_key_to_base64(b64, key);
	b64[FLOE_KEY_B64_LEN] = '\n';
	rc = put_line(b64, FLOE_KEY_B64_LEN + 1);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(b64, sizeof(b64));
	return rc;
}

static int cmd_pubkey(int argc, char **argv)
{
	uint8_t priv[FLOE_KEY_LEN], pub[FLOE_KEY_LEN];
	char b64[FLOE_KEY_B64_LEN + 2];
	int r, rc = EXIT_FAILURE;

	if (wants_help(argc, argv))
		return subcommand_usage(&commands[1], stdout, EXIT_SUCCESS);
	if (argc != 1)
		return subcommand_usage(&commands[1], stderr, EXIT_FAILURE);
	r = floe_key_from_fd(priv, STDIN_FILENO);
	if (r == -EINVAL) {
		fprintf(stderr, PROG ": key is not the correct length or format\n");
		goto out;
	}
	if (r) {
		fprintf(stderr, PROG ": cannot read the key from stdin: %s\n", strerror(-r));
		goto out;
	}
	if (floe_key_public(pub, priv) != 0) {
		fprintf(stderr, PROG ": key is not the correct length or format\n");
		goto out;
	}
	floe_key_to_base64(b64, pub);
	b64[FLOE_KEY_B64_LEN] = '\n';
	rc = put_line(b64, FLOE_KEY_B64_LEN + 1);
out:
	sodium_memzero(priv, sizeof(priv));
	return rc;
}

static int cmd_show(int argc, char **argv)
{
	char found[FLOE_CONTROL_PATH_MAX], err[FLOE_CONTROL_ERR_MAX];
	const char *path = NULL;
	bool json = false;
	int i, rc;

	if (wants_help(argc, argv))
		return subcommand_usage(&commands[2], stdout, EXIT_SUCCESS);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc)
			path = argv[++i];
		else
			return subcommand_usage(&commands[2], stderr, EXIT_FAILURE);
	}
	if (!path) {
		if (floe_control_find_socket(NULL, found, sizeof(found)) < 0) {
			fprintf(stderr, PROG ": no floe daemon socket in " FLOE_CONTROL_DEFAULT_DIR
				"; is a daemon running? (or pass --socket PATH)\n");
			return EXIT_FAILURE;
		}
		path = found;
	}
	rc = floe_control_query(path, json, STDOUT_FILENO, err, sizeof(err));
	if (rc == -EPROTO && err[0])
		fprintf(stderr, PROG ": %s: %s\n", path, err);
	else if (rc < 0)
		fprintf(stderr, PROG ": %s: %s\n", path, strerror(-rc));
	return rc < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return EXIT_FAILURE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return EXIT_SUCCESS;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, PROG ": cannot initialise libsodium\n");
		return EXIT_FAILURE;
	}
	for (i = 0; i < FLOE_ARRAY_LEN(commands); i++) {
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, PROG ": invalid subcommand '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_FAILURE;
}
