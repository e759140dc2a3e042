/*
 * libFuzzer target for the MIME walk: mime_parse() on arbitrary bytes must
 * not crash, leak or stall, and its msg must keep its invariants.
 *   clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
 *     -Ishared -Idaemon $(pkg-config --cflags gmime-3.0 libmagic) \
 *     -o build/fuzz_mime tests/fuzz/fuzz_mime.c daemon/mime.c \
 *     daemon/mime_text.c daemon/msg.c shared/buf.c shared/log.c \
 *     shared/xmalloc.c $(pkg-config --libs gmime-3.0 libmagic)
 *   build/fuzz_mime -max_len=65536 -timeout=5 tests/fixtures/mime
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "mime.h"
#include "msg.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	g_mime_init();
	mime_init();
	return 0;
}

static void
check(const struct msg *m)
{
	size_t	i;

	if (m->body_text == NULL || strlen(m->body_text) != m->body_text_len ||
	    !g_utf8_validate(m->body_text, -1, NULL) ||
	    m->nparts > MSG_PARTS_MAX || m->nurls > MSG_URLS_MAX ||
	    m->nheaders > MSG_HEADERS_MAX || m->header_len > m->raw_len ||
	    m->parsed_len > m->raw_len)
		abort();
	for (i = 0; i < m->nheaders; i++)
		if (!g_utf8_validate(m->headers[i].value, -1, NULL))
			abort();
	for (i = 0; i < m->nparts; i++) {
		const struct msg_part *p = &m->parts[i];

		if (p->index != (int)i || p->parent >= (int)i ||
		    p->depth >= MSG_DEPTH_MAX || p->content_type == NULL ||
		    p->raw_offset + p->raw_len > m->raw_len)
			abort();
		if (p->text != NULL && (strlen(p->text) != p->text_len ||
		    !g_utf8_validate(p->text, -1, NULL)))
			abort();
	}
	for (i = 0; i < m->nurls; i++)
		if (m->urls[i].host == NULL || m->urls[i].part < 0 ||
		    (size_t)m->urls[i].part >= m->nparts)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*copy;
	struct msg	*m;

	/* An exact-size copy so that ASan sees any read past the end. */
	copy = malloc(size ? size : 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	m = mime_parse(copy, size);
	check(m);
	msg_free(m);
	free(copy);
	return 0;
}
