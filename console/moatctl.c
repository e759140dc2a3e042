/*
 * moatctl: run one control command from a shell or a script.
 *   moatctl [-s SOCKET] [--json] COMMAND [key=value | key:=JSON ...]
 * Prints JSON (--json) or tables for people; every string that may come
 * from mail is sanitised before it reaches the terminal.
 * Exit status: 0 ok, 1 the command failed, 2 usage or connection error.
 */
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include <jansson.h>

#include "buf.h"
#include "client.h"
#include "proto.h"
#include "util.h"
#include "xmalloc.h"

#define EXIT_CMD	1
#define EXIT_USAGE	2

#define SHOW_MAX	4096	/* longest string shown from a result */
#define KEY_COL_MAX	32
#define CALL_TIMEOUT_MS	(300 * 1000)
#define SCAN_FILE_MAX	(32 * 1024 * 1024) /* largest message moatctl scan sends */

static bool	 json_out;
static size_t	 term_width;	/* 0: no limit (not a terminal) */
static bool	 utf8_term;

/* --- text cells --------------------------------------------------------- */

/* Decode one UTF-8 sequence (input is sanitised, so valid). */
static size_t
utf8_next(const char *s, uint32_t *cp)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 n, i;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if ((p[0] & 0xe0) == 0xc0) {
		n = 2;
		*cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 3;
		*cp = p[0] & 0x0f;
	} else {
		n = 4;
		*cp = p[0] & 0x07;
	}
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80) {
			*cp = '?';
			return i;
		}
		*cp = (*cp << 6) | (p[i] & 0x3f);
	}
	return n;
}

static size_t
cp_width(uint32_t cp)
{
	int	w;

	if (cp < 0x80)
		return 1;
	if (!utf8_term)
		return 1;
	w = wcwidth((wchar_t)cp);
	return w < 0 ? 1 : (size_t)w;
}

static size_t
text_width(const char *s)
{
	uint32_t	cp;
	size_t		w = 0;

	while (*s != '\0') {
		s += utf8_next(s, &cp);
		w += cp_width(cp);
	}
	return w;
}

/* Print s in exactly width columns (0: as is), cut with a marker. */
static void
put_cell(const char *s, size_t width, bool pad)
{
	const char	*mark = utf8_term ? "\xe2\x80\xa6" : "~";
	const char	*p = s;
	uint32_t	 cp;
	size_t		 w = 0, n, cw;

	if (width == 0) {
		fputs(s, stdout);
		return;
	}
	if (text_width(s) <= width) {
		fputs(s, stdout);
		w = text_width(s);
	} else {
		while (*p != '\0') {
			n = utf8_next(p, &cp);
			cw = cp_width(cp);
			if (w + cw > width - 1)
				break;
			fwrite(p, 1, n, stdout);
			w += cw;
			p += n;
		}
		fputs(mark, stdout);
		w++;
	}
	while (pad && w++ < width)
		putchar(' ');
}

/* A string from the server made safe to print. Caller frees. */
static char *
clean(const char *s)
{
	if (s == NULL)
		return xstrdup("");
	return util_sanitize(s, strlen(s), SHOW_MAX);
}

static char *
clean_json(const json_t *v)
{
	char	*s, *out;

	if (json_is_string(v))
		return clean(json_string_value(v));
	if (json_is_null(v) || v == NULL)
		return xstrdup("-");
	if ((s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		return xstrdup("?");
	out = clean(s);
	free(s);
	return out;
}

static void
fmt_time(int64_t ms, char *out, size_t len)
{
	struct tm	tm;
	time_t		t = (time_t)(ms / 1000);

	if (ms <= 0 || localtime_r(&t, &tm) == NULL ||
	    strftime(out, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(out, len, "-");
}

static void
fmt_size(int64_t n, char *out, size_t len)
{
	if (n < 1024)
		snprintf(out, len, "%lld", (long long)n);
	else if (n < 1024 * 1024)
		snprintf(out, len, "%.1fK", (double)n / 1024);
	else if (n < 1024LL * 1024 * 1024)
		snprintf(out, len, "%.1fM", (double)n / (1024 * 1024));
	else
		snprintf(out, len, "%.1fG", (double)n / (1024.0 * 1024 * 1024));
}

/* --- key/value output --------------------------------------------------- */

static bool
is_time_key(const char *key)
{
	static const char *const keys[] = {
		"time_ms", "started_ms", "from_ms", "to_ms", "hour",
	};
	const char	*last = strrchr(key, '.');
	size_t		 i;

	last = last != NULL ? last + 1 : key;
	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		if (strcmp(last, keys[i]) == 0)
			return true;
	}
	return false;
}

/* Flatten an object into "a.b.c" / value pairs. */
static void
kv_collect(const char *prefix, json_t *v, json_t *pairs)
{
	const char	*k;
	json_t		*m;
	char		*key, idx[32];
	size_t		 i;
	bool		 scalars = true;

	if (json_is_object(v) && json_object_size(v) > 0) {
		json_object_foreach(v, k, m) {
			if (*prefix != '\0')
				xasprintf(&key, "%s.%s", prefix, k);
			else
				key = xstrdup(k);
			kv_collect(key, m, pairs);
			free(key);
		}
		return;
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, m) {
			if (json_is_object(m) || json_is_array(m))
				scalars = false;
		}
		if (!scalars) {
			json_array_foreach(v, i, m) {
				snprintf(idx, sizeof idx, "[%zu]", i);
				xasprintf(&key, "%s%s", prefix, idx);
				kv_collect(key, m, pairs);
				free(key);
			}
			return;
		}
	}
	json_array_append_new(pairs, json_pack("[s,O]", prefix, v));
}

static void
print_kv(json_t *result)
{
	json_t		*pairs, *p;
	char		*key, *val, when[32];
	const char	*k;
	size_t		 i, kw = 0, vw;
	json_t		*v;

	pairs = json_array();
	kv_collect("", result, pairs);
	json_array_foreach(pairs, i, p) {
		key = clean(json_string_value(json_array_get(p, 0)));
		if (text_width(key) > kw)
			kw = text_width(key);
		free(key);
	}
	if (kw > KEY_COL_MAX)
		kw = KEY_COL_MAX;
	vw = term_width > kw + 2 ? term_width - kw - 2 : 0;
	json_array_foreach(pairs, i, p) {
		k = json_string_value(json_array_get(p, 0));
		v = json_array_get(p, 1);
		key = clean(k);
		if (json_is_array(v)) {
			struct buf	 b;
			size_t		 j;
			json_t		*e;
			char		*s;

			buf_init(&b, SHOW_MAX);
			json_array_foreach(v, j, e) {
				s = clean_json(e);
				if (buf_appendf(&b, "%s%s", j > 0 ? ", " : "",
				    s) == -1) {
					free(s);
					break;
				}
				free(s);
			}
			val = buf_steal(&b);
		} else
			val = clean_json(v);
		if (is_time_key(k) && json_is_integer(v)) {
			fmt_time(json_integer_value(v), when, sizeof when);
			free(val);
			xasprintf(&val, "%s (%lld)", when,
			    (long long)json_integer_value(v));
		}
		put_cell(key, kw, true);
		fputs("  ", stdout);
		put_cell(val, term_width > 0 ? (vw > 0 ? vw : 1) : 0, false);
		putchar('\n');
		free(key);
		free(val);
	}
	json_decref(pairs);
}

/* --- tracking records --------------------------------------------------- */

static const char *
rec_str(json_t *rec, const char *key)
{
	const char	*s = json_string_value(json_object_get(rec, key));

	return s != NULL ? s : "";
}

/* "first@rcpt +N". Caller frees. */
static char *
rec_rcpts(json_t *rec)
{
	json_t		*rcpts = json_object_get(rec, "rcpts"), *first;
	const char	*a;
	char		*s, *out;

	if (json_array_size(rcpts) == 0)
		return xstrdup("");
	first = json_array_get(rcpts, 0);
	a = json_is_object(first) ?
	    json_string_value(json_object_get(first, "address")) :
	    json_string_value(first);
	s = clean(a);
	if (json_array_size(rcpts) == 1)
		return s;
	xasprintf(&out, "%s +%zu", s, json_array_size(rcpts) - 1);
	free(s);
	return out;
}

static char *
rec_sender(json_t *rec)
{
	const char	*s = rec_str(rec, "sender");

	return *s == '\0' ? xstrdup("<>") : clean(s);
}

enum { C_TIME, C_QID, C_SENDER, C_RCPTS, C_OUTCOME, C_SIZE, C_SUBJECT, NCOLS };

static const char *const col_names[NCOLS] = {
	"TIME", "QUEUE ID", "SENDER", "RECIPIENTS", "OUTCOME", "SIZE", "SUBJECT"
};

/* The cells of one record, each sanitised. */
static void
rec_cells(json_t *rec, char *cells[NCOLS])
{
	char	buf[64];

	fmt_time(json_integer_value(json_object_get(rec, "time_ms")), buf,
	    sizeof buf);
	cells[C_TIME] = xstrdup(buf);
	cells[C_QID] = clean(rec_str(rec, "queue_id"));
	cells[C_SENDER] = rec_sender(rec);
	cells[C_RCPTS] = rec_rcpts(rec);
	cells[C_OUTCOME] = clean(rec_str(rec, "outcome"));
	fmt_size(json_integer_value(json_object_get(rec, "size")), buf,
	    sizeof buf);
	cells[C_SIZE] = xstrdup(buf);
	cells[C_SUBJECT] = clean(rec_str(rec, "subject"));
}

/* Fit flexible columns into what the fixed ones leave. */
static void
fit_columns(size_t w[NCOLS])
{
	size_t	fixed = 0, rest, cap, i;

	if (term_width == 0)
		return;
	for (i = 0; i < NCOLS; i++) {
		if (i != C_SENDER && i != C_RCPTS && i != C_SUBJECT)
			fixed += w[i];
	}
	fixed += 2 * (NCOLS - 1);
	rest = term_width > fixed ? term_width - fixed : 0;
	cap = rest * 3 / 10 > 8 ? rest * 3 / 10 : 8;
	if (w[C_SENDER] > cap)
		w[C_SENDER] = cap;
	if (w[C_RCPTS] > cap)
		w[C_RCPTS] = cap;
	w[C_SUBJECT] = rest > w[C_SENDER] + w[C_RCPTS] ?
	    rest - w[C_SENDER] - w[C_RCPTS] : 1;
}

static void
print_row(char *cells[NCOLS], const size_t w[NCOLS])
{
	size_t	i, sw;

	for (i = 0; i < NCOLS; i++) {
		if (i == C_SIZE) {	/* right-aligned */
			for (sw = text_width(cells[i]); sw < w[i]; sw++)
				putchar(' ');
			put_cell(cells[i], w[i], false);
		} else
			put_cell(cells[i], i == C_SUBJECT ? (term_width > 0 ?
			    w[i] : 0) : w[i], i != C_SUBJECT);
		if (i != C_SUBJECT)
			fputs("  ", stdout);
	}
	putchar('\n');
}

static void
print_records(json_t *items)
{
	char	***rows, *head[NCOLS];
	size_t	 w[NCOLS], n, i, k, cw;
	json_t	*rec;

	n = json_array_size(items);
	rows = xcalloc(n, sizeof *rows);
	for (k = 0; k < NCOLS; k++) {
		head[k] = (char *)col_names[k];
		w[k] = strlen(col_names[k]);
	}
	json_array_foreach(items, i, rec) {
		rows[i] = xcalloc(NCOLS, sizeof *rows[i]);
		rec_cells(rec, rows[i]);
		for (k = 0; k < NCOLS; k++) {
			if ((cw = text_width(rows[i][k])) > w[k])
				w[k] = cw;
		}
	}
	fit_columns(w);
	print_row(head, w);
	for (i = 0; i < n; i++) {
		print_row(rows[i], w);
		for (k = 0; k < NCOLS; k++)
			free(rows[i][k]);
		free(rows[i]);
	}
	free(rows);
}

static void
print_tracking_search(json_t *result)
{
	json_t	*items = json_object_get(result, "items");
	char	*next;

	if (!json_is_array(items)) {
		print_kv(result);
		return;
	}
	if (json_array_size(items) == 0)
		printf("no messages found\n");
	else
		print_records(items);
	if (json_is_string(json_object_get(result, "next"))) {
		next = clean(json_string_value(json_object_get(result,
		    "next")));
		printf("more: add cursor=%s\n", next);
		free(next);
	}
}

static void
print_event(json_t *ev)
{
	json_t	*rec = json_object_get(ev, "data");
	char	*cells[NCOLS], *dir, *line;
	size_t	 k;

	if (!json_is_object(rec)) {
		line = clean_json(ev);
		put_cell(line, term_width, false);
		putchar('\n');
		free(line);
		return;
	}
	rec_cells(rec, cells);
	dir = clean(rec_str(rec, "direction"));
	xasprintf(&line, "%s  %s  %s  %s  %s -> %s  %s  %s", cells[C_TIME],
	    cells[C_QID], dir, cells[C_OUTCOME], cells[C_SENDER],
	    cells[C_RCPTS], cells[C_SIZE], cells[C_SUBJECT]);
	put_cell(line, term_width, false);
	putchar('\n');
	free(line);
	free(dir);
	for (k = 0; k < NCOLS; k++)
		free(cells[k]);
}

static void
print_tracking_get(json_t *result)
{
	json_t	*copy, *rcpts, *r;
	char	*line, *a, *o, *rep;
	size_t	 i;

	copy = json_copy(result);
	rcpts = json_incref(json_object_get(copy, "rcpts"));
	json_object_del(copy, "rcpts");
	print_kv(copy);
	json_decref(copy);
	json_array_foreach(rcpts, i, r) {
		a = clean(rec_str(r, "address"));
		o = clean(rec_str(r, "outcome"));
		rep = clean(rec_str(r, "reply"));
		xasprintf(&line, "rcpt  %s  %s  %s", a, o, rep);
		put_cell(line, term_width, false);
		putchar('\n');
		free(line);
		free(a);
		free(o);
		free(rep);
	}
	json_decref(rcpts);
}

/* --- statistics --------------------------------------------------------- */

static void
print_stats(json_t *result)
{
	json_t		*hours = json_object_get(result, "hours");
	json_t		*totals = json_object_get(result, "totals");
	json_t		*h, *v;
	const char	*k;
	char		 when[32], from[32], to[32], *dir, *out;
	size_t		 i;

	if (!json_is_array(hours)) {
		print_kv(result);
		return;
	}
	if (json_is_integer(json_object_get(result, "from_ms"))) {
		fmt_time(json_integer_value(json_object_get(result,
		    "from_ms")), from, sizeof from);
		fmt_time(json_integer_value(json_object_get(result, "to_ms")),
		    to, sizeof to);
		printf("from %s to %s\n\n", from, to);
	}
	printf("%-19s  %-9s  %-11s  %9s  %12s\n", "HOUR", "DIRECTION",
	    "OUTCOME", "MESSAGES", "BYTES");
	json_array_foreach(hours, i, h) {
		fmt_time(json_integer_value(json_object_get(h, "hour")), when,
		    sizeof when);
		dir = clean(rec_str(h, "direction"));
		out = clean(rec_str(h, "outcome"));
		printf("%-19s  %-9.9s  %-11.11s  %9lld  %12lld\n", when, dir,
		    out,
		    (long long)json_integer_value(json_object_get(h,
		    "messages")),
		    (long long)json_integer_value(json_object_get(h, "bytes")));
		free(dir);
		free(out);
	}
	if (json_is_object(totals)) {
		printf("\nTOTALS\n");
		json_object_foreach(totals, k, v) {
			out = clean(k);
			printf("%-11.11s  %9lld\n", out,
			    (long long)json_integer_value(v));
			free(out);
		}
	}
}

/* --- commands ----------------------------------------------------------- */

struct printer {
	const char	*cmd;
	void		(*print)(json_t *);
};

static const struct printer printers[] = {	/* sorted by cmd */
	{ PROTO_CMD_STATS_GET, print_stats },
	{ PROTO_CMD_TRACKING_GET, print_tracking_get },
	{ PROTO_CMD_TRACKING_SEARCH, print_tracking_search },
};

static int
printer_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct printer *)elem)->cmd);
}

static void
print_result(const char *cmd, json_t *result)
{
	const struct printer	*p;

	if (json_out) {
		json_dumpf(result, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
		putchar('\n');
		return;
	}
	p = bsearch(cmd, printers, sizeof printers / sizeof printers[0],
	    sizeof printers[0], printer_cmp);
	if (p != NULL)
		p->print(result);
	else
		print_kv(result);
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: moatctl [-s socket] [--json] command "
	    "[key=value | key:=json ...]\n"
	    "       moatctl learn spam|ham|forget file|folder ...\n"
	    "       moatctl help [command]\n");
}

static void
help(const char *name)
{
	const struct proto_cmd	*c;
	const struct proto_arg	*a;
	size_t			 i;

	if (name == NULL) {
		usage(stdout);
		printf("\n%-22s  %-9s  %s\n", "COMMAND", "ROLE", "DESCRIPTION");
		for (i = 0; i < proto_ncmds; i++) {
			c = &proto_cmds[i];
			printf("%-22s  %-9s  %s\n", c->name,
			    proto_role_name(c->role), c->help);
		}
		printf("\nsocket: -s, else $%s, else %s\n", CTL_SOCKET_ENV,
		    CTL_SOCKET_DEFAULT);
		return;
	}
	if ((c = proto_cmd_find(name)) == NULL) {
		printf("%s: not a command this moatctl knows (a newer moatd "
		    "may have it)\n", name);
		return;
	}
	printf("%s: %s (role %s or higher)\n", c->name, c->help,
	    proto_role_name(c->role));
	for (a = c->args; a->key != NULL; a++)
		printf("  %-12s %-8s %s%s\n", a->key, proto_type_name(a->type),
		    a->required ? "required; " : "", a->help);
}

static bool
is_integer(const char *s, json_int_t *out)
{
	char		*end;
	long long	 v;

	if (*s == '\0' || (!isdigit((unsigned char)*s) && *s != '-'))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0' || errno == ERANGE || end == s)
		return false;
	*out = (json_int_t)v;
	return true;
}

/* A key=value value: the command's schema decides when it knows the key;
 * otherwise integers and true/false are typed and the rest is text. */
static json_t *
arg_value(const struct proto_cmd *cmd, const char *key, const char *s)
{
	const struct proto_arg	*a;
	json_int_t		 n;

	a = cmd != NULL ? proto_arg_find(cmd->args, key) : NULL;
	if (a == NULL || a->type == PROTO_T_INTEGER) {
		if (is_integer(s, &n))
			return json_integer(n);
	}
	if (a == NULL || a->type == PROTO_T_BOOLEAN) {
		if (strcmp(s, "true") == 0)
			return json_true();
		if (strcmp(s, "false") == 0)
			return json_false();
	}
	return json_string(s);
}

static bool
is_key(const char *s, size_t len)
{
	size_t	i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' &&
		    s[i] != '.' && s[i] != '-')
			return false;
	}
	return true;
}

static json_t *
parse_args(const char *name, int argc, char **argv)
{
	const struct proto_cmd	*cmd = proto_cmd_find(name);
	json_error_t		 err;
	json_t			*args, *v;
	const char		*eq;
	char			*key;
	size_t			 klen;
	bool			 raw;
	int			 i;

	args = json_object();
	for (i = 0; i < argc; i++) {
		if ((eq = strchr(argv[i], '=')) == NULL) {
			fprintf(stderr, "moatctl: %s: arguments are "
			    "key=value or key:=json\n", argv[i]);
			goto fail;
		}
		klen = (size_t)(eq - argv[i]);
		raw = klen > 0 && argv[i][klen - 1] == ':';
		if (raw)
			klen--;
		if (!is_key(argv[i], klen)) {
			fprintf(stderr, "moatctl: %s: bad key\n", argv[i]);
			goto fail;
		}
		key = xstrndup(argv[i], klen);
		if (raw)
			v = json_loads(eq + 1, JSON_DECODE_ANY, &err);
		else
			v = arg_value(cmd, key, eq + 1);
		if (v == NULL) {
			fprintf(stderr, "moatctl: %s: %s\n", key, raw ?
			    err.text : "not valid UTF-8");
			free(key);
			goto fail;
		}
		if (json_object_get(args, key) != NULL) {
			fprintf(stderr, "moatctl: %s given twice\n", key);
			json_decref(v);
			free(key);
			goto fail;
		}
		json_object_set_new(args, key, v);
		free(key);
	}
	return args;
fail:
	json_decref(args);
	return NULL;
}

static void
set_width(void)
{
	struct winsize	 ws;
	const char	*cols, *cs;
	long		 n;
	char		*end;

	term_width = 0;
	if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ,
	    &ws) == 0 && ws.ws_col > 0)
		term_width = ws.ws_col;
	else if ((cols = getenv("COLUMNS")) != NULL) {
		n = strtol(cols, &end, 10);
		if (*end == '\0' && n > 0 && n < 10000)
			term_width = (size_t)n;
	}
	cs = nl_langinfo(CODESET);
	utf8_term = cs != NULL && (strcmp(cs, "UTF-8") == 0 ||
	    strcmp(cs, "utf8") == 0);
}

static int
follow(struct client *c)
{
	json_t	*ev;
	char	*cause, *line;

	for (;;) {
		if (client_next_event(c, -1, &ev, &cause) != 1) {
			fprintf(stderr, "moatctl: %s\n",
			    cause != NULL ? cause : "connection ended");
			free(cause);
			return EXIT_USAGE;
		}
		if (json_out) {
			if ((line = proto_encode(ev, NULL)) != NULL)
				fputs(line, stdout);
			free(line);
		} else
			print_event(ev);
		fflush(stdout);
		json_decref(ev);
	}
}

/* A file's bytes as a string (messages are text; NUL-free is checked by
 * the daemon's JSON). Caller frees. */
static char *
slurp(const char *path, size_t *len, char **cause)
{
	FILE	*f;
	char	*p = NULL;
	size_t	 cap = 0, n;

	if ((f = fopen(path, "rb")) == NULL) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return NULL;
	}
	*len = 0;
	for (;;) {
		if (*len + 65536 + 1 > cap) {
			cap = cap ? cap * 2 : 131072;
			if (cap > SCAN_FILE_MAX + 65536 + 1)
				cap = SCAN_FILE_MAX + 65536 + 1;
			p = xreallocarray(p, 1, cap);
		}
		n = fread(p + *len, 1, cap - *len - 1, f);
		*len += n;
		if (n == 0 || *len > SCAN_FILE_MAX)
			break;
	}
	if (ferror(f) || *len > SCAN_FILE_MAX) {
		xasprintf(cause, "%s: %s", path, ferror(f) ? strerror(errno) :
		    "too large to scan");
		fclose(f);
		free(p);
		return NULL;
	}
	fclose(f);
	p[*len] = '\0';
	return p;
}

/*
 * moatctl scan FILE...: each message's verdict, score and findings from
 * the running daemon's engine, without delivering anything.
 */
static int
scan_files(struct client *c, int argc, char **argv)
{
	json_t		*result, *f;
	char		*cause, *code, *text, *name;
	size_t		 len, i;
	int		 n, rv, status = 0;

	for (n = 0; n < argc; n++) {
		if ((text = slurp(argv[n], &len, &cause)) == NULL) {
			fprintf(stderr, "moatctl: %s\n", cause);
			free(cause);
			status = EXIT_CMD;
			continue;
		}
		rv = client_call(c, PROTO_CMD_SCAN, json_pack("{s:s%}",
		    "message", text, len), &result, &code, &cause);
		free(text);
		if (rv != 0) {
			name = clean(argv[n]);
			fprintf(stderr, "moatctl: %s: %s%s%s\n", name,
			    rv == 1 ? code : "", rv == 1 ? ": " : "",
			    cause != NULL ? cause : "failed");
			free(name);
			free(code);
			free(cause);
			if (rv == -1)
				return EXIT_USAGE;
			status = EXIT_CMD;
			continue;
		}
		if (json_out) {
			json_object_set_new(result, "file", json_string(argv[n]));
			text = json_dumps(result, JSON_COMPACT);
			if (text != NULL)
				puts(text);
			free(text);
		} else {
			name = clean(argv[n]);
			printf("%s: %s score=%.2f/%.2f\n", name,
			    json_string_value(json_object_get(result,
			    "verdict")), json_real_value(json_object_get(result,
			    "score")), json_real_value(json_object_get(result,
			    "threshold")));
			free(name);
			json_array_foreach(json_object_get(result, "findings"),
			    i, f) {
				text = clean(json_string_value(
				    json_object_get(f, "detail")));
				printf("  %-24s %6.2f  %s\n",
				    json_string_value(json_object_get(f,
				    "symbol")), json_real_value(json_object_get(f,
				    "score")), text != NULL ? text : "");
				free(text);
			}
		}
		json_decref(result);
	}
	return status;
}

/*
 * moatctl learn spam|ham|forget FILE|DIR...: train the Bayes filter with
 * each message file (folders are walked, dot files skipped), one
 * bayes.learn (or bayes.forget) per message, like sa-learn.
 */
#define LEARN_FILE_MAX	(16 * 1024 * 1024) /* fits a request encoded */
#define LEARN_DEPTH_MAX	8

struct learn_run {
	struct client	*c;
	const char	*cmd;
	const char	*class;		/* NULL: forget */
	size_t		 files;
	size_t		 failed;
	size_t		 skipped;
	json_t		*results;	/* result name -> count */
	bool		 broken;	/* the connection failed */
};

static char *
base64_encode(const unsigned char *p, size_t len)
{
	static const char	 abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	char			*out, *o;
	uint32_t		 v;
	size_t			 i;

	out = o = xmalloc((len + 2) / 3 * 4 + 1);
	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = abc[v >> 18];
		*o++ = abc[(v >> 12) & 63];
		*o++ = abc[(v >> 6) & 63];
		*o++ = abc[v & 63];
	}
	if (i < len) {
		v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] <<
		    8 : 0);
		*o++ = abc[v >> 18];
		*o++ = abc[(v >> 12) & 63];
		*o++ = i + 1 < len ? abc[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static void
learn_fail(struct learn_run *r, const char *path, const char *code,
    const char *why)
{
	char	*name = clean(path), *reason = clean(why);

	fprintf(stderr, "moatctl: %s: %s%s%s\n", name, code != NULL ? code :
	    "", code != NULL ? ": " : "", reason);
	free(name);
	free(reason);
	r->failed++;
}

static void
learn_file(struct learn_run *r, const char *path)
{
	json_t		*args, *msg = NULL, *result;
	const char	*what;
	char		*text, *cause = NULL, *code = NULL, *b64;
	size_t		 len;
	int		 rv;

	if ((text = slurp(path, &len, &cause)) == NULL) {
		learn_fail(r, path, NULL, cause);
		free(cause);
		return;
	}
	r->files++;
	args = json_object();
	if (r->class != NULL)
		json_object_set_new(args, "class", json_string(r->class));
	/* JSON strings are UTF-8: other bytes travel as base64, and so do
	 * large messages, whose escaping could pass the request limit. */
	if (len <= CTL_REQ_ADMIN_MAX / 4 &&
	    (msg = json_stringn(text, len)) != NULL)
		json_object_set_new(args, "message", msg);
	else {
		b64 = base64_encode((const unsigned char *)text, len);
		json_object_set_new(args, "message_base64", json_string(b64));
		free(b64);
	}
	free(text);
	rv = client_call(r->c, r->cmd, args, &result, &code, &cause);
	json_decref(args);
	if (rv != 0) {
		learn_fail(r, path, code, cause != NULL ? cause : "failed");
		r->broken = rv == -1;
		free(code);
		free(cause);
		return;
	}
	what = json_string_value(json_object_get(result, "result"));
	if (what == NULL)
		what = "?";
	json_object_set_new(r->results, what, json_integer(
	    json_integer_value(json_object_get(r->results, what)) + 1));
	json_decref(result);
}

static void
learn_path(struct learn_run *r, const char *path, int depth)
{
	struct dirent	**names;
	struct stat	 st;
	char		*sub;
	int		 n, i;

	if (r->broken)
		return;
	if (stat(path, &st) == -1) {
		learn_fail(r, path, NULL, strerror(errno));
		return;
	}
	if (S_ISREG(st.st_mode)) {
		if (st.st_size > LEARN_FILE_MAX) {
			sub = clean(path);
			fprintf(stderr, "moatctl: %s: skipped: larger than "
			    "%d bytes\n", sub, LEARN_FILE_MAX);
			free(sub);
			r->skipped++;
			return;
		}
		learn_file(r, path);
		return;
	}
	if (!S_ISDIR(st.st_mode) || depth >= LEARN_DEPTH_MAX) {
		learn_fail(r, path, NULL, S_ISDIR(st.st_mode) ?
		    "folders nested too deep" : "not a file or folder");
		return;
	}
	if ((n = scandir(path, &names, NULL, alphasort)) == -1) {
		learn_fail(r, path, NULL, strerror(errno));
		return;
	}
	for (i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.') {
			xasprintf(&sub, "%s/%s", path, names[i]->d_name);
			learn_path(r, sub, depth + 1);
			free(sub);
		}
		free(names[i]);
	}
	free(names);
}

static int
learn_main(const char *sock, int argc, char **argv)
{
	struct learn_run	 r;
	const char		*k;
	json_t			*v;
	char			*cause;
	uint64_t		 start = util_mono_ms();
	int			 i;

	if (argc < 2 || (strcmp(argv[0], "spam") != 0 &&
	    strcmp(argv[0], "ham") != 0 && strcmp(argv[0], "forget") != 0)) {
		fprintf(stderr, "usage: moatctl learn spam|ham|forget "
		    "file|folder ...\n");
		return EXIT_USAGE;
	}
	memset(&r, 0, sizeof r);
	if (strcmp(argv[0], "forget") == 0)
		r.cmd = PROTO_CMD_BAYES_FORGET;
	else {
		r.cmd = PROTO_CMD_BAYES_LEARN;
		r.class = argv[0];
	}
	if ((r.c = client_connect(client_socket_path(sock), &cause)) ==
	    NULL) {
		fprintf(stderr, "moatctl: %s\n", cause);
		free(cause);
		return EXIT_USAGE;
	}
	client_set_timeout(r.c, CALL_TIMEOUT_MS);
	r.results = json_object();
	for (i = 1; i < argc && !r.broken; i++)
		learn_path(&r, argv[i], 0);
	client_close(r.c);
	if (json_out) {
		json_object_set_new(r.results, "files", json_integer(
		    (json_int_t)r.files));
		json_object_set_new(r.results, "failed", json_integer(
		    (json_int_t)r.failed));
		json_object_set_new(r.results, "skipped", json_integer(
		    (json_int_t)r.skipped));
		json_dumpf(r.results, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		printf("%s: %zu messages in %.1f s", argv[0], r.files,
		    (double)(util_mono_ms() - start) / 1000);
		json_object_foreach(r.results, k, v)
			printf(", %lld %s", (long long)json_integer_value(v),
			    k);
		if (r.failed > 0)
			printf(", %zu failed", r.failed);
		if (r.skipped > 0)
			printf(", %zu skipped", r.skipped);
		putchar('\n');
	}
	json_decref(r.results);
	if (r.broken)
		return EXIT_USAGE;
	return r.failed > 0 ? EXIT_CMD : 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct client	*c;
	const char	*sock = NULL, *cmd;
	char		*cause, *code, *msg;
	json_t		*args, *result;
	int		 ch, rv;

	setlocale(LC_CTYPE, "");
	while ((ch = getopt_long(argc, argv, "hjs:V", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json_out = true;
			break;
		case 's':
			sock = optarg;
			break;
		case 'h':
			help(NULL);
			return 0;
		case 'V':
			printf("moatctl %s (protocol %d)\n", MOAT_VERSION,
			    PROTO_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[0];
	if (strcmp(cmd, "help") == 0) {
		help(argc > 1 ? argv[1] : NULL);
		return 0;
	}
	if (strcmp(cmd, "learn") == 0)
		return learn_main(sock, argc - 1, argv + 1);
	if (strcmp(cmd, PROTO_CMD_SCAN) == 0 && argc > 1 &&
	    strchr(argv[1], '=') == NULL) {
		/* moatctl scan FILE...: read the files here. */
		set_width();
		if ((c = client_connect(client_socket_path(sock),
		    &cause)) == NULL) {
			fprintf(stderr, "moatctl: %s\n", cause);
			free(cause);
			return EXIT_USAGE;
		}
		client_set_timeout(c, CALL_TIMEOUT_MS);
		rv = scan_files(c, argc - 1, argv + 1);
		client_close(c);
		return rv;
	}
	if ((args = parse_args(cmd, argc - 1, argv + 1)) == NULL)
		return EXIT_USAGE;
	set_width();
	sock = client_socket_path(sock);
	if ((c = client_connect(sock, &cause)) == NULL) {
		fprintf(stderr, "moatctl: %s\n", cause);
		free(cause);
		json_decref(args);
		return EXIT_USAGE;
	}
	client_set_timeout(c, CALL_TIMEOUT_MS);
	rv = client_call(c, cmd, args, &result, &code, &cause);
	json_decref(args);
	if (rv == -1) {
		fprintf(stderr, "moatctl: %s\n", cause);
		free(cause);
		client_close(c);
		return EXIT_USAGE;
	}
	if (rv == 1) {
		msg = clean(cause);
		free(cause);
		cause = clean(code);
		fprintf(stderr, "moatctl: %s: %s\n", cause, msg);
		free(msg);
		free(code);
		free(cause);
		client_close(c);
		return EXIT_CMD;
	}
	if (strcmp(cmd, PROTO_CMD_TRACKING_SUBSCRIBE) == 0) {
		json_decref(result);
		client_set_timeout(c, 0);
		rv = follow(c);
		client_close(c);
		return rv;
	}
	print_result(cmd, result);
	json_decref(result);
	client_close(c);
	return fflush(stdout) == 0 ? 0 : EXIT_USAGE;
}
