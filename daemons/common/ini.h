/*
 * The line source both INI parsers (wgconf.c, nodeconf.c) hand to inih.
 *
 * Debian's inih tells its handler neither the line number nor where a new
 * section starts (two [Peer] sections in a row look like one). So the text
 * goes to ini_parse_stream() through floe_ini_reader(), which counts lines,
 * spots section headers and calls on_section, and errors are written as
 * "FILE:LINE: message" with floe_ini_fail() (the first error wins).
 */
#ifndef FLOE_DAEMONS_INI_H
#define FLOE_DAEMONS_INI_H

#include <stdbool.h>
#include <stddef.h>

typedef struct floe_ini {
	const char *name;   /* the file, for messages */
	const char *text;
	size_t len, pos;
	int line;           /* of the line inih is processing */
	bool failed;
	char *err;
	size_t err_cap;
	/* Called for each "[name]" header before inih sees its line. */
	void (*on_section)(void *user, const char *name);
	void *user;
} floe_ini_t;

/* Records "name:line: message" in err unless an error was recorded already. */
void floe_ini_fail(floe_ini_t *ini, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Strips leading and trailing white space in place. */
char *floe_ini_trim(char *s);
/* inih's ini_reader over ini->text (pass the floe_ini_t as the stream). */
char *floe_ini_reader(char *str, int num, void *stream);
/*
 * Reads a whole configuration file of at most max_bytes - 1 bytes into a
 * new buffer, its length in *len. NULL with "PATH<where>: reason" in err
 * (where is ":0" for parsers that always name a line, "" otherwise).
 * The text holds keys: the caller wipes it (sodium_memzero) before free,
 * and this function wipes what it read on its own failures.
 */
char *floe_ini_read_file(const char *path, size_t max_bytes, const char *where, size_t *len, char *err,
			 size_t err_cap);

#endif
