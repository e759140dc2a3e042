/*
 * MIME analysis: raw message -> struct msg (daemon/msg.h), with GMime for
 * the structure and our own bounded, linear scanners for transfer
 * decoding, charsets, HTML and URLs (mime_text.c). Runs on worker threads,
 * many at once; the returned msg belongs to the caller (msg_free()).
 *
 * Choices analysers should know:
 * - body_text is the subject, then the text of every text/plain and
 *   text/html part in document order, both halves of a
 *   multipart/alternative included (as SpamAssassin renders it: what
 *   hides in either half is seen). parts[i].text has each on its own.
 * - sniffed_type: libmagic's answer, except for body text (text/plain or
 *   text/html without a file name) whose start looks like text: that
 *   keeps its declared type, as libmagic's text rules are slow regexes.
 * - raw_offset/raw_len: from a part's first header line to the end of
 *   its content (a container: of its last child). header_len: the bytes
 *   before the blank line ending the message's header block.
 * - Input past a budget is cut before GMime sees it (gmime_cut(),
 *   MSG_W_CUT, parsed_len) and parts deeper than MSG_DEPTH_MAX are left
 *   out (MSG_W_NESTING); both set MSG_TRUNCATED.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>
#include <magic.h>

#include "buf.h"
#include "log.h"
#include "xmalloc.h"
#include "mime.h"
#include "mime_text.h"

#define MIME_SNIFF_MAX	(64 * 1024)	/* bytes libmagic looks at */
#define MIME_SNIFF_TEXT_MAX 4096	/* ... when they look like text */
#define MIME_TEXT_PROBE	1024		/* looks_text() reads */
/* Budgets of gmime_cut(): what GMime may be given to build. */
#define MIME_CUT_WORK	(1000 * 1000)	/* "--" lines x boundaries */
#define MIME_CUT_DELIMS	(4 * MSG_PARTS_MAX)	/* delimiter lines */
#define MIME_CUT_FIELDS	(20 * MSG_HEADERS_MAX)	/* "name:" lines */
#define MIME_CUT_FIELD_LEN (1024 * 1024)	/* one (folded) header */
#define MIME_CUT_BOUNDS	64		/* boundaries remembered */
#define MIME_CUT_QUICK	1000		/* fewer lines: no cut */

struct pctx {
	struct msg		*m;
	GByteArray		*array;	/* wraps raw, not owned */
	struct mime_urls	 urls;
	size_t			 cap_parts;
	size_t			 cap_headers;
};

static pthread_once_t	 mime_once = PTHREAD_ONCE_INIT;
static pthread_key_t	 magic_key;
static char		 magic_failed;	/* a thread failed to load */

/* --- set-up ------------------------------------------------------------ */

static void
magic_key_free(void *p)
{
	if (p != NULL && p != &magic_failed)
		magic_close(p);
}

static void
mime_once_init(void)
{
	if (pthread_key_create(&magic_key, magic_key_free) != 0)
		fatalx("mime: pthread_key_create");
	mime_text_init();
}

void
mime_init(void)
{
	pthread_once(&mime_once, mime_once_init);
}

void
mime_shutdown(void)
{
	void	*p;

	pthread_once(&mime_once, mime_once_init);
	p = pthread_getspecific(magic_key);
	magic_key_free(p);
	pthread_setspecific(magic_key, NULL);
}

/* libmagic cookies are not thread-safe: one per thread, loaded lazily. */
static magic_t
thread_magic(void)
{
	void	*p = pthread_getspecific(magic_key);
	magic_t	 c;

	if (p == &magic_failed)
		return NULL;
	if (p != NULL)
		return p;
	if ((c = magic_open(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS)) ==
	    NULL || magic_load(c, NULL) == -1) {
		log_warnx("mime: libmagic: %s", c != NULL ? magic_error(c) :
		    "magic_open failed");
		if (c != NULL)
			magic_close(c);
		pthread_setspecific(magic_key, &magic_failed);
		return NULL;
	}
	pthread_setspecific(magic_key, c);
	return c;
}

static void
warn_flag(struct msg *m, unsigned w)
{
	m->mime_warnings |= w;
	if (w & MSG_W_MALFORMED_MASK)
		m->flags |= MSG_MALFORMED;
}

/* --- headers ---------------------------------------------------------- */

/* Unfolded raw value: line breaks removed, outer whitespace trimmed. */
static char *
unfold(const char *raw)
{
	const char	*b = raw, *e = raw + strlen(raw), *nl;
	char		*s, *w;

	while (b < e && (*b == ' ' || *b == '\t' || *b == '\r' || *b == '\n'))
		b++;
	while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
	    e[-1] == '\n'))
		e--;
	s = w = xmalloc(e - b + 1);
	while (b < e) {
		if ((nl = memchr(b, '\n', e - b)) == NULL)
			nl = e;
		memcpy(w, b, nl - b);
		w += nl - b;
		if (w > s && nl < e && w[-1] == '\r')
			w--;
		b = nl < e ? nl + 1 : e;
	}
	*w = '\0';
	return s;
}

/* The UTF-8 value of an unfolded raw value; *bad8 when it held bytes
 * that are not UTF-8. */
static char *
header_decode(GMimeParserOptions *opts, const char *raw, bool *bad8)
{
	const unsigned char	*p;
	char			*d, *v;

	*bad8 = false;
	for (p = (const unsigned char *)raw; *p != '\0'; p++)
		if (*p >= 0x80) {
			*bad8 = !g_utf8_validate(raw, -1, NULL);
			break;
		}
	if (strstr(raw, "=?") != NULL) {
		d = g_mime_utils_header_decode_text(opts, raw);
		v = mime_utf8_dup(d != NULL ? d : raw);
		g_free(d);
		return v;
	}
	return *p != '\0' ? mime_utf8_dup(raw) : xstrdup(raw);
}

static void
header_add(struct pctx *c, GMimeParserOptions *opts, GMimeHeader *gh)
{
	struct msg		*m = c->m;
	struct msg_header	*h;
	const char		*name = g_mime_header_get_name(gh);
	const char		*raw = g_mime_header_get_raw_value(gh);
	bool			 bad8;

	if (name == NULL)
		return;
	if (m->nheaders >= MSG_HEADERS_MAX) {
		m->flags |= MSG_TRUNCATED;
		return;
	}
	if (m->nheaders == c->cap_headers) {
		c->cap_headers = c->cap_headers ? c->cap_headers * 2 : 32;
		m->headers = xreallocarray(m->headers, c->cap_headers,
		    sizeof *m->headers);
	}
	h = &m->headers[m->nheaders++];
	h->name = xstrdup(name);
	h->raw = unfold(raw != NULL ? raw : "");
	h->value = header_decode(opts, h->raw, &bad8);
	if (bad8)
		m->mime_warnings |= MSG_W_8BIT_HEADER;
	if (strstr(h->value, "=?") != NULL && strstr(h->value, "?=") != NULL)
		m->mime_warnings |= MSG_W_BAD_RFC2047;	/* undecoded */
}

/* The top part holds every header of the message, in order (we parse it
 * as a part: GMime's message object would decode and parse them all
 * again, for a quarter of the time). */
static void
headers_collect(struct pctx *c, GMimeParserOptions *opts, GMimeObject *top)
{
	GMimeHeaderList	*l = g_mime_object_get_header_list(top);
	int		 i, n;

	n = l != NULL ? g_mime_header_list_get_count(l) : 0;
	for (i = 0; i < n; i++)
		header_add(c, opts, g_mime_header_list_get_header_at(l, i));
}

static InternetAddressMailbox *
first_mailbox(InternetAddressList *l, int depth)
{
	InternetAddress		*ia;
	InternetAddressMailbox	*mb;
	int			 i, n;

	if (l == NULL || depth > 2)
		return NULL;
	n = internet_address_list_length(l);
	for (i = 0; i < n; i++) {
		ia = internet_address_list_get_address(l, i);
		if (INTERNET_ADDRESS_IS_MAILBOX(ia))
			return INTERNET_ADDRESS_MAILBOX(ia);
		if (INTERNET_ADDRESS_IS_GROUP(ia) && (mb = first_mailbox(
		    internet_address_group_get_members(
		    INTERNET_ADDRESS_GROUP(ia)), depth + 1)) != NULL)
			return mb;
	}
	return NULL;
}

static char *
addr_lower(const char *a)
{
	char	*u, *l;

	if (a == NULL || *a == '\0')
		return NULL;
	u = mime_utf8_dup(a);
	l = g_utf8_strdown(u, -1);
	free(u);
	u = xstrdup(l);
	g_free(l);
	return u;
}

static void
addrs_join(struct buf *b, InternetAddressList *l, int depth)
{
	InternetAddress	*ia;
	char		*a;
	int		 i, n;

	if (l == NULL || depth > 2)
		return;
	n = internet_address_list_length(l);
	for (i = 0; i < n; i++) {
		ia = internet_address_list_get_address(l, i);
		if (INTERNET_ADDRESS_IS_GROUP(ia)) {
			addrs_join(b, internet_address_group_get_members(
			    INTERNET_ADDRESS_GROUP(ia)), depth + 1);
			continue;
		}
		if (!INTERNET_ADDRESS_IS_MAILBOX(ia) || (a = addr_lower(
		    internet_address_mailbox_get_addr(
		    INTERNET_ADDRESS_MAILBOX(ia)))) == NULL)
			continue;
		if ((b->len > 0 && buf_append(b, ",", 1) == -1) ||
		    buf_append(b, a, strlen(a)) == -1) {
			free(a);
			return;
		}
		free(a);
	}
}

static char *
header_copy(const struct msg *m, const char *name)
{
	const struct msg_header	*h = msg_header(m, name);

	return h != NULL ? xstrdup(h->value) : NULL;
}

static InternetAddressList *
header_addrs(struct msg *m, GMimeParserOptions *opts, const char *name)
{
	const struct msg_header	*h = msg_header(m, name);
	InternetAddressList	*l;

	if (h == NULL || *h->raw == '\0')
		return NULL;
	l = internet_address_list_parse(opts, h->raw);
	if (l == NULL || internet_address_list_length(l) == 0)
		m->mime_warnings |= MSG_W_BAD_ADDRESS;
	return l;
}

static void
headers_convenience(struct msg *m, GMimeParserOptions *opts)
{
	InternetAddressMailbox	*mb;
	InternetAddressList	*l;
	const char		*name;
	const struct msg_header	*h;
	GDateTime		*dt;
	struct buf		 b;

	m->subject = header_copy(m, "Subject");
	m->message_id = header_copy(m, "Message-ID");
	m->date = header_copy(m, "Date");
	if ((l = header_addrs(m, opts, "From")) != NULL) {
		if ((mb = first_mailbox(l, 0)) != NULL) {
			m->from_addr = addr_lower(
			    internet_address_mailbox_get_addr(mb));
			name = internet_address_get_name(INTERNET_ADDRESS(mb));
			if (name != NULL && *name != '\0')
				m->from_name = mime_utf8_dup(name);
		}
		g_object_unref(l);
	}
	if ((l = header_addrs(m, opts, "Reply-To")) != NULL) {
		if ((mb = first_mailbox(l, 0)) != NULL)
			m->reply_to_addr = addr_lower(
			    internet_address_mailbox_get_addr(mb));
		g_object_unref(l);
	}
	if ((l = header_addrs(m, opts, "To")) != NULL) {
		buf_init(&b, 1024 * 1024);
		addrs_join(&b, l, 0);
		if (b.len > 0)
			m->to_addrs = buf_steal(&b);
		buf_free(&b);
		g_object_unref(l);
	}
	if ((h = msg_header(m, "Date")) != NULL &&
	    (dt = g_mime_utils_header_decode_date(h->raw)) != NULL) {
		m->date_time = g_date_time_to_unix(dt);
		g_date_time_unref(dt);
	}
}

static bool
single_header(const char *name)
{
	static const char *const once[] = {
		"bcc", "cc", "date", "from", "in-reply-to", "message-id",
		"references", "reply-to", "sender", "subject", "to"
	};
	size_t	i;

	if (g_ascii_strncasecmp(name, "content-", 8) == 0)
		return true;
	for (i = 0; i < sizeof once / sizeof once[0]; i++)
		if (g_ascii_strcasecmp(name, once[i]) == 0)
			return true;
	return false;
}

/* Bytes up to the blank line ending the header block; a line in it that
 * is neither a field ("name:") nor a continuation sets *bad. */
static size_t
header_block_len(const char *raw, size_t len, bool *bad)
{
	const char	*p = raw, *end = raw + len, *nl, *q;

	*bad = false;
	if (len > 5 && memcmp(raw, "From ", 5) == 0 &&
	    (nl = memchr(raw, '\n', len)) != NULL)
		p = nl + 1;			/* an mbox line */
	while (p < end) {
		if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n'))
			return (size_t)(p - raw);
		if ((nl = memchr(p, '\n', end - p)) == NULL)
			nl = end;
		if (*p != ' ' && *p != '\t') {
			for (q = p; q < nl && *q > ' ' && *q < 0x7f &&
			    *q != ':'; q++)
				;
			while (q < nl && (*q == ' ' || *q == '\t'))
				q++;
			if (q == p || q >= nl || *q != ':')
				*bad = true;
		}
		p = nl + 1;
	}
	return len;
}

/* Repeats of the fields RFC 5322 allows once (and of Content-*). */
static void
headers_check(struct msg *m)
{
	size_t	seen[32], nseen = 0, i, j;

	for (i = 0; i < m->nheaders; i++) {
		if (!single_header(m->headers[i].name))
			continue;
		for (j = 0; j < nseen; j++)
			if (strcasecmp(m->headers[seen[j]].name,
			    m->headers[i].name) == 0)
				break;
		if (j == nseen) {
			if (nseen < sizeof seen / sizeof seen[0])
				seen[nseen++] = i;
		} else if (strcmp(m->headers[seen[j]].raw,
		    m->headers[i].raw) == 0)
			m->mime_warnings |= MSG_W_DUP_HEADER;
		else
			m->mime_warnings |= MSG_W_CONFLICT;
	}
}

/* --- parts ---------------------------------------------------------------- */


static struct msg_part *
part_new(struct pctx *c, int parent, int depth)
{
	struct msg	*m = c->m;
	struct msg_part	*p;

	if (m->nparts == c->cap_parts) {
		c->cap_parts = c->cap_parts ? c->cap_parts * 2 : 8;
		m->parts = xreallocarray(m->parts, c->cap_parts,
		    sizeof *m->parts);
	}
	p = &m->parts[m->nparts];
	memset(p, 0, sizeof *p);
	p->index = (int)m->nparts++;
	p->parent = parent;
	p->depth = depth;
	return p;
}

/* The content bytes of a part: a slice of raw when GMime left it in our
 * stream (the usual case), else read into *copy. */
static const unsigned char *
part_source(struct pctx *c, GMimeDataWrapper *w, size_t *len, size_t *end,
    unsigned char **copy)
{
	GMimeStream	*s = g_mime_data_wrapper_get_stream(w);
	gint64		 a, b;
	struct buf	 tmp;
	char		 chunk[8192];
	ssize_t		 n;

	*copy = NULL;
	*len = 0;
	if (s == NULL)
		return NULL;
	if (GMIME_IS_STREAM_MEM(s) && GMIME_STREAM_MEM(s)->buffer == c->array) {
		a = s->bound_start;
		b = s->bound_end < 0 ? (gint64)c->m->raw_len : s->bound_end;
		if (a < 0)
			a = 0;
		if (b > (gint64)c->m->raw_len)
			b = (gint64)c->m->raw_len;
		if (b < a)
			b = a;
		*len = (size_t)(b - a);
		*end = (size_t)b;
		return (const unsigned char *)c->m->raw + a;
	}
	buf_init(&tmp, MSG_PART_DATA_MAX);
	g_mime_stream_reset(s);
	while ((n = g_mime_stream_read(s, chunk, sizeof chunk)) > 0)
		if (buf_append(&tmp, chunk, (size_t)n) == -1) {
			c->m->flags |= MSG_TRUNCATED;
			break;
		}
	*len = tmp.len;
	*copy = (unsigned char *)buf_steal(&tmp);
	return *copy;
}

static void
part_decode(struct pctx *c, struct msg_part *p, GMimeDataWrapper *w)
{
	const unsigned char	*src;
	unsigned char		*copy, *out;
	size_t			 slen, n, end = p->raw_offset;
	bool			 bad = false;

	if ((src = part_source(c, w, &slen, &end, &copy)) == NULL)
		return;
	if (end > p->raw_offset)
		p->raw_len = end - p->raw_offset;
	switch (g_mime_data_wrapper_get_encoding(w)) {
	case GMIME_CONTENT_ENCODING_BASE64:
		out = xmalloc(slen / 4 * 3 + 4);
		n = mime_decode_base64(src, slen, out, &bad);
		if (bad)
			warn_flag(c->m, MSG_W_BAD_BASE64);
		break;
	case GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE:
		out = xmalloc(slen + 1);
		n = mime_decode_qp(src, slen, out, &bad);
		if (bad)
			c->m->mime_warnings |= MSG_W_BAD_QP;
		break;
	case GMIME_CONTENT_ENCODING_UUENCODE:
		out = xmalloc(slen + 64);
		n = mime_decode_uu(src, slen, out);
		break;
	default:
		if (copy != NULL) {
			out = copy;
			copy = NULL;
		} else {
			out = xmalloc(slen + 1);
			memcpy(out, src, slen);
		}
		n = slen;
		break;
	}
	free(copy);
	if (n > MSG_PART_DATA_MAX) {
		n = MSG_PART_DATA_MAX;
		c->m->flags |= MSG_TRUNCATED;
	}
	p->data = out;
	p->len = n;
}

static void
part_text(struct pctx *c, int idx)
{
	struct msg_part	*p = &c->m->parts[idx];
	struct buf	 b;
	char		*cs = NULL, *t;
	size_t		 n;

	buf_init(&b, MSG_TEXT_MAX);
	if (p->is_html && p->charset == NULL)
		cs = mime_html_meta_charset(p->data, p->len);
	if (mime_text_append(&b, cs != NULL ? cs : p->charset, p->data,
	    p->len) == -1)
		c->m->flags |= MSG_TRUNCATED;
	free(cs);
	if (b.data == NULL && buf_append(&b, "", 0) == -1) {
		buf_free(&b);
		return;
	}
	n = mime_text_normalise(b.data, b.len);
	t = buf_steal(&b);
	if (p->is_html) {
		char *v = mime_html_to_text(&c->urls, idx, t, n, &n);

		free(t);
		t = v;
	}
	p = &c->m->parts[idx];
	p->text = t;
	p->text_len = n;
	mime_urls_from_text(&c->urls, idx, t, n);
}

/* Does the start of data look like text (UTF-8 or 8-bit, no control
 * bytes but the usual)? */
static bool
looks_text(const unsigned char *d, size_t len)
{
	size_t	i, n = len < MIME_TEXT_PROBE ? len : MIME_TEXT_PROBE;

	for (i = 0; i < n; i++)
		if (d[i] < 0x20 && d[i] != '\t' && d[i] != '\n' &&
		    d[i] != '\r' && d[i] != '\f' && d[i] != 0x1b)
			return false;
	return true;
}

/* libmagic is the slowest step by far (its text rules are regexes), so
 * body text that looks like text keeps its declared type; attachments
 * and anything binary-looking get the full look. */
static void
part_sniff(struct msg_part *p)
{
	magic_t		 mc;
	const char	*t;
	size_t		 n;

	if (p->len == 0)
		return;
	if (p->is_text && p->filename == NULL && looks_text(p->data, p->len)) {
		p->sniffed_type = xstrdup(p->content_type);
		return;
	}
	if ((mc = thread_magic()) == NULL)
		return;
	n = p->len < MIME_SNIFF_MAX ? p->len : MIME_SNIFF_MAX;
	if (n > MIME_SNIFF_TEXT_MAX && looks_text(p->data, p->len))
		n = MIME_SNIFF_TEXT_MAX;
	if ((t = magic_buffer(mc, p->data, n)) != NULL)
		p->sniffed_type = xstrdup(t);
}

static void
part_leaf(struct pctx *c, int idx, GMimePart *gp)
{
	struct msg_part	*p = &c->m->parts[idx];
	const char	*fn, *te;
	GMimeDataWrapper *w;
	GMimeHeader	*h;

	if ((fn = g_mime_part_get_filename(gp)) != NULL)
		p->filename = mime_utf8_dup(fn);
	/* The raw value: asking GMime for the value decodes it again. */
	if ((h = g_mime_header_list_get_header(g_mime_object_get_header_list(
	    GMIME_OBJECT(gp)), "Content-Transfer-Encoding")) != NULL &&
	    (te = g_mime_header_get_raw_value(h)) != NULL) {
		p->transfer_encoding = unfold(te);
		mime_lower_ascii(p->transfer_encoding);
	}
	p->is_html = strcmp(p->content_type, "text/html") == 0;
	p->is_text = p->is_html || strcmp(p->content_type, "text/plain") == 0;
	p->is_attachment = p->filename != NULL || (p->disposition != NULL &&
	    strcmp(p->disposition, "attachment") == 0) ||
	    strncmp(p->content_type, "text/", 5) != 0;
	if ((w = g_mime_part_get_content(gp)) != NULL)
		part_decode(c, p, w);
	if (p->data == NULL) {
		p->data = xmalloc(1);
		p->len = 0;
	}
	part_sniff(p);
	if (p->is_text)
		part_text(c, idx);
}

static size_t
first_offset(GMimeObject *o)
{
	GMimeHeaderList	*l = g_mime_object_get_header_list(o);
	gint64		 off;

	if (l == NULL || g_mime_header_list_get_count(l) == 0)
		return SIZE_MAX;
	off = g_mime_header_get_offset(g_mime_header_list_get_header_at(l, 0));
	return off < 0 ? SIZE_MAX : (size_t)off;
}

static void
part_describe(struct msg *m, struct msg_part *p, GMimeObject *obj)
{
	GMimeContentType	*ct = g_mime_object_get_content_type(obj);
	const char		*t = NULL, *s = NULL, *cs, *d, *raw;
	GMimeHeader		*h;

	if (ct != NULL) {
		t = g_mime_content_type_get_media_type(ct);
		s = g_mime_content_type_get_media_subtype(ct);
	}
	xasprintf(&p->content_type, "%s/%s", t != NULL ? t : "text",
	    s != NULL ? s : "plain");
	mime_lower_ascii(p->content_type);
	h = g_mime_header_list_get_header(g_mime_object_get_header_list(obj),
	    "Content-Type");
	if (h != NULL && (raw = g_mime_header_get_raw_value(h)) != NULL &&
	    strchr(raw, '/') == NULL)
		warn_flag(m, MSG_W_BAD_CONTENT_TYPE);
	if (ct != NULL && (cs = g_mime_content_type_get_parameter(ct,
	    "charset")) != NULL) {
		p->charset = unfold(cs);
		mime_lower_ascii(p->charset);
		if (*p->charset == '\0') {
			free(p->charset);
			p->charset = NULL;
		}
	}
	if ((d = g_mime_object_get_disposition(obj)) != NULL) {
		if (g_ascii_strcasecmp(d, "inline") == 0)
			p->disposition = xstrdup("inline");
		else	/* RFC 2183: unknown ones are attachments */
			p->disposition = xstrdup("attachment");
	}
}

/* Pre-order, containers before their children, an attached message's
 * parts after its message/rfc822 part (policy_mod.c numbers the same
 * way). Returns where the part ends in raw. */
static size_t
walk(struct pctx *c, GMimeObject *obj, int parent, int depth, size_t start)
{
	struct msg	*m = c->m;
	struct msg_part	*p;
	GMimeMessage	*inner;
	GMimeObject	*sub;
	size_t		 end, e, off;
	int		 idx, i, n;

	if (depth >= MSG_DEPTH_MAX) {
		warn_flag(m, MSG_W_NESTING);
		m->flags |= MSG_TRUNCATED;
		return 0;
	}
	if (m->nparts >= MSG_PARTS_MAX) {
		m->flags |= MSG_TRUNCATED;
		return 0;
	}
	p = part_new(c, parent, depth);
	idx = p->index;
	part_describe(m, p, obj);
	off = first_offset(obj);
	p->raw_offset = start < off ? start : off;
	if (p->raw_offset > m->raw_len)
		p->raw_offset = m->raw_len;
	end = p->raw_offset;

	if (GMIME_IS_MULTIPART(obj)) {
		/* GMime only says in this field whether it met the end
		 * boundary (a missing one is missing or cut off) */
		if (g_mime_object_get_content_type_parameter(obj,
		    "boundary") == NULL)
			warn_flag(m, MSG_W_NO_BOUNDARY);
		else if (!GMIME_MULTIPART(obj)->write_end_boundary)
			warn_flag(m, MSG_W_TRUNCATED);
		n = g_mime_multipart_get_count(GMIME_MULTIPART(obj));
		for (i = 0; i < n; i++) {
			sub = g_mime_multipart_get_part(
			    GMIME_MULTIPART(obj), i);
			e = walk(c, sub, idx, depth + 1, SIZE_MAX);
			if (e > end)
				end = e;
		}
	} else if (GMIME_IS_MESSAGE_PART(obj)) {
		p->is_attachment = true;
		inner = g_mime_message_part_get_message(
		    GMIME_MESSAGE_PART(obj));
		if (inner != NULL && (sub = g_mime_message_get_mime_part(
		    inner)) != NULL) {
			e = walk(c, sub, idx, depth + 1,
			    first_offset(GMIME_OBJECT(inner)));
			if (e > end)
				end = e;
		}
	} else if (GMIME_IS_PART(obj)) {
		part_leaf(c, idx, GMIME_PART(obj));
		p = &m->parts[idx];
		if (p->raw_offset + p->raw_len > end)
			end = p->raw_offset + p->raw_len;
	}
	p = &m->parts[idx];
	if (end > m->raw_len)
		end = m->raw_len;
	p->raw_len = end > p->raw_offset ? end - p->raw_offset : 0;
	return end;
}

/* GMime found no message (no header at all): the whole input is one
 * text part so that body rules still see it. */
static void
synthetic_part(struct pctx *c)
{
	struct msg	*m = c->m;
	struct msg_part	*p = part_new(c, -1, 0);
	size_t		 n = m->raw_len < MSG_PART_DATA_MAX ? m->raw_len :
			    MSG_PART_DATA_MAX;

	p->content_type = xstrdup("text/plain");
	p->is_text = true;
	p->data = xmalloc(n + 1);
	memcpy(p->data, m->raw, n);
	p->len = n;
	p->raw_len = m->raw_len;
	part_sniff(p);
	part_text(c, p->index);
}

static void
body_text_build(struct msg *m)
{
	struct buf	 b;
	size_t		 i, n;
	const char	*s;

	buf_init(&b, MSG_TEXT_MAX);
	s = m->subject != NULL ? m->subject : "";
	if (buf_append(&b, s, strlen(s)) == -1 || buf_append(&b, "\n", 1) ==
	    -1)
		m->flags |= MSG_TRUNCATED;
	for (i = 0; i < m->nparts; i++) {
		if (m->parts[i].text == NULL || m->parts[i].text_len == 0)
			continue;
		n = m->parts[i].text_len;
		if (n > b.max - b.len)
			n = mime_utf8_cut(m->parts[i].text, n, b.max - b.len);
		if (buf_append(&b, m->parts[i].text, n) == -1 ||
		    n < m->parts[i].text_len || (m->parts[i].text[n - 1] !=
		    '\n' && buf_append(&b, "\n", 1) == -1)) {
			m->flags |= MSG_TRUNCATED;
			break;
		}
	}
	m->body_text_len = b.len;
	m->body_text = b.data != NULL ? buf_steal(&b) : xstrdup("");
	buf_free(&b);
}

/*
 * GMime builds an object for every header field and part it meets, and
 * checks every line starting with "--" against its whole stack of open
 * boundaries (up to 1024 deep): a crafted message of tiny parts, tiny
 * headers, huge folded headers or deep nesting costs it gigabytes or
 * seconds. So before GMime sees the input we bound, in one pass, the
 * header-like lines, a field's folded length, the delimiter lines (of
 * boundaries declared so far) and the boundary work (each "--" line x the
 * boundaries declared so far), and cut the input at the line that passes a
 * budget (MSG_W_CUT). Long ordinary text passes whole.
 */
struct cutter {
	const char	*b[MIME_CUT_BOUNDS];	/* declared boundaries */
	size_t		 blen[MIME_CUT_BOUNDS];
	size_t		 nb;		/* declared, even past b[] */
	uint64_t	 work, delims, fields;
};

static bool
is_token(unsigned char c)
{
	return c > ' ' && c < 0x7f && c != ':';
}

/* Note the boundary values a (header) line declares. */
static void
cut_bounds(struct cutter *k, const char *p, const char *e)
{
	const char	*v, *ve;

	for (; e - p >= 9; p++) {
		if ((*p | 0x20) != 'b' || strncasecmp(p, "boundary", 8) != 0)
			continue;
		for (v = p + 8; v < e && (*v == ' ' || *v == '\t' ||
		    *v == '*' || (*v >= '0' && *v <= '9')); v++)
			;
		if (v >= e || *v != '=')
			continue;
		for (v++; v < e && (*v == ' ' || *v == '\t' || *v == '"' ||
		    *v == '\''); v++)
			;
		for (ve = v; ve < e && *ve != '"' && *ve != '\'' &&
		    *ve != ';' && *ve != '\r' && *ve != ' ' && *ve != '\t';
		    ve++)
			;
		if (k->nb < MIME_CUT_BOUNDS) {
			k->b[k->nb] = v;
			k->blen[k->nb] = ve - v;
		}
		k->nb++;
		p = ve - 1;
	}
}

/* Is a "--" line a delimiter of a declared boundary? When more were
 * declared than we keep, any "--" line may be one. */
static bool
cut_is_delim(const struct cutter *k, const char *p, const char *e)
{
	size_t	i;

	if (k->nb > MIME_CUT_BOUNDS)
		return true;
	for (i = 0; i < k->nb; i++)
		if ((size_t)(e - p) >= k->blen[i] + 2 && memcmp(p + 2,
		    k->b[i], k->blen[i]) == 0)
			return true;
	return false;
}

static size_t
gmime_cut(const char *raw, size_t len, bool *cut)
{
	struct cutter	 k;
	const char	*p, *end = raw + len, *nl, *q;
	uint64_t	 nlines = 0;
	size_t		 flen = 0;	/* the field's bytes so far */

	/* A few short lines cannot pass any budget. */
	*cut = false;
	for (p = raw; p < end && (nl = memchr(p, '\n', end - p)) != NULL;
	    p = nl + 1)
		nlines++;
	if (nlines + 1 <= MIME_CUT_QUICK && len <= MIME_CUT_FIELD_LEN)
		return len;

	memset(&k, 0, sizeof k);
	for (p = raw; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', end - p)) == NULL)
			nl = end;
		if (nl - p >= 2 && p[0] == '-' && p[1] == '-') {
			k.work += k.nb < 1024 ? k.nb : 1024;
			if (cut_is_delim(&k, p, nl))
				k.delims++;
			flen = 0;
		} else if (*p == ' ' || *p == '\t') {
			cut_bounds(&k, p, nl);	/* a folded parameter */
			if (flen > 0)		/* a folded field grows */
				flen += nl - p;
		} else {
			for (q = p; q < nl && is_token(*q); q++)
				;
			while (q < nl && (*q == ' ' || *q == '\t'))
				q++;
			flen = 0;
			if (q > p && q < nl && *q == ':') {
				k.fields++;
				flen = nl - p;
				cut_bounds(&k, q, nl);
			}
		}
		if (k.work > MIME_CUT_WORK || k.delims > MIME_CUT_DELIMS ||
		    k.fields > MIME_CUT_FIELDS || flen > MIME_CUT_FIELD_LEN) {
			*cut = true;
			return (size_t)(p - raw);
		}
	}
	return len;
}

struct msg *
mime_parse(const char *raw, size_t len)
{
	static const char	*fallback[] = {
		"utf-8", "windows-1252", NULL
	};
	struct pctx		 c;
	struct msg		*m;
	GMimeStream		*stream;
	GMimeParser		*parser;
	GMimeParserOptions	*opts;
	GMimeObject		*top;
	const char		*nl;
	size_t			 glen;
	bool			 cut, bad;

	pthread_once(&mime_once, mime_once_init);
	m = xcalloc(1, sizeof *m);
	m->raw = raw;
	m->raw_len = len;
	m->date_time = -1;
	memset(&c, 0, sizeof c);
	c.m = m;
	c.urls.m = m;
	/* GByteArray's bound; SMTP's is far lower */
	if (len > G_MAXUINT) {
		len = m->raw_len = G_MAXUINT;
		m->flags |= MSG_TRUNCATED;
	}
	m->header_len = header_block_len(raw, len, &bad);
	if (bad)
		warn_flag(m, MSG_W_BAD_HEADER);
	m->parsed_len = glen = gmime_cut(raw, len, &cut);
	if (cut) {
		warn_flag(m, MSG_W_CUT);
		m->flags |= MSG_TRUNCATED;
	}

	if (glen > 0) {
		c.array = g_byte_array_new_take((guint8 *)(uintptr_t)raw, glen);
		stream = g_mime_stream_mem_new_with_byte_array(c.array);
		g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(stream), FALSE);
		/* an mbox "From " line: GMime would take it for a header */
		if (len > 5 && memcmp(raw, "From ", 5) == 0 &&
		    (nl = memchr(raw, '\n', glen)) != NULL)
			g_mime_stream_seek(stream, nl + 1 - raw,
			    GMIME_STREAM_SEEK_SET);
		parser = g_mime_parser_new_with_stream(stream);
		g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
		opts = g_mime_parser_options_new();
		g_mime_parser_options_set_fallback_charsets(opts, fallback);
		if ((top = g_mime_parser_construct_part(parser, opts)) !=
		    NULL) {
			headers_collect(&c, opts, top);
			headers_check(m);
			headers_convenience(m, opts);
			walk(&c, top, -1, 0, 0);
			g_object_unref(top);
		} else {
			warn_flag(m, MSG_W_NO_MESSAGE);
			synthetic_part(&c);
		}
		g_object_unref(parser);
		g_object_unref(stream);
		g_mime_parser_options_free(opts);
		g_byte_array_free(c.array, FALSE);	/* raw stays */
	}
	if (m->nheaders == 0)
		m->flags |= MSG_NO_HEADERS;
	body_text_build(m);
	mime_urls_free(&c.urls);
	return m;
}
