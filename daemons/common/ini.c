/* The INI line source; see ini.h. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemons/common/ini.h"

enum {
	INI_SECTION_NAME_MAX = 256,
};

void floe_ini_fail(floe_ini_t *ini, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ini->failed) /* the first error is the one to fix */
		return;
	ini->failed = true;
	if (!ini->err || !ini->err_cap)
		return;
	n = snprintf(ini->err, ini->err_cap, "%s:%d: ", ini->name, ini->line);
	if (n < 0 || (size_t)n >= ini->err_cap)
		return;
	va_start(ap, fmt);
	vsnprintf(ini->err + n, ini->err_cap - (size_t)n, fmt, ap);
	va_end(ap);
}

char *floe_ini_trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Copies one line into str (fgets-like) and looks at it first. */
char *floe_ini_reader(char *str, int num, void *stream)
{
	floe_ini_t *ini = stream;
	const char *start = ini->text + ini->pos, *nl, *s;
	size_t n;

	if (ini->pos >= ini->len || ini->failed)
		return NULL;
	nl = memchr(start, '\n', ini->len - ini->pos);
	n = nl ? (size_t)(nl - start) + 1 : ini->len - ini->pos;
	ini->line++;
	if (n + 1 > (size_t)num) {
		floe_ini_fail(ini, "line longer than %d bytes", num - 2);
		return NULL;
	}
	if (memchr(start, '\0', n)) {
		floe_ini_fail(ini, "NUL byte in the file");
		return NULL;
	}
	memcpy(str, start, n);
	str[n] = '\0';
	ini->pos += n;
	/* A header as inih sees one: first non-blank character '['. */
	for (s = str; *s == ' ' || *s == '\t'; s++)
		;
	if (*s == '[' && ini->on_section) {
		const char *close_b = strchr(s, ']');
		char name[INI_SECTION_NAME_MAX];

		if (close_b && (size_t)(close_b - s - 1) < sizeof(name)) {
			size_t k = (size_t)(close_b - s - 1);

			memcpy(name, s + 1, k);
			name[k] = '\0';
			ini->on_section(ini->user, floe_ini_trim(name));
		}
	}
	return str;
}

char *floe_ini_read_file(const char *path, size_t max_bytes, const char *where, size_t *len, char *err,
			 size_t err_cap)
{
	char *buf = NULL;
	size_t got = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, err_cap, "%s%s: cannot open: %s", path, where, strerror(errno));
		return NULL;
	}
	buf = malloc(max_bytes);
	if (!buf) {
		snprintf(err, err_cap, "%s%s: out of memory", path, where);
		goto fail;
	}
	while (got < max_bytes && (n = read(fd, buf + got, max_bytes - got)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, err_cap, "%s%s: cannot read: %s", path, where, strerror(errno));
			goto fail;
		}
		got += (size_t)n;
	}
	if (got == max_bytes) {
		snprintf(err, err_cap, "%s%s: larger than %zu bytes", path, where, max_bytes);
		goto fail;
	}
	close(fd);
	*len = got;
	return buf;
fail:
	if (buf) {
		sodium_memzero(buf, got);
		free(buf);
	}
	close(fd);
	return NULL;
}
