/*
 * Rule files → policy snapshot: objects in groups (who, what, when),
 * actions and rules, checked with "file:line: reason" errors; the running
 * snapshot (JSON shape: policy_json.c).
 * Loading runs on the loop thread or the rules pool; a loaded policy is
 * immutable and shared read-only by every thread holding a reference.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <libconfig.h>

#include "log.h"
#include "policy.h"
#include "xmalloc.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

static const char *const quar_type_names[QUAR_TYPE_MAX] = {
	[QUAR_SPAM] = "spam",
	[QUAR_VIRUS] = "virus",
	[QUAR_ATTACHMENT] = "attachment",
};

static const char *const cat_names[POLICY_CAT_MAX] = {
	[POLICY_WHO] = "who",
	[POLICY_WHAT] = "what",
	[POLICY_WHEN] = "when",
};

static const char *const atype_names[POLICY_A_MAX] = {
	[POLICY_A_ACCEPT] = "accept",
	[POLICY_A_BLOCK] = "block",
	[POLICY_A_QUARANTINE] = "quarantine",
	[POLICY_A_NOTIFY] = "notify",
	[POLICY_A_ADD_HEADER] = "add_header",
	[POLICY_A_MODIFY_HEADER] = "modify_header",
	[POLICY_A_REMOVE_HEADER] = "remove_header",
	[POLICY_A_REMOVE_ATTACHMENTS] = "remove_attachments",
	[POLICY_A_BCC] = "bcc",
	[POLICY_A_DISCLAIMER] = "disclaimer",
};

static const char *const field_names[POLICY_F_MAX] = {
	[POLICY_F_FROM] = "from",
	[POLICY_F_TO] = "to",
	[POLICY_F_WHAT] = "what",
	[POLICY_F_WHEN] = "when",
};

/* The object kinds: the key that names them and their category. */
static const struct {
	const char	*key;
	enum policy_cat	 cat;
} okinds[POLICY_O_MAX] = {
	[POLICY_O_EMAIL] = { "email", POLICY_WHO },
	[POLICY_O_DOMAIN] = { "domain", POLICY_WHO },
	[POLICY_O_REGEX] = { "regex", POLICY_WHO },
	[POLICY_O_IP] = { "ip", POLICY_WHO },
	[POLICY_O_LIST] = { "list", POLICY_WHO },
	[POLICY_O_SPAM_SCORE] = { "spam_score", POLICY_WHAT },
	[POLICY_O_VIRUS] = { "virus", POLICY_WHAT },
	[POLICY_O_CONTENT_TYPE] = { "content_type", POLICY_WHAT },
	[POLICY_O_FILENAME] = { "filename", POLICY_WHAT },
	[POLICY_O_ARCHIVE_TYPE] = { "archive_type", POLICY_WHAT },
	[POLICY_O_ARCHIVE_NAME] = { "archive_name", POLICY_WHAT },
	[POLICY_O_HEADER] = { "header", POLICY_WHAT },
	[POLICY_O_TIMEFRAME] = { "days", POLICY_WHEN },
	[POLICY_O_LDAP_USER] = { "ldap_user", POLICY_WHO },
	[POLICY_O_LDAP_GROUP] = { "ldap_group", POLICY_WHO },
};

static const char *const day_names[7] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat"
};

const char *
quar_type_name(enum quar_type t)
{
	if ((unsigned)t >= QUAR_TYPE_MAX)
		return "unknown";
	return quar_type_names[t];
}

int
quar_type_parse(const char *s, enum quar_type *out)
{
	int	i;

	for (i = 0; i < QUAR_TYPE_MAX; i++) {
		if (strcmp(s, quar_type_names[i]) == 0) {
			*out = (enum quar_type)i;
			return 0;
		}
	}
	return -1;
}

const char *
policy_cat_name(enum policy_cat c)
{
	if ((unsigned)c >= POLICY_CAT_MAX)
		return "unknown";
	return cat_names[c];
}

int
policy_cat_parse(const char *s, enum policy_cat *out)
{
	int	i;

	for (i = 0; i < POLICY_CAT_MAX; i++) {
		if (strcmp(s, cat_names[i]) == 0) {
			*out = (enum policy_cat)i;
			return 0;
		}
	}
	return -1;
}

const char *
policy_atype_name(enum policy_atype t)
{
	if ((unsigned)t >= POLICY_A_MAX)
		return "unknown";
	return atype_names[t];
}

const char *
policy_okind_key(enum policy_okind k)
{
	if ((unsigned)k >= POLICY_O_MAX)
		return "unknown";
	return okinds[k].key;
}

const char *
policy_field_name(enum policy_field f)
{
	if ((unsigned)f >= POLICY_F_MAX)
		return "unknown";
	return field_names[f];
}

/* --- snapshot life ----------------------------------------------------- */

static struct policy	*current_policy;

static void
policy_free(struct policy *p)
{
	struct policy_objgroup	*g;
	struct policy_action	*a;
	struct policy_rule	*r;
	size_t			 i, k;
	int			 f;

	for (i = 0; i < p->ngroups; i++) {
		g = p->groups[i];
		for (k = 0; k < g->nobjs; k++) {
			free(g->objs[k].value);
			free(g->objs[k].field);
			pcre2_code_free(g->objs[k].re);
		}
		free(g->objs);
		free(g->name);
		free(g->comment);
		free(g);
	}
	free(p->groups);
	for (i = 0; i < p->nactions; i++) {
		a = p->actions[i];
		free(a->name);
		free(a->comment);
		free(a->field);
		free(a->value);
		free(a->addr);
		free(a->subject);
		free(a->text);
		free(a->html);
		free(a);
	}
	free(p->actions);
	for (i = 0; i < p->nrules; i++) {
		r = p->rules[i];
		for (f = 0; f < POLICY_F_MAX; f++)
			free(r->refs[f]);
		free(r->actions);
		free(r->name);
		free(r->comment);
		free(r);
	}
	free(p->rules);
	for (i = 0; i < p->nfiles; i++) {
		free(p->files[i].path);
		free(p->files[i].name);
	}
	free(p->files);
	free(p->dir);
	free(p->admin);
	free(p->notify_from);
	free(p->hostname);
	free(p);
}

struct policy *
policy_ref(struct policy *p)
{
	if (p != NULL)
		__atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
	return p;
}

void
policy_unref(struct policy *p)
{
	if (p == NULL || __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	policy_free(p);
}

struct policy *
policy_current(void)
{
	return current_policy;
}

void
policy_set_current(struct policy *p)
{
	struct policy	*old = current_policy;

	current_policy = p;
	policy_unref(old);
}

const struct policy_rule *
policy_rule_find(const struct policy *p, const char *name)
{
	size_t	i;

	for (i = 0; i < p->nrules; i++)
		if (strcmp(p->rules[i]->name, name) == 0)
			return p->rules[i];
	return NULL;
}

const struct policy_objgroup *
policy_group_find(const struct policy *p, enum policy_cat cat,
    const char *name)
{
	size_t	i;

	for (i = 0; i < p->ngroups; i++)
		if (p->groups[i]->cat == cat &&
		    strcmp(p->groups[i]->name, name) == 0)
			return p->groups[i];
	return NULL;
}

static const struct policy_action *
action_find(const struct policy *p, const char *name)
{
	size_t	i;

	for (i = 0; i < p->nactions; i++)
		if (strcmp(p->actions[i]->name, name) == 0)
			return p->actions[i];
	return NULL;
}

/* --- loading ----------------------------------------------------------- */

struct loader {
	struct policy		*p;
	const struct policy_file *file;
	const char		*path;		/* for messages */
	char			*cause;		/* first error */
	size_t			 order;
};

static int
fail(struct loader *l, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct loader *l, const config_setting_t *s, const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[512];

	if (l->cause != NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (s != NULL && config_setting_source_line(s) > 0)
		xasprintf(&l->cause, "%s:%u: %s",
		    config_setting_source_file(s) != NULL ?
		    config_setting_source_file(s) : l->path,
		    config_setting_source_line(s), msg);
	else
		xasprintf(&l->cause, "%s: %s", l->path, msg);
	return -1;
}

static int
line_of(const config_setting_t *s)
{
	return (int)config_setting_source_line(s);
}

/* Every member of group s is one of allowed. */
static int
check_keys(struct loader *l, const config_setting_t *s,
    const char *const *allowed, const char *what)
{
	config_setting_t	*e;
	const char		*name;
	int			 i, n, k;

	n = config_setting_length(s);
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, (unsigned)i);
		if ((name = config_setting_name(e)) == NULL)
			continue;
		for (k = 0; allowed[k] != NULL; k++)
			if (strcmp(allowed[k], name) == 0)
				break;
		if (allowed[k] == NULL)
			return fail(l, e, "unknown key '%s' in %s", name, what);
	}
	return 0;
}

/* An optional string member; *out stays NULL when absent. */
static int
get_str(struct loader *l, const config_setting_t *s, const char *key,
    size_t max, bool required, char **out)
{
	config_setting_t	*e = config_setting_get_member(s, key);
	const char		*v;

	*out = NULL;
	if (e == NULL) {
		if (required)
			return fail(l, s, "'%s' is missing", key);
		return 0;
	}
	if (config_setting_type(e) != CONFIG_TYPE_STRING)
		return fail(l, e, "'%s' must be a string", key);
	v = config_setting_get_string(e);
	if (strlen(v) > max)
		return fail(l, e, "'%s' is longer than %zu bytes", key, max);
	if (required && *v == '\0')
		return fail(l, e, "'%s' is empty", key);
	*out = xstrdup(v);
	return 0;
}

static int
get_bool(struct loader *l, const config_setting_t *s, const char *key,
    bool def, bool *out)
{
	config_setting_t	*e = config_setting_get_member(s, key);

	*out = def;
	if (e == NULL)
		return 0;
	if (config_setting_type(e) != CONFIG_TYPE_BOOL)
		return fail(l, e, "'%s' must be true or false", key);
	*out = config_setting_get_bool(e);
	return 0;
}

static int
get_number(const config_setting_t *e, double *out)
{
	switch (config_setting_type(e)) {
	case CONFIG_TYPE_INT:
		*out = config_setting_get_int(e);
		return 0;
	case CONFIG_TYPE_INT64:
		*out = (double)config_setting_get_int64(e);
		return 0;
	case CONFIG_TYPE_FLOAT:
		*out = config_setting_get_float(e);
		return 0;
	default:
		return -1;
	}
}

static int
check_name(struct loader *l, const config_setting_t *s, const char *name)
{
	if (strlen(name) > POLICY_NAME_MAX)
		return fail(l, s, "name '%.64s...' is longer than %d bytes",
		    name, POLICY_NAME_MAX);
	return 0;
}

static int
compile_re(struct loader *l, const config_setting_t *s, const char *pat,
    void **out)
{
	pcre2_code	*re;
	PCRE2_UCHAR	 msg[256];
	PCRE2_SIZE	 off;
	int		 err;

	if (strlen(pat) > POLICY_REGEX_MAX)
		return fail(l, s, "regular expression longer than %d bytes",
		    POLICY_REGEX_MAX);
	re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
	    PCRE2_CASELESS | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &err, &off,
	    NULL);
	if (re == NULL) {
		pcre2_get_error_message(err, msg, sizeof msg);
		return fail(l, s, "bad regular expression at offset %zu: %s",
		    (size_t)off, (const char *)msg);
	}
	/* Without JIT (not built in, or no executable memory) the
	 * interpreter does the same work, slower. */
	(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
	*out = re;
	return 0;
}

static int
day_index(const char *s, size_t len)
{
	int	i;

	if (len != 3)
		return -1;
	for (i = 0; i < 7; i++)
		if (strncasecmp(s, day_names[i], 3) == 0)
			return i;
	return -1;
}

/* "mon-fri", "sat,sun", "mon,wed-fri", "*": a bit per day, Sunday 0. */
static int
parse_days(const char *s, unsigned *out)
{
	const char	*p = s, *comma, *dash;
	int		 a, b, i;

	*out = 0;
	if (strcmp(s, "*") == 0 || strcasecmp(s, "all") == 0) {
		*out = 0x7f;
		return 0;
	}
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		comma = strchr(p, ',');
		if (comma == NULL)
			comma = p + strlen(p);
		dash = memchr(p, '-', (size_t)(comma - p));
		if (dash != NULL) {
			a = day_index(p, (size_t)(dash - p));
			b = day_index(dash + 1, (size_t)(comma - dash - 1));
		} else
			a = b = day_index(p, (size_t)(comma - p));
		if (a == -1 || b == -1)
			return -1;
		for (i = a;; i = (i + 1) % 7) {	/* "fri-mon" wraps */
			*out |= 1u << i;
			if (i == b)
				break;
		}
		p = *comma == ',' ? comma + 1 : comma;
	}
	return *out != 0 ? 0 : -1;
}

/* "hh:mm", 00:00 to 24:00: minutes of the day. */
static int
parse_hhmm(const char *s, int *out)
{
	int	h, m, n = 0;

	if (sscanf(s, "%2d:%2d%n", &h, &m, &n) != 2 || s[n] != '\0' ||
	    strlen(s) != 5 || h < 0 || m < 0 || m > 59 || h > 24 ||
	    (h == 24 && m != 0))
		return -1;
	*out = h * 60 + m;
	return 0;
}

static int
parse_timeframe(struct loader *l, const config_setting_t *s,
    struct policy_obj *o)
{
	static const char *const keys[] = { "days", "start", "end", NULL };
	char	*days = NULL, *start = NULL, *end = NULL;
	int	 rv = -1;

	if (check_keys(l, s, keys, "a time frame") == -1 ||
	    get_str(l, s, "days", 64, false, &days) == -1 ||
	    get_str(l, s, "start", 5, false, &start) == -1 ||
	    get_str(l, s, "end", 5, false, &end) == -1)
		goto out;
	o->kind = POLICY_O_TIMEFRAME;
	o->days = 0x7f;
	o->start_min = 0;
	o->end_min = 24 * 60;
	if (days != NULL && parse_days(days, &o->days) == -1) {
		fail(l, config_setting_get_member(s, "days"), "bad days \"%s\" "
		    "(like \"mon-fri\" or \"sat,sun\")", days);
		goto out;
	}
	if (start != NULL && parse_hhmm(start, &o->start_min) == -1) {
		fail(l, config_setting_get_member(s, "start"), "bad start "
		    "\"%s\" (hh:mm)", start);
		goto out;
	}
	if (end != NULL && parse_hhmm(end, &o->end_min) == -1) {
		fail(l, config_setting_get_member(s, "end"), "bad end \"%s\" "
		    "(hh:mm)", end);
		goto out;
	}
	if (o->start_min == o->end_min) {
		fail(l, s, "empty time frame: start and end are equal");
		goto out;
	}
	xasprintf(&o->value, "%s %s-%s", days != NULL ? days : "*",
	    start != NULL ? start : "00:00", end != NULL ? end : "24:00");
	rv = 0;
out:
	free(days);
	free(start);
	free(end);
	return rv;
}

/* The one kind key an object of category cat has. */
static int
object_kind(struct loader *l, const config_setting_t *s, enum policy_cat cat,
    enum policy_okind *out)
{
	int	k, found = -1;

	for (k = 0; k < POLICY_O_MAX; k++) {
		if (okinds[k].cat != cat ||
		    config_setting_get_member(s, okinds[k].key) == NULL)
			continue;
		if (found != -1)
			return fail(l, s, "an object has one of '%s' or '%s', "
			    "not both", okinds[found].key, okinds[k].key);
		found = k;
	}
	if (found == -1) {
		if (cat == POLICY_WHEN) {
			*out = POLICY_O_TIMEFRAME;
			return 0;
		}
		return fail(l, s, "%s object without a kind (%s)",
		    cat_names[cat], cat == POLICY_WHO ?
		    "email, domain, regex, ip, list, ldap_user, ldap_group" :
		    "spam_score, virus, content_type, filename, archive_type, "
		    "archive_name, header");
	}
	*out = (enum policy_okind)found;
	return 0;
}

static int
parse_object(struct loader *l, const config_setting_t *s, enum policy_cat cat,
    struct policy_obj *o)
{
	static const char *const k_source[] = { "content_type", "source",
	    NULL };
	static const char *const k_header[] = { "header", "value", NULL };
	const config_setting_t	*v;
	enum policy_okind	 kind = POLICY_O_EMAIL;
	const char		*key;
	const char		*keys[2];
	char			*src = NULL;
	double			 d;

	memset(o, 0, sizeof *o);
	if (config_setting_type(s) != CONFIG_TYPE_GROUP)
		return fail(l, s, "an object is a group: { %s = ...; }",
		    cat == POLICY_WHO ? "email" : cat == POLICY_WHAT ?
		    "filename" : "days");
	if (object_kind(l, s, cat, &kind) == -1)
		return -1;
	if (kind == POLICY_O_TIMEFRAME)
		return parse_timeframe(l, s, o);
	o->kind = kind;
	key = okinds[kind].key;
	v = config_setting_get_member(s, key);
	keys[0] = key;
	keys[1] = NULL;
	if (check_keys(l, s, kind == POLICY_O_CONTENT_TYPE ? k_source :
	    kind == POLICY_O_HEADER ? k_header : keys, "an object") == -1)
		return -1;

	switch (kind) {
	case POLICY_O_SPAM_SCORE:
		if (get_number(v, &d) == -1)
			return fail(l, v, "spam_score must be a number");
		o->score = d;
		xasprintf(&o->value, "%g", d);
		return 0;
	case POLICY_O_VIRUS:
		if (config_setting_type(v) != CONFIG_TYPE_BOOL ||
		    !config_setting_get_bool(v))
			return fail(l, v, "virus must be true");
		o->value = xstrdup("true");
		return 0;
	default:
		break;
	}
	if (get_str(l, s, key, POLICY_REGEX_MAX, true, &o->value) == -1)
		return -1;

	switch (kind) {
	case POLICY_O_EMAIL:
		if (strchr(o->value, '@') == NULL)
			return fail(l, v, "email \"%s\" has no @ (a domain is "
			    "{ domain = ...; })", o->value);
		return 0;
	case POLICY_O_DOMAIN:
		if (strchr(o->value, '@') != NULL ||
		    strchr(o->value, ' ') != NULL)
			return fail(l, v, "bad domain \"%s\"", o->value);
		return 0;
	case POLICY_O_IP:
		if (cfg_net_parse(o->value, &o->net) == -1)
			return fail(l, v, "bad address or network \"%s\"",
			    o->value);
		return 0;
	case POLICY_O_LIST:
		if (strcmp(o->value, "block") == 0 ||
		    strcmp(o->value, "blocklist") == 0)
			o->block = true;
		else if (strcmp(o->value, "welcome") != 0 &&
		    strcmp(o->value, "welcomelist") != 0)
			return fail(l, v, "list must be \"block\" or "
			    "\"welcome\"");
		return 0;
	case POLICY_O_LDAP_USER:
	case POLICY_O_LDAP_GROUP:
		return 0;
	case POLICY_O_HEADER:
		o->field = o->value;
		o->value = NULL;
		if (strlen(o->field) > POLICY_FIELD_MAX ||
		    strpbrk(o->field, ": \t") != NULL)
			return fail(l, v, "bad header field name \"%s\"",
			    o->field);
		if (get_str(l, s, "value", POLICY_REGEX_MAX, true,
		    &o->value) == -1)
			return -1;
		return compile_re(l, config_setting_get_member(s, "value"),
		    o->value, &o->re);
	case POLICY_O_CONTENT_TYPE:
		if (get_str(l, s, "source", 16, false, &src) == -1)
			return -1;
		if (src == NULL || strcmp(src, "any") == 0)
			o->source = POLICY_SRC_ANY;
		else if (strcmp(src, "declared") == 0)
			o->source = POLICY_SRC_DECLARED;
		else if (strcmp(src, "sniffed") == 0)
			o->source = POLICY_SRC_SNIFFED;
		else {
			free(src);
			return fail(l, config_setting_get_member(s, "source"),
			    "source must be any, declared or sniffed");
		}
		free(src);
		return compile_re(l, v, o->value, &o->re);
	default:		/* regex, filename, archive_* */
		return compile_re(l, v, o->value, &o->re);
	}
}

static void
push_group(struct policy *p, struct policy_objgroup *g)
{
	if ((p->ngroups & (p->ngroups - 1)) == 0)
		p->groups = xreallocarray(p->groups, p->ngroups ?
		    p->ngroups * 2 : 8, sizeof *p->groups);
	g->index = p->ngroups;
	p->groups[p->ngroups++] = g;
}

static int
parse_groups(struct loader *l, const config_setting_t *top,
    enum policy_cat cat)
{
	static const char *const keys[] = { "comment", "objects", NULL };
	struct policy_objgroup	*g;
	config_setting_t	*s, *list;
	const char		*name;
	int			 i, n, k, nobj;
	char			 what[96];

	if (config_setting_type(top) != CONFIG_TYPE_GROUP)
		return fail(l, top, "'%s' is a group of named object groups",
		    cat_names[cat]);
	n = config_setting_length(top);
	for (i = 0; i < n; i++) {
		s = config_setting_get_elem(top, (unsigned)i);
		name = config_setting_name(s);
		if (check_name(l, s, name) == -1)
			return -1;
		if (config_setting_type(s) != CONFIG_TYPE_GROUP)
			return fail(l, s, "%s group '%s' must be a group: "
			    "{ objects = ( ... ); }", cat_names[cat], name);
		if (policy_group_find(l->p, cat, name) != NULL)
			return fail(l, s, "%s group '%s' is defined twice",
			    cat_names[cat], name);
		if (l->p->ngroups >= POLICY_ITEMS_MAX)
			return fail(l, s, "more than %d groups",
			    POLICY_ITEMS_MAX);
		snprintf(what, sizeof what, "%s group '%s'", cat_names[cat],
		    name);
		if (check_keys(l, s, keys, what) == -1)
			return -1;
		g = xcalloc(1, sizeof *g);
		g->name = xstrdup(name);
		g->cat = cat;
		g->file = l->file;
		g->line = line_of(s);
		push_group(l->p, g);
		if (get_str(l, s, "comment", POLICY_TEXT_MAX, false,
		    &g->comment) == -1)
			return -1;
		list = config_setting_get_member(s, "objects");
		if (list == NULL)
			continue;	/* an empty group matches nothing */
		if (config_setting_type(list) != CONFIG_TYPE_LIST)
			return fail(l, list, "objects must be a list: "
			    "( { ... }, { ... } )");
		nobj = config_setting_length(list);
		if (nobj > POLICY_ITEMS_MAX)
			return fail(l, list, "more than %d objects",
			    POLICY_ITEMS_MAX);
		g->objs = xcalloc((size_t)nobj + 1, sizeof *g->objs);
		for (k = 0; k < nobj; k++) {
			if (parse_object(l, config_setting_get_elem(list,
			    (unsigned)k), cat, &g->objs[k]) == -1) {
				/* The half-parsed object is freed too. */
				g->nobjs = (size_t)k + 1;
				return -1;
			}
			g->nobjs = (size_t)k + 1;
		}
	}
	return 0;
}

static int
parse_notify_to(struct loader *l, const config_setting_t *s,
    struct policy_action *a)
{
	char	*to;

	if (get_str(l, s, "to", POLICY_PATTERN_MAX, false, &to) == -1)
		return -1;
	if (to == NULL || strcmp(to, "admin") == 0)
		a->to = POLICY_TO_ADMIN;
	else if (strcmp(to, "sender") == 0)
		a->to = POLICY_TO_SENDER;
	else if (strcmp(to, "recipients") == 0)
		a->to = POLICY_TO_RCPTS;
	else if (strchr(to, '@') != NULL && strpbrk(to, " <>\t") == NULL) {
		a->to = POLICY_TO_ADDRESS;
		a->addr = to;
		return 0;
	} else {
		fail(l, config_setting_get_member(s, "to"), "to must be admin, "
		    "sender, recipients or an address");
		free(to);
		return -1;
	}
	free(to);
	return 0;
}

static int
check_template(struct loader *l, const config_setting_t *s, const char *key,
    const char *text)
{
	char	*why = NULL;

	if (text == NULL || policy_template_check(text, &why) == 0)
		return 0;
	fail(l, config_setting_get_member(s, key), "%s", why);
	free(why);
	return -1;
}

static int
parse_action_params(struct loader *l, const config_setting_t *s,
    struct policy_action *a)
{
	static const char *const k_none[] = { "type", "comment", NULL };
	static const char *const k_quar[] = { "type", "comment", "kind",
	    NULL };
	static const char *const k_notify[] = { "type", "comment", "to",
	    "subject", "body", NULL };
	static const char *const k_header[] = { "type", "comment", "field",
	    "value", NULL };
	static const char *const k_remove[] = { "type", "comment", "all",
	    "quarantine", "text", NULL };
	static const char *const k_bcc[] = { "type", "comment", "to",
	    "original", NULL };
	static const char *const k_disc[] = { "type", "comment", "text",
	    "html", NULL };
	char			 what[96];
	char			*kind = NULL;
	enum quar_type		 qt;

	snprintf(what, sizeof what, "action '%s'", a->name);
	a->quar_type = -1;
	switch (a->type) {
	case POLICY_A_ACCEPT:
	case POLICY_A_BLOCK:
		return check_keys(l, s, k_none, what);
	case POLICY_A_QUARANTINE:
		if (check_keys(l, s, k_quar, what) == -1 ||
		    get_str(l, s, "kind", 16, false, &kind) == -1)
			return -1;
		if (kind != NULL && quar_type_parse(kind, &qt) == -1) {
			free(kind);
			return fail(l, config_setting_get_member(s, "kind"),
			    "kind must be spam, virus or attachment");
		}
		if (kind != NULL)
			a->quar_type = (int)qt;
		free(kind);
		return 0;
	case POLICY_A_NOTIFY:
		if (check_keys(l, s, k_notify, what) == -1 ||
		    parse_notify_to(l, s, a) == -1 ||
		    get_str(l, s, "subject", POLICY_VALUE_MAX, false,
		    &a->subject) == -1 ||
		    get_str(l, s, "body", POLICY_TEXT_MAX, false,
		    &a->text) == -1 ||
		    check_template(l, s, "subject", a->subject) == -1 ||
		    check_template(l, s, "body", a->text) == -1)
			return -1;
		return 0;
	case POLICY_A_ADD_HEADER:
	case POLICY_A_MODIFY_HEADER:
	case POLICY_A_REMOVE_HEADER:
		if (check_keys(l, s, k_header, what) == -1 ||
		    get_str(l, s, "field", POLICY_FIELD_MAX, true,
		    &a->field) == -1)
			return -1;
		if (strpbrk(a->field, ": \t\r\n") != NULL)
			return fail(l, config_setting_get_member(s, "field"),
			    "bad header field name \"%s\"", a->field);
		if (a->type == POLICY_A_REMOVE_HEADER) {
			if (config_setting_get_member(s, "value") != NULL)
				return fail(l, s, "remove_header has no "
				    "value");
			return 0;
		}
		if (get_str(l, s, "value", POLICY_VALUE_MAX, true,
		    &a->value) == -1 ||
		    check_template(l, s, "value", a->value) == -1)
			return -1;
		if (strpbrk(a->value, "\r\n") != NULL)
			return fail(l, config_setting_get_member(s, "value"),
			    "a header value is one line");
		return 0;
	case POLICY_A_REMOVE_ATTACHMENTS:
		if (check_keys(l, s, k_remove, what) == -1 ||
		    get_bool(l, s, "all", false, &a->all) == -1 ||
		    get_bool(l, s, "quarantine", false, &a->quarantine) == -1 ||
		    get_str(l, s, "text", POLICY_TEXT_MAX, false,
		    &a->text) == -1 ||
		    check_template(l, s, "text", a->text) == -1)
			return -1;
		return 0;
	case POLICY_A_BCC:
		if (check_keys(l, s, k_bcc, what) == -1 ||
		    get_str(l, s, "to", POLICY_PATTERN_MAX, true,
		    &a->addr) == -1 ||
		    get_bool(l, s, "original", false, &a->original) == -1)
			return -1;
		if (strchr(a->addr, '@') == NULL ||
		    strpbrk(a->addr, " <>\t\r\n") != NULL)
			return fail(l, config_setting_get_member(s, "to"),
			    "bad address \"%s\"", a->addr);
		return 0;
	case POLICY_A_DISCLAIMER:
		if (check_keys(l, s, k_disc, what) == -1 ||
		    get_str(l, s, "text", POLICY_TEXT_MAX, false,
		    &a->text) == -1 ||
		    get_str(l, s, "html", POLICY_TEXT_MAX, false,
		    &a->html) == -1)
			return -1;
		if (a->text == NULL && a->html == NULL)
			return fail(l, s, "a disclaimer has text, html or "
			    "both");
		return 0;
	default:
		return fail(l, s, "unknown action type");
	}
}

static int
parse_actions(struct loader *l, const config_setting_t *top)
{
	struct policy_action	*a;
	struct policy		*p = l->p;
	config_setting_t	*s;
	const char		*name;
	char			*type = NULL;
	int			 i, n, t;

	if (config_setting_type(top) != CONFIG_TYPE_GROUP)
		return fail(l, top, "'actions' is a group of named actions");
	n = config_setting_length(top);
	for (i = 0; i < n; i++) {
		s = config_setting_get_elem(top, (unsigned)i);
		name = config_setting_name(s);
		if (check_name(l, s, name) == -1)
			return -1;
		if (config_setting_type(s) != CONFIG_TYPE_GROUP)
			return fail(l, s, "action '%s' must be a group: "
			    "{ type = ...; }", name);
		if (action_find(p, name) != NULL)
			return fail(l, s, "action '%s' is defined twice", name);
		if (p->nactions >= POLICY_ITEMS_MAX)
			return fail(l, s, "more than %d actions",
			    POLICY_ITEMS_MAX);
		if (get_str(l, s, "type", 32, true, &type) == -1)
			return -1;
		for (t = 0; t < POLICY_A_MAX; t++)
			if (strcmp(atype_names[t], type) == 0)
				break;
		if (t == POLICY_A_MAX) {
			fail(l, config_setting_get_member(s, "type"),
			    "unknown action type \"%s\"", type);
			free(type);
			return -1;
		}
		free(type);
		a = xcalloc(1, sizeof *a);
		a->name = xstrdup(name);
		a->type = (enum policy_atype)t;
		a->file = l->file;
		a->line = line_of(s);
		if ((p->nactions & (p->nactions - 1)) == 0)
			p->actions = xreallocarray(p->actions, p->nactions ?
			    p->nactions * 2 : 8, sizeof *p->actions);
		p->actions[p->nactions++] = a;
		if (get_str(l, s, "comment", POLICY_TEXT_MAX, false,
		    &a->comment) == -1 || parse_action_params(l, s, a) == -1)
			return -1;
	}
	return 0;
}

static bool
is_final(enum policy_atype t)
{
	return t == POLICY_A_ACCEPT || t == POLICY_A_BLOCK ||
	    t == POLICY_A_QUARANTINE;
}

static int
parse_refs(struct loader *l, const config_setting_t *s, struct policy_rule *r,
    enum policy_field f)
{
	static const enum policy_cat cats[POLICY_F_MAX] = {
		[POLICY_F_FROM] = POLICY_WHO,
		[POLICY_F_TO] = POLICY_WHO,
		[POLICY_F_WHAT] = POLICY_WHAT,
		[POLICY_F_WHEN] = POLICY_WHEN,
	};
	config_setting_t		*list, *e;
	const struct policy_objgroup	*g;
	const char			*name;
	int				 i, n, type;

	list = config_setting_get_member(s, field_names[f]);
	if (list == NULL)
		return 0;
	type = config_setting_type(list);
	if (type == CONFIG_TYPE_STRING)
		n = 1;
	else if (type == CONFIG_TYPE_ARRAY || type == CONFIG_TYPE_LIST)
		n = config_setting_length(list);
	else
		return fail(l, list, "'%s' is a list of %s group names",
		    field_names[f], cat_names[cats[f]]);
	if (n > POLICY_ITEMS_MAX)
		return fail(l, list, "too many groups");
	r->refs[f] = xcalloc((size_t)n + 1, sizeof *r->refs[f]);
	for (i = 0; i < n; i++) {
		e = type == CONFIG_TYPE_STRING ? list :
		    config_setting_get_elem(list, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return fail(l, e, "'%s' is a list of group names",
			    field_names[f]);
		name = config_setting_get_string(e);
		r->refs[f][i].invert = name[0] == '!';
		if (name[0] == '!')
			name++;
		if ((g = policy_group_find(l->p, cats[f], name)) == NULL)
			return fail(l, e, "rule '%s': no %s group '%s'",
			    r->name, cat_names[cats[f]], name);
		r->refs[f][i].group = g;
		r->nrefs[f]++;
	}
	return 0;
}

static int
parse_rule_actions(struct loader *l, const config_setting_t *s,
    struct policy_rule *r)
{
	config_setting_t		*list, *e;
	const struct policy_action	*a;
	int				 i, n, type, finals = 0;

	list = config_setting_get_member(s, "action");
	if (list == NULL)
		return fail(l, s, "rule '%s' has no action", r->name);
	type = config_setting_type(list);
	if (type == CONFIG_TYPE_STRING)
		n = 1;
	else if (type == CONFIG_TYPE_ARRAY || type == CONFIG_TYPE_LIST)
		n = config_setting_length(list);
	else
		return fail(l, list, "'action' is a list of action names");
	if (n == 0)
		return fail(l, list, "rule '%s' has no action", r->name);
	if (n > 64)
		return fail(l, list, "too many actions");
	r->actions = xcalloc((size_t)n, sizeof *r->actions);
	for (i = 0; i < n; i++) {
		e = type == CONFIG_TYPE_STRING ? list :
		    config_setting_get_elem(list, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return fail(l, e, "'action' is a list of action names");
		if ((a = action_find(l->p, config_setting_get_string(e))) ==
		    NULL)
			return fail(l, e, "rule '%s': no action '%s'", r->name,
			    config_setting_get_string(e));
		if (is_final(a->type) && finals++ > 0)
			return fail(l, e, "rule '%s' has more than one final "
			    "action (accept, block, quarantine)", r->name);
		r->actions[r->nactions++] = a;
	}
	return 0;
}

static int
parse_rules(struct loader *l, const config_setting_t *top)
{
	static const char *const keys[] = { "comment", "priority", "active",
	    "direction", "from", "to", "what", "when", "action", NULL };
	struct policy_rule	*r;
	struct policy		*p = l->p;
	config_setting_t	*s, *e;
	const char		*name;
	char			*dir = NULL, what[96];
	int			 i, n, f;

	if (config_setting_type(top) != CONFIG_TYPE_GROUP)
		return fail(l, top, "'rules' is a group of named rules");
	n = config_setting_length(top);
	for (i = 0; i < n; i++) {
		s = config_setting_get_elem(top, (unsigned)i);
		name = config_setting_name(s);
		if (check_name(l, s, name) == -1)
			return -1;
		if (config_setting_type(s) != CONFIG_TYPE_GROUP)
			return fail(l, s, "rule '%s' must be a group", name);
		if (policy_rule_find(p, name) != NULL)
			return fail(l, s, "rule '%s' is defined twice", name);
		if (p->nrules >= POLICY_ITEMS_MAX)
			return fail(l, s, "more than %d rules",
			    POLICY_ITEMS_MAX);
		snprintf(what, sizeof what, "rule '%s'", name);
		if (check_keys(l, s, keys, what) == -1)
			return -1;
		r = xcalloc(1, sizeof *r);
		r->name = xstrdup(name);
		r->file = l->file;
		r->line = line_of(s);
		r->order = l->order++;
		r->priority = 50;
		if ((p->nrules & (p->nrules - 1)) == 0)
			p->rules = xreallocarray(p->rules, p->nrules ?
			    p->nrules * 2 : 8, sizeof *p->rules);
		p->rules[p->nrules++] = r;

		if (get_str(l, s, "comment", POLICY_TEXT_MAX, false,
		    &r->comment) == -1 ||
		    get_bool(l, s, "active", true, &r->active) == -1)
			return -1;
		if ((e = config_setting_get_member(s, "priority")) != NULL) {
			if (config_setting_type(e) != CONFIG_TYPE_INT ||
			    config_setting_get_int(e) < 0 ||
			    config_setting_get_int(e) > 100)
				return fail(l, e, "priority must be 0 to 100");
			r->priority = config_setting_get_int(e);
		}
		if (get_str(l, s, "direction", 16, false, &dir) == -1)
			return -1;
		if (dir == NULL || strcmp(dir, "both") == 0)
			r->dirs = POLICY_DIR_IN | POLICY_DIR_OUT;
		else if (strcmp(dir, "in") == 0 || strcmp(dir, "inbound") == 0)
			r->dirs = POLICY_DIR_IN;
		else if (strcmp(dir, "out") == 0 ||
		    strcmp(dir, "outbound") == 0)
			r->dirs = POLICY_DIR_OUT;
		else {
			free(dir);
			return fail(l, config_setting_get_member(s,
			    "direction"), "direction must be in, out or both");
		}
		free(dir);
		for (f = 0; f < POLICY_F_MAX; f++)
			if (parse_refs(l, s, r, (enum policy_field)f) == -1)
				return -1;
		if (parse_rule_actions(l, s, r) == -1)
			return -1;
	}
	return 0;
}

/* Read path (or use text) into a libconfig tree. */
static config_t *
read_conf(struct loader *l, const char *text)
{
	config_t	*conf;
	char		*data = NULL;
	struct stat	 sb;
	ssize_t		 n;
	size_t		 got = 0;
	int		 fd;

	if (text == NULL) {
		if ((fd = open(l->path, O_RDONLY | O_CLOEXEC)) == -1) {
			xasprintf(&l->cause, "%s: %s", l->path,
			    strerror(errno));
			return NULL;
		}
		if (fstat(fd, &sb) == -1 || sb.st_size > POLICY_FILE_MAX) {
			xasprintf(&l->cause, "%s: %s", l->path, sb.st_size >
			    POLICY_FILE_MAX ? "file too large" :
			    strerror(errno));
			close(fd);
			return NULL;
		}
		data = xmalloc((size_t)sb.st_size + 1);
		while (got < (size_t)sb.st_size) {
			n = read(fd, data + got, (size_t)sb.st_size - got);
			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		close(fd);
		data[got] = '\0';
		text = data;
	} else if (strlen(text) > POLICY_FILE_MAX) {
		xasprintf(&l->cause, "%s: file too large", l->path);
		return NULL;
	}
	conf = xcalloc(1, sizeof *conf);
	config_init(conf);
	config_set_include_dir(conf, l->p->dir);
	if (config_read_string(conf, text) != CONFIG_TRUE) {
		xasprintf(&l->cause, "%s:%d: %s", l->path,
		    config_error_line(conf), config_error_text(conf));
		config_destroy(conf);
		free(conf);
		conf = NULL;
	}
	free(data);
	return conf;
}

static int
rule_cmp(const void *a, const void *b)
{
	const struct policy_rule	*x = *(const struct policy_rule *const *)a;
	const struct policy_rule	*y = *(const struct policy_rule *const *)b;

	if (x->priority != y->priority)
		return y->priority - x->priority;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.conf files of the folder in name order; ENOENT: none. */
static int
list_files(struct loader *l, char ***out, size_t *n)
{
	DIR		*d;
	struct dirent	*de;
	size_t		 len;
	char		**v = NULL;

	*out = NULL;
	*n = 0;
	if ((d = opendir(l->p->dir)) == NULL) {
		if (errno == ENOENT)
			return 0;
		xasprintf(&l->cause, "%s: %s", l->p->dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len < 6 ||
		    strcmp(de->d_name + len - 5, ".conf") != 0)
			continue;
		if (*n >= POLICY_FILES_MAX) {
			xasprintf(&l->cause, "%s: more than %d rule files",
			    l->p->dir, POLICY_FILES_MAX);
			break;
		}
		v = xreallocarray(v, *n + 1, sizeof *v);
		v[(*n)++] = xstrdup(de->d_name);
	}
	closedir(d);
	qsort(v, *n, sizeof *v, name_cmp);
	*out = v;
	return l->cause != NULL ? -1 : 0;
}

/* The policy = { } section of the configuration. */
static int
load_settings(const struct cfg *c, struct policy *p, char **cause)
{
	static const char *const keys[] = { "admin", "notify_from",
	    "blocklist_score", NULL };
	config_setting_t	*s = cfg_section(c, "policy");
	const char		*dom;
	char			*def;

	p->hostname = xstrdup(c->hostname != NULL ? c->hostname : "localhost");
	dom = c->nlocal_domains > 0 ? c->local_domains[0] : p->hostname;
	xasprintf(&def, "postmaster@%s", dom);
	if (cfg_check_keys(c, s, keys, cause) == -1 ||
	    cfg_get_str(c, s, "admin", def, &p->admin, cause) == -1 ||
	    cfg_get_str(c, s, "notify_from", def, &p->notify_from,
	    cause) == -1 ||
	    cfg_get_float(c, s, "blocklist_score", 100.0, &p->blocklist_score,
	    cause) == -1) {
		free(def);
		return -1;
	}
	free(def);
	return 0;
}

struct policy *
policy_load_override(const struct cfg *c, const char *opath, const char *otext,
    char **cause)
{
	struct loader		 l;
	struct policy		*p;
	config_t		**confs;
	config_setting_t	*root, *e;
	char			**names = NULL;
	size_t			 i, n = 0;
	int			 k, cat, rv = -1;
	static const char *const top_keys[] = { "who", "what", "when",
	    "actions", "rules", NULL };

	memset(&l, 0, sizeof l);
	p = l.p = xcalloc(1, sizeof *p);
	p->refs = 1;
	xasprintf(&p->dir, "%s/%s", c->rules_dir, POLICY_SUBDIR);
	if (load_settings(c, p, cause) == -1) {
		policy_free(p);
		return NULL;
	}
	if (list_files(&l, &names, &n) == -1)
		goto out;
	/* An override may name a file that does not exist yet. */
	if (opath != NULL) {
		for (i = 0; i < n; i++) {
			char *full;

			xasprintf(&full, "%s/%s", p->dir, names[i]);
			k = strcmp(full, opath);
			free(full);
			if (k == 0)
				break;
		}
		if (i == n) {
			const char *base = strrchr(opath, '/');

			names = xreallocarray(names, n + 1, sizeof *names);
			names[n++] = xstrdup(base != NULL ? base + 1 : opath);
			qsort(names, n, sizeof *names, name_cmp);
		}
	}
	p->files = xcalloc(n + 1, sizeof *p->files);
	confs = xcalloc(n + 1, sizeof *confs);
	for (i = 0; i < n; i++) {
		p->files[i].name = names[i];
		names[i] = NULL;
		xasprintf(&p->files[i].path, "%s/%s", p->dir, p->files[i].name);
		p->nfiles++;
	}
	/* Objects and actions of every file first: rules may use any. */
	for (i = 0; i < p->nfiles; i++) {
		l.file = &p->files[i];
		l.path = l.file->path;
		confs[i] = read_conf(&l, opath != NULL &&
		    strcmp(opath, l.path) == 0 ? otext : NULL);
		if (confs[i] == NULL)
			goto done;
		root = config_root_setting(confs[i]);
		if (check_keys(&l, root, top_keys, "a rule file") == -1)
			goto done;
		for (cat = 0; cat < POLICY_CAT_MAX; cat++) {
			e = config_setting_get_member(root, cat_names[cat]);
			if (e != NULL && parse_groups(&l, e,
			    (enum policy_cat)cat) == -1)
				goto done;
		}
		e = config_setting_get_member(root, "actions");
		if (e != NULL && parse_actions(&l, e) == -1)
			goto done;
	}
	for (i = 0; i < p->nfiles; i++) {
		l.file = &p->files[i];
		l.path = l.file->path;
		e = config_setting_get_member(config_root_setting(confs[i]),
		    "rules");
		if (e != NULL && parse_rules(&l, e) == -1)
			goto done;
	}
	if (p->nrules > 0)
		qsort(p->rules, p->nrules, sizeof *p->rules, rule_cmp);
	rv = 0;
done:
	for (i = 0; i < p->nfiles; i++) {
		if (confs[i] != NULL) {
			config_destroy(confs[i]);
			free(confs[i]);
		}
	}
	free(confs);
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (rv == -1) {
		*cause = l.cause != NULL ? l.cause : xstrdup("policy: failed");
		policy_free(p);
		return NULL;
	}
	return p;
}

struct policy *
policy_load(const struct cfg *c, char **cause)
{
	struct policy	*p;

	if ((p = policy_load_override(c, NULL, NULL, cause)) != NULL)
		log_debug("policy: %zu rules, %zu groups, %zu actions from %zu "
		    "files in %s", p->nrules, p->ngroups, p->nactions,
		    p->nfiles, p->dir);
	return p;
}
