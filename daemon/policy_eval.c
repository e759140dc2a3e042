/*
 * Rule evaluation: which rules match a message for each recipient, the
 * final action and the accumulated ones, and recipients grouped by equal
 * outcome. Also the sender lists snapshot the evaluation reads.
 * Worker threads (any number at once: the policy is read-only); a result
 * belongs to the job that asked for it.
 */
#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "attach.h"
#include "body.h"
#include "ldapdir.h"
#include "log.h"
#include "policy.h"
#include "xmalloc.h"

/* --- sender lists ------------------------------------------------------- */

struct policy_lists {
	int				 refs;	/* atomic */
	struct policy_list_entry	*v;	/* sorted by owner, block */
	size_t				 n;
};

static pthread_mutex_t		 lists_lock = PTHREAD_MUTEX_INITIALIZER;
static struct policy_lists	*lists_current;

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct policy_list_entry	*x = a, *y = b;
	int				 c;

	if ((c = strcmp(x->owner, y->owner)) != 0)
		return c;
	return (int)x->block - (int)y->block;
}

struct policy_lists *
policy_lists_new(struct policy_list_entry *v, size_t n)
{
	struct policy_lists	*l;
	size_t			 i;

	l = xcalloc(1, sizeof *l);
	l->refs = 1;
	l->v = v;
	l->n = n;
	for (i = 0; i < n; i++) {
		lower(v[i].owner);
		lower(v[i].pattern);
	}
	if (n > 0)
		qsort(v, n, sizeof *v, entry_cmp);
	return l;
}

struct policy_lists *
policy_lists_ref(struct policy_lists *l)
{
	if (l != NULL)
		__atomic_add_fetch(&l->refs, 1, __ATOMIC_RELAXED);
	return l;
}

void
policy_lists_unref(struct policy_lists *l)
{
	size_t	i;

	if (l == NULL || __atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	for (i = 0; i < l->n; i++) {
		free(l->v[i].owner);
		free(l->v[i].pattern);
	}
	free(l->v);
	free(l);
}

struct policy_lists *
policy_lists_get(void)
{
	struct policy_lists	*l;

	pthread_mutex_lock(&lists_lock);
	l = policy_lists_ref(lists_current);
	pthread_mutex_unlock(&lists_lock);
	return l;
}

void
policy_lists_set(struct policy_lists *l)
{
	struct policy_lists	*old;

	pthread_mutex_lock(&lists_lock);
	old = lists_current;
	lists_current = l;
	pthread_mutex_unlock(&lists_lock);
	policy_lists_unref(old);
}

static const char *
domain_of(const char *addr)
{
	const char	*at = strrchr(addr, '@');

	return at != NULL ? at + 1 : NULL;
}

/* "example.com" the domain; "*.example.com" or ".example.com" its
 * subdomains. */
static bool
domain_match(const char *pattern, const char *addr)
{
	const char	*dom = domain_of(addr), *suffix;
	size_t		 dl, sl;

	if (dom == NULL || *dom == '\0')
		return false;
	if (pattern[0] == '*' && pattern[1] == '.')
		suffix = pattern + 1;
	else if (pattern[0] == '.')
		suffix = pattern;
	else
		return strcasecmp(pattern, dom) == 0;
	dl = strlen(dom);
	sl = strlen(suffix);
	return dl > sl && strcasecmp(dom + dl - sl, suffix) == 0;
}

bool
policy_list_pattern_match(const char *pattern, const char *addr)
{
	if (strchr(pattern, '@') != NULL)
		return fnmatch(pattern, addr, FNM_CASEFOLD) == 0;
	return domain_match(pattern, addr);
}

int
policy_list_pattern_check(const char *s, char **cause)
{
	size_t	len = strlen(s);

	if (len == 0 || len > POLICY_PATTERN_MAX) {
		xasprintf(cause, "a pattern has 1 to %d bytes",
		    POLICY_PATTERN_MAX);
		return -1;
	}
	if (strpbrk(s, " \t\r\n<>\"") != NULL ||
	    (strchr(s, '@') == NULL && strchr(s, '.') == NULL)) {
		xasprintf(cause, "\"%.64s\" is not an address, a glob like "
		    "*@example.com, or a domain", s);
		return -1;
	}
	return 0;
}

bool
policy_lists_match(const struct policy_lists *l, const char *owner,
    bool block, const char *addr)
{
	struct policy_list_entry	 key;
	size_t				 lo = 0, hi, mid, i;
	char				*o;
	int				 c;

	if (l == NULL || l->n == 0 || addr == NULL || *addr == '\0')
		return false;
	o = xstrdup(owner);
	lower(o);
	key.owner = o;
	key.block = block;
	/* The first entry not before (owner, block). */
	hi = l->n;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (entry_cmp(&l->v[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	c = 0;
	for (i = lo; i < l->n && entry_cmp(&l->v[i], &key) == 0; i++) {
		if (policy_list_pattern_match(l->v[i].pattern, addr)) {
			c = 1;
			break;
		}
	}
	free(o);
	return c;
}

/* --- matching -------------------------------------------------------------- */

enum { UNKNOWN = -1 };

struct eval {
	const struct policy		*p;
	const struct policy_input	*in;
	const struct policy_lists	*lists;
	pcre2_match_data		*md;
	pcre2_match_context		*mc;
	signed char			*from_state;	/* per group */
	signed char			*what_state;	/* without scores */
	signed char			*when_state;
	struct policy_parts		*what_parts;
	int				 wday;
	int				 minute;
};

static bool
re_match(struct eval *ev, const void *re, const char *s)
{
	int	rc;

	if (re == NULL || s == NULL)
		return false;
	rc = pcre2_match(re, (PCRE2_SPTR)s, strlen(s), 0, 0, ev->md, ev->mc);
	/* Errors (match limit) count as no match, logged once per call. */
	if (rc < -1)
		log_debug("policy: regex match error %d", rc);
	return rc >= 0;
}

static void
parts_set(struct policy_parts *ps, size_t i)
{
	if (i < MSG_PARTS_MAX)
		ps->bits[i / 64] |= UINT64_C(1) << (i % 64);
}

static void
parts_or(struct policy_parts *a, const struct policy_parts *b)
{
	size_t	i;

	for (i = 0; i < POLICY_PARTS_WORDS; i++)
		a->bits[i] |= b->bits[i];
}

static bool
parts_empty(const struct policy_parts *ps)
{
	size_t	i;

	for (i = 0; i < POLICY_PARTS_WORDS; i++)
		if (ps->bits[i] != 0)
			return false;
	return true;
}

/* A who object against one address (and the client for ip objects). */
static bool
who_obj(struct eval *ev, const struct policy_obj *o, const char *addr,
    const char *ip)
{
	switch (o->kind) {
	case POLICY_O_EMAIL:
		return addr != NULL && *addr != '\0' &&
		    fnmatch(o->value, addr, FNM_CASEFOLD) == 0;
	case POLICY_O_DOMAIN:
		return addr != NULL && domain_match(o->value, addr);
	case POLICY_O_REGEX:
		return addr != NULL && re_match(ev, o->re, addr);
	case POLICY_O_IP:
		return ip != NULL && cfg_net_match(&o->net, 1, ip);
	case POLICY_O_LIST:
		return addr != NULL && policy_lists_match(ev->lists, "",
		    o->block, addr);
	case POLICY_O_LDAP_USER:
		return addr != NULL && ldapdir_user_known(o->value, addr);
	case POLICY_O_LDAP_GROUP:
		return addr != NULL && ldapdir_policy_group(o->value, addr);
	default:
		return false;
	}
}

static bool
who_group(struct eval *ev, const struct policy_objgroup *g, const char *addr,
    const char *addr2, const char *ip)
{
	size_t	i;

	for (i = 0; i < g->nobjs; i++) {
		if (who_obj(ev, &g->objs[i], addr, ip))
			return true;
		if (addr2 != NULL && g->objs[i].kind != POLICY_O_IP &&
		    who_obj(ev, &g->objs[i], addr2, NULL))
			return true;
	}
	return false;
}

/* The sender side: the envelope sender, the From: address, the client. */
static bool
from_group(struct eval *ev, const struct policy_objgroup *g)
{
	const struct policy_input	*in = ev->in;
	const char			*hdr = NULL;

	if (ev->from_state[g->index] != UNKNOWN)
		return ev->from_state[g->index];
	if (in->msg != NULL && in->msg->from_addr != NULL &&
	    strcasecmp(in->msg->from_addr, in->sender) != 0)
		hdr = in->msg->from_addr;
	ev->from_state[g->index] = who_group(ev, g, in->sender, hdr,
	    in->client_addr);
	return ev->from_state[g->index];
}

static bool
content_type_obj(struct eval *ev, const struct policy_obj *o,
    struct policy_parts *ps)
{
	const struct msg	*m = ev->in->msg;
	size_t			 i;
	bool			 hit = false, d, s;

	for (i = 0; m != NULL && i < m->nparts; i++) {
		d = o->source != POLICY_SRC_SNIFFED &&
		    re_match(ev, o->re, m->parts[i].content_type);
		s = o->source != POLICY_SRC_DECLARED &&
		    re_match(ev, o->re, m->parts[i].sniffed_type);
		if (d || s) {
			parts_set(ps, (size_t)m->parts[i].index);
			hit = true;
		}
	}
	return hit;
}

/* One what object that does not depend on the recipient. */
static bool
what_obj(struct eval *ev, const struct policy_obj *o, struct policy_parts *ps)
{
	const struct policy_input	*in = ev->in;
	const struct msg		*m = in->msg;
	const struct attach_member	*mem;
	size_t				 i;
	bool				 hit = false;

	switch (o->kind) {
	case POLICY_O_VIRUS:
		return in->findings != NULL && in->findings->virus != NULL;
	case POLICY_O_CONTENT_TYPE:
		return content_type_obj(ev, o, ps);
	case POLICY_O_FILENAME:
		for (i = 0; m != NULL && i < m->nparts; i++) {
			if (re_match(ev, o->re, m->parts[i].filename)) {
				parts_set(ps, (size_t)m->parts[i].index);
				hit = true;
			}
		}
		return hit;
	case POLICY_O_ARCHIVE_TYPE:
	case POLICY_O_ARCHIVE_NAME:
		for (i = 0; in->attach != NULL && i < in->attach->nmembers;
		    i++) {
			mem = &in->attach->members[i];
			if (re_match(ev, o->re, o->kind ==
			    POLICY_O_ARCHIVE_TYPE ? mem->type : mem->name)) {
				if (mem->part >= 0)
					parts_set(ps, (size_t)mem->part);
				hit = true;
			}
		}
		return hit;
	case POLICY_O_HEADER:
		for (i = 0; m != NULL && i < m->nheaders; i++)
			if (strcasecmp(m->headers[i].name, o->field) == 0 &&
			    re_match(ev, o->re, m->headers[i].value))
				return true;
		return false;
	default:
		return false;
	}
}

/* A what group for one recipient: the cached part that does not depend on
 * the recipient, plus its spam score objects. */
static bool
what_group(struct eval *ev, const struct policy_objgroup *g, double score,
    bool welcome, struct policy_parts *ps)
{
	size_t	i;
	bool	hit;

	if (ev->what_state[g->index] == UNKNOWN) {
		hit = false;
		for (i = 0; i < g->nobjs; i++)
			if (g->objs[i].kind != POLICY_O_SPAM_SCORE &&
			    what_obj(ev, &g->objs[i],
			    &ev->what_parts[g->index]))
				hit = true;
		ev->what_state[g->index] = hit;
	}
	hit = ev->what_state[g->index];
	if (hit)
		parts_or(ps, &ev->what_parts[g->index]);
	for (i = 0; !hit && !welcome && i < g->nobjs; i++)
		if (g->objs[i].kind == POLICY_O_SPAM_SCORE &&
		    score >= g->objs[i].score)
			hit = true;
	return hit;
}

static bool
timeframe(const struct eval *ev, const struct policy_obj *o)
{
	int	prev = (ev->wday + 6) % 7;

	if (o->start_min < o->end_min)
		return (o->days & (1u << ev->wday)) &&
		    ev->minute >= o->start_min && ev->minute < o->end_min;
	/* Overnight: the evening of a listed day, the morning after it. */
	return ((o->days & (1u << ev->wday)) && ev->minute >= o->start_min) ||
	    ((o->days & (1u << prev)) && ev->minute < o->end_min);
}

static bool
when_group(struct eval *ev, const struct policy_objgroup *g)
{
	size_t	i;

	if (ev->when_state[g->index] == UNKNOWN) {
		ev->when_state[g->index] = 0;
		for (i = 0; i < g->nobjs; i++)
			if (timeframe(ev, &g->objs[i]))
				ev->when_state[g->index] = 1;
	}
	return ev->when_state[g->index];
}

struct rcpt_ctx {
	const char		*addr;
	double			 score;
	bool			 welcome;
	struct policy_parts	 parts;		/* the rule's what marks */
};

/* Does rule r match for this recipient? OR within a field, AND across. */
static bool
rule_match(struct eval *ev, const struct policy_rule *r, struct rcpt_ctx *rc)
{
	const struct policy_ref	*ref;
	struct policy_parts	 ps;
	size_t			 i;
	bool			 any, m;
	int			 f;

	memset(&rc->parts, 0, sizeof rc->parts);
	for (f = 0; f < POLICY_F_MAX; f++) {
		if (r->nrefs[f] == 0)
			continue;
		any = false;
		for (i = 0; i < r->nrefs[f]; i++) {
			ref = &r->refs[f][i];
			memset(&ps, 0, sizeof ps);
			switch (f) {
			case POLICY_F_FROM:
				m = from_group(ev, ref->group);
				break;
			case POLICY_F_TO:
				m = who_group(ev, ref->group, rc->addr, NULL,
				    NULL);
				break;
			case POLICY_F_WHAT:
				m = what_group(ev, ref->group, rc->score,
				    rc->welcome, &ps);
				break;
			default:
				m = when_group(ev, ref->group);
				break;
			}
			if (ref->invert)
				m = !m;
			else if (m && f == POLICY_F_WHAT)
				parts_or(&rc->parts, &ps);
			/* What keeps looking: every matching group marks
			 * its parts. */
			if (m) {
				any = true;
				if (f != POLICY_F_WHAT)
					break;
			}
		}
		if (!any)
			return false;
	}
	return true;
}

static bool
is_final(enum policy_atype t)
{
	return t == POLICY_A_ACCEPT || t == POLICY_A_BLOCK ||
	    t == POLICY_A_QUARANTINE;
}

static bool
hits_equal(const struct policy_hit *a, size_t na, const struct policy_hit *b,
    size_t nb)
{
	size_t	i;

	if (na != nb)
		return false;
	for (i = 0; i < na; i++)
		if (a[i].action != b[i].action || a[i].rule != b[i].rule ||
		    memcmp(&a[i].parts, &b[i].parts, sizeof a[i].parts) != 0)
			return false;
	return true;
}

/* What one recipient ends with, before it finds its group. */
struct outcome {
	enum policy_final	 final;
	enum quar_type		 quar_type;
	const struct policy_rule *rule;
	struct policy_hit	*hits;
	size_t			 nhits;
};

static void
decide(struct eval *ev, struct rcpt_ctx *rc, struct policy_rcpt *pr,
    struct outcome *oc)
{
	const struct policy		*p = ev->p;
	const struct policy_rule	*r;
	const struct policy_action	*a;
	const struct policy_input	*in = ev->in;
	unsigned			 dir;
	size_t				 i, k;

	dir = in->direction == DIR_OUTBOUND ? POLICY_DIR_OUT : POLICY_DIR_IN;
	memset(oc, 0, sizeof *oc);
	oc->final = POLICY_ACCEPT;
	for (i = 0; i < p->nrules; i++) {
		r = p->rules[i];
		if (!r->active || !(r->dirs & dir) || !rule_match(ev, r, rc))
			continue;
		pr->rules = xreallocarray(pr->rules, pr->nrules + 1,
		    sizeof *pr->rules);
		pr->rules[pr->nrules++] = r->name;
		for (k = 0; k < r->nactions; k++) {
			a = r->actions[k];
			if (!is_final(a->type)) {
				oc->hits = xreallocarray(oc->hits, oc->nhits + 1,
				    sizeof *oc->hits);
				oc->hits[oc->nhits].action = a;
				oc->hits[oc->nhits].rule = r;
				oc->hits[oc->nhits].parts = rc->parts;
				oc->nhits++;
				continue;
			}
			oc->rule = r;
			if (a->type == POLICY_A_ACCEPT)
				oc->final = POLICY_ACCEPT;
			else if (a->type == POLICY_A_BLOCK)
				oc->final = POLICY_BLOCK;
			else {
				oc->final = POLICY_QUARANTINE;
				if (a->quar_type >= 0)
					oc->quar_type =
					    (enum quar_type)a->quar_type;
				else if (in->findings != NULL &&
				    in->findings->virus != NULL)
					oc->quar_type = QUAR_VIRUS;
				else if (!parts_empty(&rc->parts))
					oc->quar_type = QUAR_ATTACHMENT;
				else
					oc->quar_type = QUAR_SPAM;
			}
		}
		if (oc->rule != NULL)
			return;		/* final: later rules do not run */
	}
}

static bool
modifies(const struct policy_hit *h)
{
	switch (h->action->type) {
	case POLICY_A_ADD_HEADER:
	case POLICY_A_MODIFY_HEADER:
	case POLICY_A_REMOVE_HEADER:
	case POLICY_A_DISCLAIMER:
		return true;
	case POLICY_A_REMOVE_ATTACHMENTS:
		return h->action->all || !parts_empty(&h->parts);
	default:
		return false;
	}
}

static size_t
find_group(struct policy_result *res, struct outcome *oc)
{
	struct policy_group	*g;
	size_t			 i;

	for (i = 0; i < res->ngroups; i++) {
		g = &res->groups[i];
		if (g->final == oc->final && g->final_rule == oc->rule &&
		    (g->final != POLICY_QUARANTINE ||
		    g->quar_type == oc->quar_type) &&
		    hits_equal(g->hits, g->nhits, oc->hits, oc->nhits)) {
			free(oc->hits);
			return i;
		}
	}
	res->groups = xreallocarray(res->groups, res->ngroups + 1,
	    sizeof *res->groups);
	g = &res->groups[res->ngroups];
	memset(g, 0, sizeof *g);
	g->final = oc->final;
	g->quar_type = oc->quar_type;
	g->final_rule = oc->rule;
	g->hits = oc->hits;
	g->nhits = oc->nhits;
	for (i = 0; g->final != POLICY_BLOCK && i < g->nhits; i++) {
		if (modifies(&g->hits[i]))
			g->modifies = true;
		if (g->hits[i].action->type == POLICY_A_REMOVE_ATTACHMENTS &&
		    g->hits[i].action->quarantine && modifies(&g->hits[i]))
			g->quarantine_original = true;
	}
	return res->ngroups++;
}

static void
eval_init(struct eval *ev, const struct policy *p,
    const struct policy_input *in)
{
	struct tm	tm;
	time_t		t = (time_t)(in->time_ms / 1000);

	memset(ev, 0, sizeof *ev);
	ev->p = p;
	ev->in = in;
	ev->md = pcre2_match_data_create(1, NULL);
	ev->mc = pcre2_match_context_create(NULL);
	if (ev->md == NULL || ev->mc == NULL)
		fatalx("policy: out of memory");
	pcre2_set_match_limit(ev->mc, POLICY_MATCH_LIMIT);
	ev->from_state = xmalloc(p->ngroups + 1);
	ev->what_state = xmalloc(p->ngroups + 1);
	ev->when_state = xmalloc(p->ngroups + 1);
	memset(ev->from_state, UNKNOWN, p->ngroups + 1);
	memset(ev->what_state, UNKNOWN, p->ngroups + 1);
	memset(ev->when_state, UNKNOWN, p->ngroups + 1);
	ev->what_parts = xcalloc(p->ngroups + 1, sizeof *ev->what_parts);
	localtime_r(&t, &tm);
	ev->wday = tm.tm_wday;
	ev->minute = tm.tm_hour * 60 + tm.tm_min;
}

static void
eval_free(struct eval *ev)
{
	pcre2_match_data_free(ev->md);
	pcre2_match_context_free(ev->mc);
	free(ev->from_state);
	free(ev->what_state);
	free(ev->when_state);
	free(ev->what_parts);
}

bool
policy_wants_msg(const struct policy *p)
{
	size_t	i;

	for (i = 0; p != NULL && i < p->nrules; i++)
		if (p->rules[i]->active)
			return true;
	return false;
}

struct policy_result *
policy_eval(const struct policy *p, const struct policy_input *in)
{
	struct policy_result	*res;
	struct policy_lists	*own = NULL;
	struct eval		 ev;
	struct rcpt_ctx		 rc;
	struct outcome		 oc;
	struct policy_rcpt	*pr;
	struct policy_group	*g;
	size_t			 i, blocked = 0;
	double			 base;

	res = xcalloc(1, sizeof *res);
	res->policy = policy_ref((struct policy *)p);
	res->nrcpts = in->nrcpts;
	res->rcpts = xcalloc(in->nrcpts + 1, sizeof *res->rcpts);
	eval_init(&ev, p, in);
	if ((ev.lists = in->lists) == NULL)
		ev.lists = own = policy_lists_get();
	base = in->findings != NULL ? in->findings->score : 0.0;

	for (i = 0; i < in->nrcpts; i++) {
		pr = &res->rcpts[i];
		memset(&rc, 0, sizeof rc);
		rc.addr = in->rcpts[i];
		rc.score = base;
		pr->welcomelisted = rc.welcome = policy_lists_match(ev.lists,
		    rc.addr, false, in->sender);
		pr->blocklisted = policy_lists_match(ev.lists, rc.addr, true,
		    in->sender);
		if (pr->blocklisted)
			rc.score += p->blocklist_score;
		pr->score = rc.score;
		decide(&ev, &rc, pr, &oc);
		pr->group = find_group(res, &oc);
		g = &res->groups[pr->group];
		g->rcpts = xreallocarray(g->rcpts, g->nrcpts + 1,
		    sizeof *g->rcpts);
		g->rcpts[g->nrcpts++] = i;
		if (g->final == POLICY_BLOCK) {
			if (blocked++ == 0 && g->final_rule != NULL)
				snprintf(res->rule_text, sizeof res->rule_text,
				    "%s", g->final_rule->name);
		}
	}
	res->all_blocked = in->nrcpts > 0 && blocked == in->nrcpts;
	/* A message the scanner could not look at is not decided on. */
	res->tempfail = in->findings != NULL && in->findings->av_failed;
	policy_lists_unref(own);
	eval_free(&ev);
	return res;
}

void
policy_result_free(struct policy_result *res)
{
	size_t	i;

	if (res == NULL)
		return;
	for (i = 0; i < res->nrcpts; i++)
		free(res->rcpts[i].rules);
	free(res->rcpts);
	for (i = 0; i < res->ngroups; i++) {
		free(res->groups[i].hits);
		free(res->groups[i].rcpts);
		body_free(res->groups[i].body);
		free(res->groups[i].removed);
	}
	free(res->groups);
	policy_extras_free(res->extras);
	policy_unref(res->policy);
	free(res);
}

static const char *
final_name(enum policy_final f)
{
	return f == POLICY_BLOCK ? "block" : f == POLICY_QUARANTINE ?
	    "quarantine" : "accept";
}

json_t *
policy_result_to_json(const struct policy_result *res,
    const struct policy_input *in)
{
	const struct policy_group	*g;
	const struct policy_rcpt	*pr;
	json_t				*rcpts, *o, *rules, *acts;
	size_t				 i, k;

	rcpts = json_array();
	for (i = 0; i < res->nrcpts; i++) {
		pr = &res->rcpts[i];
		g = &res->groups[pr->group];
		rules = json_array();
		for (k = 0; k < pr->nrules; k++)
			json_array_append_new(rules,
			    json_string(pr->rules[k]));
		acts = json_array();
		for (k = 0; k < g->nhits; k++)
			json_array_append_new(acts,
			    json_string(g->hits[k].action->name));
		o = json_pack("{s:s, s:s, s:o, s:o, s:f, s:i}", "rcpt",
		    in != NULL && i < in->nrcpts ? in->rcpts[i] : "",
		    "action", final_name(g->final), "rules", rules,
		    "actions", acts, "score", pr->score, "group",
		    (int)pr->group);
		if (g->final == POLICY_QUARANTINE)
			json_object_set_new(o, "quarantine",
			    json_string(quar_type_name(g->quar_type)));
		if (g->final_rule != NULL)
			json_object_set_new(o, "rule",
			    json_string(g->final_rule->name));
		if (pr->welcomelisted)
			json_object_set_new(o, "welcomelisted", json_true());
		if (pr->blocklisted)
			json_object_set_new(o, "blocklisted", json_true());
		json_array_append_new(rcpts, o);
	}
	return json_pack("{s:o, s:i, s:b}", "rcpts", rcpts, "groups",
	    (int)res->ngroups, "all_blocked", res->all_blocked);
}
