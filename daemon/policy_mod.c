/*
 * Message modifications of the accumulated actions: header edits,
 * attachment removal (the parts What objects marked, or all), disclaimers
 * in text and HTML parts; the MIME tree is rewritten with GMime and
 * serialised with CRLF line ends. Also the ${name} templates.
 * Worker threads; everything here works on the caller's own objects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>

#include "buf.h"
#include "log.h"
#include "policy.h"
#include "util.h"
#include "xmalloc.h"

#define MOD_NOTICE_DEFAULT						\
	"The attachment \"${filenames}\" was removed from this message "\
	"by the mail gateway (rule ${rule})."
#define MOD_SPAM_STARS_MAX	50

/* --- templates --------------------------------------------------------- */

static const char *const vars_known[] = {
	"sender", "rcpts", "subject", "from", "virus", "rule", "queue_id",
	"host", "filenames", "score", "spam_level", "spam", NULL
};

int
policy_template_check(const char *s, char **cause)
{
	const char	*p, *end;
	size_t		 len;
	int		 i;

	for (p = s; (p = strstr(p, "${")) != NULL; p = end + 1) {
		if ((end = strchr(p, '}')) == NULL) {
			xasprintf(cause, "unterminated ${ in template");
			return -1;
		}
		len = (size_t)(end - p - 2);
		for (i = 0; vars_known[i] != NULL; i++)
			if (strlen(vars_known[i]) == len &&
			    strncmp(vars_known[i], p + 2, len) == 0)
				break;
		if (vars_known[i] == NULL) {
			xasprintf(cause, "unknown template variable ${%.*s} "
			    "(known: sender, rcpts, subject, from, virus, rule, "
			    "queue_id, host, filenames, score, spam_level, "
			    "spam)", (int)(len > 32 ? 32 : len), p + 2);
			return -1;
		}
	}
	return 0;
}

static const char *
var_value(const struct policy_vars *v, const char *name, size_t len,
    char *tmp, size_t tmplen)
{
	int	n;

#define IS(s)	(strlen(s) == len && strncmp(s, name, len) == 0)
	if (IS("sender"))
		return v->sender != NULL && *v->sender != '\0' ? v->sender :
		    "<>";
	if (IS("rcpts"))
		return v->rcpts;
	if (IS("subject"))
		return v->subject;
	if (IS("from"))
		return v->from;
	if (IS("virus"))
		return v->virus;
	if (IS("rule"))
		return v->rule;
	if (IS("queue_id"))
		return v->queue_id;
	if (IS("host"))
		return v->host;
	if (IS("filenames"))
		return v->filenames;
	if (IS("spam"))
		return v->spam ? "YES" : "NO";
	if (IS("score")) {
		snprintf(tmp, tmplen, "%.2f", v->score);
		return tmp;
	}
	if (IS("spam_level")) {
		n = v->score <= 0 ? 0 : v->score >= MOD_SPAM_STARS_MAX ?
		    MOD_SPAM_STARS_MAX : (int)v->score;
		if ((size_t)n >= tmplen)
			n = (int)tmplen - 1;
		memset(tmp, '*', (size_t)n);
		tmp[n] = '\0';
		return tmp;
	}
#undef IS
	return NULL;
}

char *
policy_template_expand(const char *s, const struct policy_vars *v, size_t max)
{
	struct buf	 b;
	const char	*p, *end, *val;
	char		 tmp[64], *clean;

	buf_init(&b, max);
	for (p = s; *p != '\0';) {
		if (p[0] != '$' || p[1] != '{' ||
		    (end = strchr(p, '}')) == NULL) {
			if (buf_append(&b, p, 1) == -1)
				break;
			p++;
			continue;
		}
		val = var_value(v, p + 2, (size_t)(end - p - 2), tmp,
		    sizeof tmp);
		p = end + 1;
		if (val == NULL || *val == '\0')
			continue;
		clean = util_sanitize(val, strlen(val), max);
		if (buf_append(&b, clean, strlen(clean)) == -1) {
			free(clean);
			break;
		}
		free(clean);
	}
	if (b.data == NULL && buf_append(&b, "", 0) == -1)
		return xstrdup("");
	return buf_steal(&b);
}

/* --- the MIME tree ------------------------------------------------------ */

/* A node of the walk, in the order mime_parse numbers parts: pre-order,
 * containers before their children, an attached message's parts after
 * the message/rfc822 part that holds it. */
struct node {
	GMimeObject	*obj;		/* borrowed from the tree */
	int		 parent;	/* node index, -1 the root */
	GMimeObject	*holder;	/* multipart or message holding obj */
	int		 pos;		/* index in a multipart holder */
	bool		 signed_in;	/* inside multipart/signed|encrypted */
	bool		 gone;		/* removed (or an ancestor was) */
};

struct tree {
	GMimeMessage	*msg;
	struct node	*v;
	size_t		 n;
};

static void
walk(struct tree *t, GMimeObject *obj, int parent, GMimeObject *holder,
    int pos, bool signed_in, int depth)
{
	GMimeContentType	*ct;
	GMimeMessage		*inner;
	struct node		*nd;
	int			 i, n, me;

	if (t->n >= MSG_PARTS_MAX || depth >= MSG_DEPTH_MAX)
		return;
	t->v = xreallocarray(t->v, t->n + 1, sizeof *t->v);
	me = (int)t->n++;
	nd = &t->v[me];
	nd->obj = obj;
	nd->parent = parent;
	nd->holder = holder;
	nd->pos = pos;
	nd->signed_in = signed_in;
	nd->gone = false;
	if (GMIME_IS_MULTIPART(obj)) {
		ct = g_mime_object_get_content_type(obj);
		if (g_mime_content_type_is_type(ct, "multipart", "signed") ||
		    g_mime_content_type_is_type(ct, "multipart", "encrypted"))
			signed_in = true;
		n = g_mime_multipart_get_count(GMIME_MULTIPART(obj));
		for (i = 0; i < n; i++)
			walk(t, g_mime_multipart_get_part(GMIME_MULTIPART(obj),
			    i), me, obj, i, signed_in, depth + 1);
	} else if (GMIME_IS_MESSAGE_PART(obj)) {
		inner = g_mime_message_part_get_message(
		    GMIME_MESSAGE_PART(obj));
		if (inner != NULL && g_mime_message_get_mime_part(inner) !=
		    NULL)
			walk(t, g_mime_message_get_mime_part(inner), me,
			    GMIME_OBJECT(inner), 0, signed_in, depth + 1);
	}
}

static char *
type_of(GMimeObject *obj)
{
	GMimeContentType	*ct = g_mime_object_get_content_type(obj);
	char			*s;

	xasprintf(&s, "%s/%s", ct != NULL && g_mime_content_type_get_media_type(
	    ct) != NULL ? g_mime_content_type_get_media_type(ct) : "text",
	    ct != NULL && g_mime_content_type_get_media_subtype(ct) != NULL ?
	    g_mime_content_type_get_media_subtype(ct) : "plain");
	for (char *p = s; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return s;
}

/* The walk must number parts as the parsed msg does: the marks are its
 * indexes. */
static int
tree_check(const struct tree *t, const struct msg *m, char **cause)
{
	size_t	i;
	char	*ty;
	int	 bad;

	if (m == NULL)
		return 0;
	if (m->nparts != t->n) {
		xasprintf(cause, "MIME walk found %zu parts, the analysis %zu",
		    t->n, m->nparts);
		return -1;
	}
	for (i = 0; i < t->n; i++) {
		ty = type_of(t->v[i].obj);
		bad = m->parts[i].content_type != NULL &&
		    strcmp(ty, m->parts[i].content_type) != 0;
		if (bad)
			xasprintf(cause, "MIME part %zu is %s, the analysis saw "
			    "%s", i, ty, m->parts[i].content_type);
		free(ty);
		if (bad)
			return -1;
	}
	return 0;
}

static bool
is_attachment(GMimeObject *obj)
{
	const char	*disp;
	GMimeContentType *ct;

	if (!GMIME_IS_PART(obj) && !GMIME_IS_MESSAGE_PART(obj))
		return false;
	if (GMIME_IS_MESSAGE_PART(obj))
		return true;
	disp = g_mime_object_get_disposition(obj);
	if (disp != NULL && strcasecmp(disp, "attachment") == 0)
		return true;
	if (g_mime_part_get_filename(GMIME_PART(obj)) != NULL)
		return true;
	ct = g_mime_object_get_content_type(obj);
	return !g_mime_content_type_is_type(ct, "text", "*");
}

/* --- header actions ------------------------------------------------------ */

static void
header_action(GMimeMessage *msg, const struct policy_hit *h,
    const struct policy_vars *vars)
{
	GMimeObject		*o = GMIME_OBJECT(msg);
	const struct policy_action *a = h->action;
	struct policy_vars	 v = *vars;
	char			*value;

	v.rule = h->rule->name;
	switch (a->type) {
	case POLICY_A_REMOVE_HEADER:
		while (g_mime_object_remove_header(o, a->field))
			;
		return;
	case POLICY_A_ADD_HEADER:
	case POLICY_A_MODIFY_HEADER:
		value = policy_template_expand(a->value, &v, POLICY_VALUE_MAX);
		if (a->type == POLICY_A_MODIFY_HEADER) {
			while (g_mime_object_remove_header(o, a->field))
				;
		}
		g_mime_object_append_header(o, a->field, value, "utf-8");
		free(value);
		return;
	default:
		return;
	}
}

/* --- attachments ------------------------------------------------------- */

static bool
ancestor_gone(const struct tree *t, size_t i)
{
	int	p;

	for (p = t->v[i].parent; p != -1; p = t->v[p].parent)
		if (t->v[p].gone)
			return true;
	return false;
}

static void
append_name(struct buf *names, const char *name)
{
	char	*clean = util_sanitize(name, strlen(name), 200);

	if ((names->len > 0 && buf_append(names, ", ", 2) == -1) ||
	    buf_append(names, clean, strlen(clean)) == -1)
		log_debug("policy: list of removed attachments cut");
	free(clean);
}

static GMimeObject *
notice_part(const char *text)
{
	GMimeTextPart	*tp = g_mime_text_part_new_with_subtype("plain");

	g_mime_text_part_set_text(tp, text);
	g_mime_part_set_content_encoding(GMIME_PART(tp),
	    g_mime_part_get_best_content_encoding(GMIME_PART(tp),
	    GMIME_ENCODING_CONSTRAINT_7BIT));
	return GMIME_OBJECT(tp);
}

/* Put a notice in place of node i. */
static void
replace_node(struct tree *t, size_t i, const char *text)
{
	struct node	*nd = &t->v[i];
	GMimeObject	*notice = notice_part(text), *old;

	if (nd->holder == NULL)
		g_mime_message_set_mime_part(t->msg, notice);
	else if (GMIME_IS_MULTIPART(nd->holder)) {
		old = g_mime_multipart_replace(GMIME_MULTIPART(nd->holder),
		    nd->pos, notice);
		if (old != NULL)
			g_object_unref(old);
	} else
		g_mime_message_set_mime_part(GMIME_MESSAGE(nd->holder),
		    notice);
	g_object_unref(notice);
	nd->gone = true;
}

static void
remove_action(struct tree *t, const struct policy_hit *h,
    const struct policy_vars *vars, struct buf *names)
{
	struct policy_vars	 v = *vars;
	const char		*fn;
	char			*text, *ty = NULL;
	size_t			 i;
	bool			 marked;

	v.rule = h->rule->name;
	for (i = 0; i < t->n; i++) {
		marked = (h->parts.bits[i / 64] >> (i % 64)) & 1;
		if (!marked && !(h->action->all && is_attachment(t->v[i].obj)))
			continue;
		if (t->v[i].gone || ancestor_gone(t, i))
			continue;
		fn = GMIME_IS_PART(t->v[i].obj) ?
		    g_mime_part_get_filename(GMIME_PART(t->v[i].obj)) : NULL;
		if (fn == NULL)
			fn = ty = type_of(t->v[i].obj);
		append_name(names, fn);
		v.filenames = fn;
		text = policy_template_expand(h->action->text != NULL ?
		    h->action->text : MOD_NOTICE_DEFAULT, &v, POLICY_TEXT_MAX);
		replace_node(t, i, text);
		free(text);
		free(ty);
		ty = NULL;
	}
}

/* --- disclaimers --------------------------------------------------------- */

static char *
html_escape(const char *s)
{
	struct buf	b;
	const char	*rep;

	buf_init(&b, POLICY_TEXT_MAX * 6 + 64);
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '&': rep = "&amp;"; break;
		case '"': rep = "&quot;"; break;
		case '\n': rep = "<br>\n"; break;
		default: rep = NULL; break;
		}
		if ((rep != NULL ? buf_append(&b, rep, strlen(rep)) :
		    buf_append(&b, s, 1)) == -1)
			break;
	}
	if (b.data == NULL && buf_append(&b, "", 0) == -1)
		return xstrdup("");
	return buf_steal(&b);
}

static char *
html_with(const char *html, const char *add)
{
	const char	*p, *at = NULL;
	char		*out;

	/* Before the last </body>, else at the end. */
	for (p = html; (p = strcasestr(p, "</body")) != NULL; p++)
		at = p;
	if (at == NULL) {
		xasprintf(&out, "%s\n%s\n", html, add);
		return out;
	}
	xasprintf(&out, "%.*s%s\n%s", (int)(at - html), html, add, at);
	return out;
}

static void
set_text(GMimeTextPart *tp, const char *text)
{
	g_mime_text_part_set_text(tp, text);
	g_mime_part_set_content_encoding(GMIME_PART(tp),
	    g_mime_part_get_best_content_encoding(GMIME_PART(tp),
	    GMIME_ENCODING_CONSTRAINT_7BIT));
}

static void
disclaimer_action(struct tree *t, const struct policy_hit *h,
    const struct policy_vars *vars)
{
	const struct policy_action	*a = h->action;
	struct policy_vars		 v = *vars;
	GMimeContentType		*ct;
	GMimeTextPart			*tp;
	GMimeMultipart			*mixed;
	GMimeObject			*root;
	char				*text = NULL, *html = NULL, *old, *new;
	size_t				 i, done = 0;

	v.rule = h->rule->name;
	if (a->text != NULL)
		text = policy_template_expand(a->text, &v, POLICY_TEXT_MAX);
	if (a->html != NULL)
		html = xstrdup(a->html);	/* the admin's own markup */
	else if (text != NULL)
		html = html_escape(text);
	for (i = 0; i < t->n; i++) {
		if (t->v[i].gone || ancestor_gone(t, i) || t->v[i].signed_in ||
		    !GMIME_IS_TEXT_PART(t->v[i].obj) ||
		    is_attachment(t->v[i].obj))
			continue;
		tp = GMIME_TEXT_PART(t->v[i].obj);
		ct = g_mime_object_get_content_type(t->v[i].obj);
		if ((old = g_mime_text_part_get_text(tp)) == NULL)
			continue;
		new = NULL;
		if (g_mime_content_type_is_type(ct, "text", "html"))
			new = html_with(old, html);
		else if (g_mime_content_type_is_type(ct, "text", "plain") &&
		    text != NULL)
			xasprintf(&new, "%s%s%s\n", old,
			    old[0] != '\0' && old[strlen(old) - 1] != '\n' ?
			    "\n" : "", text);
		g_free(old);
		if (new == NULL)
			continue;
		set_text(tp, new);
		free(new);
		done++;
	}
	if (done == 0) {
		/* Signed, or no text part: the disclaimer goes beside the
		 * message in a multipart/mixed, leaving signatures valid. */
		root = g_mime_message_get_mime_part(t->msg);
		mixed = g_mime_multipart_new_with_subtype("mixed");
		if (root != NULL)
			g_mime_multipart_add(mixed, root);
		tp = g_mime_text_part_new_with_subtype("plain");
		set_text(tp, text != NULL ? text : a->html);
		g_mime_multipart_add(mixed, GMIME_OBJECT(tp));
		g_object_unref(tp);
		g_mime_message_set_mime_part(t->msg, GMIME_OBJECT(mixed));
		g_object_unref(mixed);
		/* The tree changed shape: later marks no longer apply. */
		for (i = 0; i < t->n; i++)
			t->v[i].gone = true;
	}
	free(text);
	free(html);
}

/* --- serialising ------------------------------------------------------- */

/* CRLF only: bare LF and bare CR become CRLF. */
static int
put_crlf(struct buf *out, const char *s, size_t len)
{
	size_t	i, start = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n') {
			i++;
			continue;
		}
		if (s[i] != '\n' && s[i] != '\r')
			continue;
		if (buf_append(out, s + start, i - start) == -1 ||
		    buf_append(out, "\r\n", 2) == -1)
			return -1;
		start = i + 1;
	}
	if (buf_append(out, s + start, len - start) == -1)
		return -1;
	if (out->len < 2 || out->data[out->len - 2] != '\r' ||
	    out->data[out->len - 1] != '\n')
		return buf_append(out, "\r\n", 2);
	return 0;
}

int
policy_apply(const struct policy_group *g, const struct msg *m,
    const char *raw, size_t len, const struct policy_vars *vars,
    struct buf *out, char **removed, char **cause)
{
	GMimeStream		*stream;
	GMimeParser		*parser;
	GMimeFormatOptions	*fo;
	struct tree		 t;
	struct buf		 names;
	char			*s;
	size_t			 i;
	int			 rv = -1;

	memset(&t, 0, sizeof t);
	buf_init(&names, 4096);
	if (removed != NULL)
		*removed = NULL;
	stream = g_mime_stream_mem_new_with_buffer(raw, len);
	parser = g_mime_parser_new_with_stream(stream);
	g_object_unref(stream);
	t.msg = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	if (t.msg == NULL) {
		*cause = xstrdup("the message cannot be parsed for rewriting");
		goto out;
	}
	if (g_mime_message_get_mime_part(t.msg) != NULL)
		walk(&t, g_mime_message_get_mime_part(t.msg), -1, NULL, 0,
		    false, 0);
	/* Marks are part numbers of the analysis: they must mean the same
	 * parts here. Header edits and disclaimers need no marks. */
	for (i = 0; i < g->nhits; i++)
		if (g->hits[i].action->type == POLICY_A_REMOVE_ATTACHMENTS &&
		    tree_check(&t, m, cause) == -1)
			goto out;

	/* Attachments first: a disclaimer never lands in a removed part. */
	for (i = 0; i < g->nhits; i++)
		if (g->hits[i].action->type == POLICY_A_REMOVE_ATTACHMENTS)
			remove_action(&t, &g->hits[i], vars, &names);
	for (i = 0; i < g->nhits; i++) {
		switch (g->hits[i].action->type) {
		case POLICY_A_ADD_HEADER:
		case POLICY_A_MODIFY_HEADER:
		case POLICY_A_REMOVE_HEADER:
			header_action(t.msg, &g->hits[i], vars);
			break;
		case POLICY_A_DISCLAIMER:
			disclaimer_action(&t, &g->hits[i], vars);
			break;
		default:
			break;
		}
	}

	fo = g_mime_format_options_new();
	g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
	s = g_mime_object_to_string(GMIME_OBJECT(t.msg), fo);
	g_mime_format_options_free(fo);
	if (s == NULL) {
		*cause = xstrdup("the rewritten message cannot be written");
		goto out;
	}
	rv = put_crlf(out, s, strlen(s));
	g_free(s);
	if (rv == -1) {
		*cause = xstrdup("the rewritten message is too large");
		goto out;
	}
	if (removed != NULL && names.len > 0)
		*removed = buf_steal(&names);
out:
	if (t.msg != NULL)
		g_object_unref(t.msg);
	free(t.v);
	buf_free(&names);
	return rv;
}
