/*
 * The parsed message: lookup and destruction. Built by mime_parse()
 * (daemon/mime.c); any thread may read a finished msg.
 */
#include <stdlib.h>
#include <strings.h>

#include "msg.h"

const struct msg_header *
msg_header(const struct msg *m, const char *name)
{
	size_t	i;

	if (m == NULL || name == NULL)
		return NULL;
	for (i = 0; i < m->nheaders; i++)
		if (strcasecmp(m->headers[i].name, name) == 0)
			return &m->headers[i];
	return NULL;
}

void
msg_free(struct msg *m)
{
	size_t	i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nheaders; i++) {
		free(m->headers[i].name);
		free(m->headers[i].value);
		free(m->headers[i].raw);
	}
	free(m->headers);
	for (i = 0; i < m->nparts; i++) {
		free(m->parts[i].content_type);
		free(m->parts[i].charset);
		free(m->parts[i].disposition);
		free(m->parts[i].filename);
		free(m->parts[i].transfer_encoding);
		free(m->parts[i].sniffed_type);
		free(m->parts[i].data);
		free(m->parts[i].text);
	}
	free(m->parts);
	for (i = 0; i < m->nurls; i++) {
		free(m->urls[i].url);
		free(m->urls[i].host);
		free(m->urls[i].text);
	}
	free(m->urls);
	free(m->subject);
	free(m->from_addr);
	free(m->from_name);
	free(m->reply_to_addr);
	free(m->to_addrs);
	free(m->message_id);
	free(m->date);
	free(m->body_text);
	free(m);
}
