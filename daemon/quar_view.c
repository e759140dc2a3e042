/*
 * Showing a quarantined message: its index entry with the headers and a
 * text preview, every string stripped of control characters (the console
 * draws them). quar_show starts on the loop thread; reading runs on the
 * quar pool.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <gmime/gmime.h>

#include "body.h"
#include "buf.h"
#include "db_quar.h"
#include "log.h"
#include "pool.h"
#include "quar.h"
#include "relay.h"
#include "util.h"
#include "xmalloc.h"

#define QUAR_SHOW_READ_MAX	(8 * 1024 * 1024) /* read for a preview */

/* --- show ------------------------------------------------------------------- */

/* Keep newlines and tabs; drop other control characters and bad UTF-8. */
static char *
clean_text(const char *s, size_t len, size_t max)
{
	struct buf	 b;
	const char	*p = s, *end = s + len, *nl;
	char		*line;

	buf_init(&b, max + 8);
	while (p < end && b.len < max) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		line = util_sanitize(p, (size_t)(nl - p) - (nl > p &&
		    nl[-1] == '\r'), max - b.len);
		if (buf_append(&b, line, strlen(line)) == -1 ||
		    (nl < end && buf_append(&b, "\n", 1) == -1)) {
			free(line);
			break;
		}
		free(line);
		p = nl + 1;
	}
	if (b.data == NULL && buf_append(&b, "", 0) == -1)
		return xstrdup("");
	return buf_steal(&b);
}

/* HTML to text, crudely: tags dropped, a few entities decoded. */
static char *
html_text(const char *h)
{
	struct buf	b;
	bool		tag = false;

	buf_init(&b, strlen(h) + 1);
	for (; *h != '\0'; h++) {
		if (*h == '<') {
			tag = true;
			if ((strncasecmp(h, "<br", 3) == 0 ||
			    strncasecmp(h, "<p", 2) == 0 ||
			    strncasecmp(h, "</p", 3) == 0 ||
			    strncasecmp(h, "<div", 4) == 0) &&
			    buf_append(&b, "\n", 1) == -1)
				break;
			continue;
		}
		if (*h == '>' && tag) {
			tag = false;
			continue;
		}
		if (tag)
			continue;
		if (buf_append(&b, h, 1) == -1)
			break;
	}
	if (b.data == NULL && buf_append(&b, "", 0) == -1)
		return xstrdup("");
	return buf_steal(&b);
}

struct textfind {
	GMimeObject	*plain;
	GMimeObject	*html;
};

static void
find_text(GMimeObject *parent, GMimeObject *part, gpointer data)
{
	struct textfind		*tf = data;
	GMimeContentType	*ct;
	const char		*disp;

	(void)parent;
	if (!GMIME_IS_TEXT_PART(part))
		return;
	disp = g_mime_object_get_disposition(part);
	if (disp != NULL && strcasecmp(disp, "attachment") == 0)
		return;
	ct = g_mime_object_get_content_type(part);
	if (tf->plain == NULL && g_mime_content_type_is_type(ct, "text",
	    "plain"))
		tf->plain = part;
	else if (tf->html == NULL && g_mime_content_type_is_type(ct, "text",
	    "html"))
		tf->html = part;
}

static void
emit_header(json_t *hdrs, struct buf *field, size_t *shown)
{
	const char	*colon;
	char		*name, *value, *dec;

	if (field->data == NULL || field->len == 0 ||
	    (colon = strchr(field->data, ':')) == NULL ||
	    *shown >= QUAR_HEADERS_MAX) {
		buf_reset(field);
		return;
	}
	name = util_sanitize(field->data, (size_t)(colon - field->data), 76);
	dec = g_mime_utils_header_decode_text(NULL, colon + 1);
	value = util_sanitize(dec != NULL ? dec : colon + 1,
	    strlen(dec != NULL ? dec : colon + 1), 998);
	g_free(dec);
	*shown += strlen(name) + strlen(value);
	json_array_append_new(hdrs, json_pack("{s:s, s:s}", "name", name,
	    "value", value + strspn(value, " ")));
	free(name);
	free(value);
	buf_reset(field);
}

json_t *
quar_preview(const char *raw, size_t len, size_t max)
{
	const char	*p = raw, *end = raw + len, *eol;
	struct buf	 field;
	json_t		*hdrs = json_array(), *o;
	GMimeStream	*stream;
	GMimeParser	*parser;
	GMimeMessage	*msg;
	struct textfind	 tf = { NULL, NULL };
	char		*dec, *text = NULL, *t2;
	size_t		 shown = 0, ll;

	/* Headers: unfolded, decoded, control characters gone. */
	buf_init(&field, QUAR_HEADERS_MAX);
	while (p < end) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end;
		ll = (size_t)(eol - p) - (eol > p && eol[-1] == '\r');
		if (ll == 0)
			break;
		if (*p != ' ' && *p != '\t')
			emit_header(hdrs, &field, &shown);
		if (buf_append(&field, p, ll) == -1)
			buf_reset(&field);	/* an absurd field: dropped */
		p = eol + 1;
	}
	emit_header(hdrs, &field, &shown);
	buf_free(&field);

	stream = g_mime_stream_mem_new_with_buffer(raw, len);
	parser = g_mime_parser_new_with_stream(stream);
	g_object_unref(stream);
	msg = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	if (msg != NULL) {
		g_mime_message_foreach(msg, find_text, &tf);
		if (tf.plain != NULL || tf.html != NULL) {
			dec = g_mime_text_part_get_text(GMIME_TEXT_PART(
			    tf.plain != NULL ? tf.plain : tf.html));
			if (dec != NULL && tf.plain == NULL) {
				t2 = html_text(dec);
				text = clean_text(t2, strlen(t2), max);
				free(t2);
			} else if (dec != NULL)
				text = clean_text(dec, strlen(dec), max);
			g_free(dec);
		}
		g_object_unref(msg);
	}
	o = json_pack("{s:o, s:s}", "headers", hdrs, "text", text != NULL ?
	    text : "");
	free(text);
	return o;
}

struct show {
	char		*id;
	struct cfg	*cfg;
	quar_done_fn	 done;
	void		*arg;
	json_t		*result;
	const char	*code;
	char		*cause;
};

static void
show_work(void *arg)
{
	struct show	*sh = arg;
	struct quar_cfg	 q;
	json_t		*e, *pv;
	const char	*rel;
	char		*path, *data;
	ssize_t		 n;
	size_t		 got = 0;
	int		 fd;

	if (quar_cfg_load(sh->cfg, &q, &sh->cause) == -1) {
		sh->code = "internal";
		return;
	}
	if ((e = db_quar_get(sh->id, &sh->cause)) == NULL) {
		sh->code = "internal";
		goto out;
	}
	if (json_is_null(e)) {
		json_decref(e);
		sh->code = "not_found";
		xasprintf(&sh->cause, "no quarantine entry %s", sh->id);
		goto out;
	}
	rel = json_string_value(json_object_get(e, "file"));
	xasprintf(&path, "%s/%s", q.dir, rel != NULL ? rel : "");
	data = xmalloc(QUAR_SHOW_READ_MAX + 1);
	if (rel != NULL && strstr(rel, "..") == NULL &&
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
		while (got < QUAR_SHOW_READ_MAX) {
			n = read(fd, data + got, QUAR_SHOW_READ_MAX - got);
			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		close(fd);
		data[got] = '\0';
		pv = quar_preview(data, got, (size_t)q.preview_max);
		json_object_update(e, pv);
		json_decref(pv);
	} else
		json_object_set_new(e, "error", json_string("the stored "
		    "message cannot be read"));
	json_object_del(e, "file");
	free(data);
	free(path);
	sh->result = e;
out:
	quar_cfg_free(&q);
}

static void
show_done(void *arg)
{
	struct show	*sh = arg;

	sh->done(sh->result, sh->code, sh->cause, sh->arg);
	free(sh->cause);
	free(sh->id);
	cfg_unref(sh->cfg);
	free(sh);
}

void
quar_show(const char *id, quar_done_fn done, void *arg)
{
	struct show	*sh;

	if (quar_pool() == NULL) {
		done(NULL, "unavailable", "the quarantine is not running",
		    arg);
		return;
	}
	sh = xcalloc(1, sizeof *sh);
	sh->id = xstrdup(id);
	sh->cfg = cfg_ref(cfg_current());
	sh->done = done;
	sh->arg = arg;
	pool_submit(quar_pool(), show_work, show_done, sh);
}
