/*
 * LDAP / Active Directory: a refresh thread keeps per-profile snapshots of
 * the directory's addresses and groups; RCPT lookups only read memory.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <ldap.h>

#include "cfg.h"
#include "ldapdir.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

#define LDAPDIR_RETRY_MAX_S	30	/* a failed load is retried within */

struct profile {
	char	 *name;
	char	 *uri;
	char	 *base;
	char	 *bind_dn;
	char	 *bind_password;
	char	 *user_filter;
	char	 *login_filter;
	char	 *member_attr;
	char	**mail_attrs;
	size_t	  nmail_attrs;
	char	 *admin_group;
	char	 *qmanager_group;
	char	 *auditor_group;
	int	  refresh;		/* seconds */
	int64_t	  max_stale_ms;
	int	  timeout_ms;
	int	  page_size;		/* paged results (AD: 1000 at most) */

	/* guarded by mu */
	struct ldapdir_snap *snap;
	int64_t	  loaded_ms;		/* wall clock of the last good load */
	uint64_t  next_ms;		/* monotonic: next load */
};

struct sgroup {
	char	 *dn;		/* normalised */
	char	 *cn;		/* lower case first RDN value */
	char	**addrs;	/* sorted */
	size_t	  naddrs;
	char	**dns;		/* sorted normalised member DNs, nested */
	size_t	  ndns;
};

struct ldapdir_snap {
	char		**addrs;	/* sorted, unique */
	size_t		  naddrs;
	struct sgroup	 *groups;
	size_t		  ngroups;
};

static pthread_mutex_t	 mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 cv = PTHREAD_COND_INITIALIZER;
static struct profile	*profs;
static size_t		 nprofs;
static int		 verify_idx = -1;
static int		 login_idx = -1;
static bool		 running, stopping;
static pthread_t	 thread;
static int64_t		(*clock_fn)(void);

static int64_t
now_wall(void)
{
	return clock_fn != NULL ? clock_fn() : util_wall_ms();
}

void
ldapdir_set_clock(int64_t (*fn)(void))
{
	clock_fn = fn;
}

/* --- filters ------------------------------------------------------- */

int
ldapdir_filter_escape(const char *in, char *out, size_t len)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 o = 0;
	const unsigned char	*p;

	for (p = (const unsigned char *)in; *p != '\0'; p++) {
		if (*p == '*' || *p == '(' || *p == ')' || *p == '\\') {
			if (o + 3 >= len)
				return -1;
			out[o++] = '\\';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 0xf];
		} else {
			if (o + 1 >= len)
				return -1;
			out[o++] = (char)*p;
		}
	}
	if (o >= len)
		return -1;
	out[o] = '\0';
	return 0;
}

int
ldapdir_filter_build(const char *tmpl, const char *value, char *out,
    size_t len)
{
	char	 esc[LDAPDIR_FILTER_MAX];
	size_t	 o = 0, elen;

	if (ldapdir_filter_escape(value, esc, sizeof esc) == -1)
		return -1;
	elen = strlen(esc);
	while (*tmpl != '\0') {
		if (tmpl[0] == '%' && tmpl[1] == 's') {
			if (o + elen >= len)
				return -1;
			memcpy(out + o, esc, elen);
			o += elen;
			tmpl += 2;
			continue;
		}
		if (o + 1 >= len)
			return -1;
		out[o++] = *tmpl++;
	}
	if (o >= len)
		return -1;
	out[o] = '\0';
	return 0;
}

/* --- snapshots ----------------------------------------------------- */

static char *
lower_dup(const char *s)
{
	char	*d = xstrdup(s), *p;

	for (p = d; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

/* Lower case, no blanks around ',' '=' '+': enough to compare the DNs a
 * server hands back. */
static char *
dn_norm(const char *dn)
{
	size_t	 n = strlen(dn), o = 0, i;
	char	*d = xmalloc(n + 1);

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)dn[i];

		if (ch == ' ' && (o == 0 || d[o - 1] == ',' ||
		    d[o - 1] == '=' || d[o - 1] == '+'))
			continue;
		if ((ch == ',' || ch == '=' || ch == '+') && o > 0)
			while (o > 0 && d[o - 1] == ' ')
				o--;
		d[o++] = (char)tolower(ch);
	}
	while (o > 0 && d[o - 1] == ' ')
		o--;
	d[o] = '\0';
	return d;
}

static char *
dn_cn(const char *ndn)
{
	const char	*eq = strchr(ndn, '='), *end;

	if (eq == NULL)
		return xstrdup(ndn);
	eq++;
	for (end = eq; *end != '\0' && *end != ',' && *end != '+'; end++)
		if (*end == '\\' && end[1] != '\0')
			end++;
	return xstrndup(eq, (size_t)(end - eq));
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort and drop duplicates (freeing them). */
static size_t
uniq(char **v, size_t n)
{
	size_t	 i, o = 0;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof *v, cmp_str);
	for (i = 0; i < n; i++) {
		if (o > 0 && strcmp(v[o - 1], v[i]) == 0) {
			free(v[i]);
			continue;
		}
		v[o++] = v[i];
	}
	return o;
}

static bool
has(char *const *v, size_t n, const char *s)
{
	return n > 0 && bsearch(&s, v, n, sizeof *v, cmp_str) != NULL;
}

struct vec {
	char	**v;
	size_t	  n, cap;
};

static void
vec_push(struct vec *v, char *s)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 16;
		v->v = xreallocarray(v->v, v->cap, sizeof *v->v);
	}
	v->v[v->n++] = s;
}

struct node {
	char	 *ndn;
	size_t	  idx;		/* entry */
	size_t	 *kids;		/* entries that are members */
	size_t	  nkids, capkids;
	char	**ext;		/* member DNs not in the directory load */
	size_t	  next, capext;
	bool	  group;
};

static int
cmp_node(const void *a, const void *b)
{
	return strcmp(((const struct node *)a)->ndn,
	    ((const struct node *)b)->ndn);
}

static struct node *
node_find(struct node *nodes, size_t n, const char *ndn)
{
	struct node	 key = { .ndn = (char *)(uintptr_t)ndn };

	return bsearch(&key, nodes, n, sizeof *nodes, cmp_node);
}

static void
node_kid(struct node *g, size_t k)
{
	if (g->nkids == g->capkids) {
		g->capkids = g->capkids ? g->capkids * 2 : 8;
		g->kids = xreallocarray(g->kids, g->capkids, sizeof *g->kids);
	}
	g->kids[g->nkids++] = k;
}

static void
collect(struct node *nodes, struct ldapdir_entry *ents, size_t ni, unsigned char *seen, int depth, struct vec *addrs,
    struct vec *dns)
{
	struct node	*g = &nodes[ni];
	size_t		 i, j;

	for (i = 0; i < g->next; i++)
		vec_push(dns, xstrdup(g->ext[i]));
	for (i = 0; i < g->nkids; i++) {
		size_t		 k = g->kids[i];
		struct node	*m = &nodes[k];

		if (seen[k])
			continue;
		seen[k] = 1;
		vec_push(dns, xstrdup(m->ndn));
		for (j = 0; ents[m->idx].addrs != NULL &&
		    ents[m->idx].addrs[j] != NULL; j++)
			vec_push(addrs, lower_dup(ents[m->idx].addrs[j]));
		if (m->group && depth < LDAPDIR_NEST_MAX)
			collect(nodes, ents, k, seen, depth + 1, addrs, dns);
	}
}

struct ldapdir_snap *
ldapdir_snap_build(struct ldapdir_entry *ents, size_t n)
{
	struct ldapdir_snap	*s = xcalloc(1, sizeof *s);
	struct node		*nodes = xcalloc(n ? n : 1, sizeof *nodes);
	struct vec		 all = { 0 };
	unsigned char		*seen;
	size_t			 i, j, ng = 0;

	for (i = 0; i < n; i++) {
		nodes[i].ndn = dn_norm(ents[i].dn);
		nodes[i].idx = i;
		for (j = 0; ents[i].addrs != NULL && ents[i].addrs[j] != NULL;
		    j++)
			vec_push(&all, lower_dup(ents[i].addrs[j]));
	}
	s->naddrs = uniq(all.v, all.n);
	s->addrs = all.v;
	qsort(nodes, n, sizeof *nodes, cmp_node);

	/* Edges: member (group → member) and memberOf (member → group). */
	for (i = 0; i < n; i++) {
		struct ldapdir_entry	*e = &ents[nodes[i].idx];

		for (j = 0; e->members != NULL && e->members[j] != NULL; j++) {
			char		*m = dn_norm(e->members[j]);
			struct node	*k = node_find(nodes, n, m);

			nodes[i].group = true;
			if (k != NULL) {
				node_kid(&nodes[i], (size_t)(k - nodes));
				free(m);
				continue;
			}
			if (nodes[i].next == nodes[i].capext) {
				nodes[i].capext = nodes[i].capext ?
				    nodes[i].capext * 2 : 8;
				nodes[i].ext = xreallocarray(nodes[i].ext,
				    nodes[i].capext, sizeof *nodes[i].ext);
			}
			nodes[i].ext[nodes[i].next++] = m;
		}
		for (j = 0; e->member_of != NULL && e->member_of[j] != NULL;
		    j++) {
			char		*g = dn_norm(e->member_of[j]);
			struct node	*k = node_find(nodes, n, g);

			free(g);
			if (k == NULL)
				continue;
			k->group = true;
			node_kid(k, i);
		}
	}

	for (i = 0; i < n; i++)
		if (nodes[i].group)
			ng++;
	s->groups = xcalloc(ng ? ng : 1, sizeof *s->groups);
	seen = xcalloc(n ? n : 1, 1);
	for (i = 0; i < n; i++) {
		struct sgroup	*sg;
		struct vec	 a = { 0 }, d = { 0 };

		if (!nodes[i].group)
			continue;
		memset(seen, 0, n);
		seen[i] = 1;
		collect(nodes, ents, i, seen, 0, &a, &d);
		sg = &s->groups[s->ngroups++];
		sg->dn = xstrdup(nodes[i].ndn);
		sg->cn = dn_cn(nodes[i].ndn);
		sg->naddrs = uniq(a.v, a.n);
		sg->addrs = a.v;
		sg->ndns = uniq(d.v, d.n);
		sg->dns = d.v;
	}
	free(seen);
	for (i = 0; i < n; i++) {
		free(nodes[i].ndn);
		free(nodes[i].kids);
		for (j = 0; j < nodes[i].next; j++)
			free(nodes[i].ext[j]);
		free(nodes[i].ext);
	}
	free(nodes);
	return s;
}

void
ldapdir_snap_free(struct ldapdir_snap *s)
{
	size_t	 i, j;

	if (s == NULL)
		return;
	for (i = 0; i < s->naddrs; i++)
		free(s->addrs[i]);
	free(s->addrs);
	for (i = 0; i < s->ngroups; i++) {
		struct sgroup *g = &s->groups[i];

		for (j = 0; j < g->naddrs; j++)
			free(g->addrs[j]);
		for (j = 0; j < g->ndns; j++)
			free(g->dns[j]);
		free(g->addrs);
		free(g->dns);
		free(g->dn);
		free(g->cn);
	}
	free(s->groups);
	free(s);
}

size_t
ldapdir_snap_count(const struct ldapdir_snap *s)
{
	return s != NULL ? s->naddrs : 0;
}

static bool
addr_lower(const char *addr, char *out, size_t len)
{
	size_t	 i, n = strlen(addr);

	if (n >= 2 && addr[0] == '<' && addr[n - 1] == '>') {
		addr++;
		n -= 2;
	}
	if (n == 0 || n >= len)
		return false;
	for (i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)addr[i]);
	out[n] = '\0';
	return true;
}

bool
ldapdir_snap_has(const struct ldapdir_snap *s, const char *addr)
{
	char	 a[LDAPDIR_ADDR_MAX];

	if (s == NULL || !addr_lower(addr, a, sizeof a))
		return false;
	return has(s->addrs, s->naddrs, a);
}

static const struct sgroup *
group_find(const struct ldapdir_snap *s, const char *group)
{
	char		*ng;
	size_t		 i;
	const struct sgroup *found = NULL;

	if (s == NULL)
		return NULL;
	ng = dn_norm(group);
	for (i = 0; i < s->ngroups && found == NULL; i++)
		if (strcmp(s->groups[i].dn, ng) == 0)
			found = &s->groups[i];
	for (i = 0; i < s->ngroups && found == NULL; i++)
		if (strcmp(s->groups[i].cn, ng) == 0)
			found = &s->groups[i];
	free(ng);
	return found;
}

bool
ldapdir_snap_in_group(const struct ldapdir_snap *s, const char *group,
    const char *addr)
{
	const struct sgroup	*g = group_find(s, group);
	char			 a[LDAPDIR_ADDR_MAX];

	if (g == NULL || !addr_lower(addr, a, sizeof a))
		return false;
	return has(g->addrs, g->naddrs, a);
}

bool
ldapdir_snap_dn_in_group(const struct ldapdir_snap *s, const char *group,
    const char *dn)
{
	const struct sgroup	*g = group_find(s, group);
	char			*nd;
	bool			 r;

	if (g == NULL)
		return false;
	nd = dn_norm(dn);
	r = has(g->dns, g->ndns, nd);
	free(nd);
	return r;
}

/* --- configuration ------------------------------------------------- */

static void
profile_clear(struct profile *p)
{
	free(p->name);
	free(p->uri);
	free(p->base);
	free(p->bind_dn);
	free(p->bind_password);
	free(p->user_filter);
	free(p->login_filter);
	free(p->member_attr);
	cfg_strlist_free(p->mail_attrs);
	free(p->admin_group);
	free(p->qmanager_group);
	free(p->auditor_group);
	ldapdir_snap_free(p->snap);
	memset(p, 0, sizeof *p);
}

static void
profiles_free(struct profile *v, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		profile_clear(&v[i]);
	free(v);
}

static int
bad(char **cause, const struct cfg *c, config_setting_t *s, const char *why,
    const char *what)
{
	xasprintf(cause, "%s:%d: ldap: %s%s", c->path,
	    s != NULL ? config_setting_source_line(s) : 0, why, what);
	return -1;
}

static int
parse_profile(const struct cfg *c, config_setting_t *s, struct profile *p,
    char **cause)
{
	static const char *const keys[] = { "name", "uri", "base", "bind_dn",
	    "bind_password", "user_filter", "login_filter",
	    "group_member_attr", "mail_attrs", "refresh", "max_stale",
	    "timeout_ms", "page_size", "admin_group", "qmanager_group", "auditor_group",
	    NULL };
	long long	 v;

	if (config_setting_type(s) != CONFIG_TYPE_GROUP)
		return bad(cause, c, s, "a profile must be a group", "");
	if (cfg_check_keys(c, s, keys, cause) == -1 ||
	    cfg_get_str(c, s, "name", "", &p->name, cause) == -1 ||
	    cfg_get_str(c, s, "uri", "", &p->uri, cause) == -1 ||
	    cfg_get_str(c, s, "base", "", &p->base, cause) == -1 ||
	    cfg_get_str(c, s, "bind_dn", "", &p->bind_dn, cause) == -1 ||
	    cfg_get_str(c, s, "bind_password", "", &p->bind_password,
	    cause) == -1 ||
	    cfg_get_str(c, s, "user_filter",
	    "(|(mail=%s)(proxyAddresses=smtp:%s))", &p->user_filter,
	    cause) == -1 ||
	    cfg_get_str(c, s, "login_filter",
	    "(|(uid=%s)(sAMAccountName=%s)(mail=%s))", &p->login_filter,
	    cause) == -1 ||
	    cfg_get_str(c, s, "group_member_attr", "member", &p->member_attr,
	    cause) == -1 ||
	    cfg_get_str(c, s, "admin_group", "", &p->admin_group,
	    cause) == -1 ||
	    cfg_get_str(c, s, "qmanager_group", "", &p->qmanager_group,
	    cause) == -1 ||
	    cfg_get_str(c, s, "auditor_group", "", &p->auditor_group,
	    cause) == -1 ||
	    cfg_get_strlist(c, s, "mail_attrs", &p->mail_attrs,
	    &p->nmail_attrs, cause) == -1)
		return -1;
	if (cfg_get_int(c, s, "refresh", 300, 1, 86400, &v, cause) == -1)
		return -1;
	p->refresh = (int)v;
	if (cfg_get_int(c, s, "max_stale", 3LL * p->refresh, 1, 30 * 86400,
	    &v, cause) == -1)
		return -1;
	p->max_stale_ms = v * 1000;
	if (cfg_get_int(c, s, "timeout_ms", 2000, 100, 120000, &v,
	    cause) == -1)
		return -1;
	p->timeout_ms = (int)v;
	if (cfg_get_int(c, s, "page_size", LDAPDIR_PAGE_DEF, 1, 100000, &v,
	    cause) == -1)
		return -1;
	p->page_size = (int)v;
	if (*p->name == '\0')
		return bad(cause, c, s, "profile without a name", "");
	if (strncmp(p->uri, "ldap://", 7) != 0 &&
	    strncmp(p->uri, "ldaps://", 8) != 0 &&
	    strncmp(p->uri, "ldapi://", 8) != 0)
		return bad(cause, c, s, "uri must be ldap://, ldaps:// or "
		    "ldapi://: ", p->uri);
	if (*p->base == '\0')
		return bad(cause, c, s, "profile without a base: ", p->name);
	if (strstr(p->user_filter, "%s") == NULL ||
	    strstr(p->login_filter, "%s") == NULL)
		return bad(cause, c, s, "filters need a %s: ", p->name);
	if (p->mail_attrs == NULL || p->nmail_attrs == 0) {
		cfg_strlist_free(p->mail_attrs);
		p->mail_attrs = xcalloc(3, sizeof *p->mail_attrs);
		p->mail_attrs[0] = xstrdup("mail");
		p->mail_attrs[1] = xstrdup("proxyAddresses");
		p->nmail_attrs = 2;
	}
	return 0;
}

static int
find_profile(struct profile *v, size_t n, const char *name)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int
parse(const struct cfg *c, struct profile **out, size_t *nout, int *verify,
    int *login, char **cause)
{
	static const char *const keys[] = { "profiles", "verify_recipients",
	    "login", NULL };
	config_setting_t	*sec, *list;
	struct profile		*v = NULL;
	size_t			 n = 0;
	char			*vr = NULL, *lg = NULL;
	int			 i, cnt;

	*out = NULL;
	*nout = 0;
	*verify = *login = -1;
	if ((sec = cfg_section(c, "ldap")) == NULL)
		return 0;
	if (cfg_check_keys(c, sec, keys, cause) == -1)
		return -1;
	if ((list = config_setting_get_member(sec, "profiles")) != NULL) {
		if (!config_setting_is_list(list) &&
		    !config_setting_is_array(list))
			return bad(cause, c, list, "profiles must be a list "
			    "( { ... } )", "");
		cnt = config_setting_length(list);
		if (cnt > LDAPDIR_PROFILES_MAX)
			return bad(cause, c, list, "too many profiles", "");
		v = xcalloc(cnt > 0 ? (size_t)cnt : 1, sizeof *v);
		for (i = 0; i < cnt; i++) {
			config_setting_t *e = config_setting_get_elem(list,
			    (unsigned)i);

			if (parse_profile(c, e, &v[n++], cause) == -1)
				goto fail;
			if (find_profile(v, n - 1, v[n - 1].name) != -1) {
				bad(cause, c, e, "duplicate profile: ",
				    v[n - 1].name);
				goto fail;
			}
		}
	}
	if (cfg_get_str(c, sec, "verify_recipients", "", &vr, cause) == -1 ||
	    cfg_get_str(c, sec, "login", "", &lg, cause) == -1)
		goto fail;
	if (*vr != '\0' && (*verify = find_profile(v, n, vr)) == -1) {
		bad(cause, c, sec, "verify_recipients names no profile: ", vr);
		goto fail;
	}
	if (*lg != '\0' && (*login = find_profile(v, n, lg)) == -1) {
		bad(cause, c, sec, "login names no profile: ", lg);
		goto fail;
	}
	free(vr);
	free(lg);
	*out = v;
	*nout = n;
	return 0;
fail:
	free(vr);
	free(lg);
	profiles_free(v, n);
	return -1;
}

int
ldapdir_conf_check(const struct cfg *c, char **cause)
{
	struct profile	*v;
	size_t		 n;
	int		 a, b;

	if (parse(c, &v, &n, &a, &b, cause) == -1)
		return -1;
	profiles_free(v, n);
	return 0;
}

/* --- directory access (refresh thread, login caller) ---------------- */

static LDAP *
conn_open(const struct profile *p, char **cause)
{
	LDAP		*ld;
	struct timeval	 tv = { p->timeout_ms / 1000,
			    (p->timeout_ms % 1000) * 1000 };
	struct berval	 cred;
	int		 ver = LDAP_VERSION3, rc;

	if ((rc = ldap_initialize(&ld, p->uri)) != LDAP_SUCCESS) {
		xasprintf(cause, "ldap %s: %s", p->name, ldap_err2string(rc));
		return NULL;
	}
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &ver);
	ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
	cred.bv_val = p->bind_password;
	cred.bv_len = strlen(p->bind_password);
	rc = ldap_sasl_bind_s(ld, *p->bind_dn != '\0' ? p->bind_dn : NULL,
	    LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	if (rc != LDAP_SUCCESS) {
		xasprintf(cause, "ldap %s: service bind: %s", p->name,
		    ldap_err2string(rc));
		ldap_unbind_ext_s(ld, NULL, NULL);
		return NULL;
	}
	return ld;
}

/* Addresses of one attribute value: "smtp:" prefixes stripped, other
 * typed values (X500:, SIP:) and values without '@' ignored. */
static char *
value_addr(const struct berval *bv)
{
	char	*s, *colon, *at, *r;

	if (bv->bv_len == 0 || bv->bv_len >= LDAPDIR_ADDR_MAX)
		return NULL;
	s = xstrndup(bv->bv_val, bv->bv_len);
	colon = strchr(s, ':');
	at = strchr(s, '@');
	r = s;
	if (colon != NULL && (at == NULL || colon < at)) {
		if (strncasecmp(s, "smtp:", 5) != 0) {
			free(s);
			return NULL;
		}
		r = s + 5;
	}
	if (strchr(r, '@') == NULL || r[0] == '@') {
		free(s);
		return NULL;
	}
	r = lower_dup(r);
	free(s);
	return r;
}

static char **
values(LDAP *ld, LDAPMessage *e, const char *attr, bool addrs)
{
	struct berval	**bv;
	struct vec	  v = { 0 };
	size_t		  i;

	if ((bv = ldap_get_values_len(ld, e, attr)) == NULL)
		return NULL;
	for (i = 0; bv[i] != NULL; i++) {
		char *s = addrs ? value_addr(bv[i]) :
		    xstrndup(bv[i]->bv_val, bv[i]->bv_len);

		if (s != NULL)
			vec_push(&v, s);
	}
	ldap_value_free_len(bv);
	vec_push(&v, NULL);
	return v.v;
}

static void
strv_free(char **v)
{
	size_t	 i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

static void
strv_append(char ***dst, char **src)
{
	size_t	 n = 0, m = 0, i;

	if (src == NULL)
		return;
	while (*dst != NULL && (*dst)[n] != NULL)
		n++;
	while (src[m] != NULL)
		m++;
	*dst = xreallocarray(*dst, n + m + 1, sizeof **dst);
	for (i = 0; i < m; i++)
		(*dst)[n + i] = src[i];
	(*dst)[n + m] = NULL;
	free(src);
}

/* The whole directory, paged. 0 with *out, or -1 with *cause. */
static int
load_profile(const struct profile *p, struct ldapdir_snap **out,
    char **cause)
{
	LDAP			*ld;
	struct timeval		 tv = { p->timeout_ms / 1000,
				    (p->timeout_ms % 1000) * 1000 };
	struct ldapdir_entry	*ents = NULL;
	size_t			 n = 0, cap = 0, i;
	char			*filter = NULL, *tmp;
	const char		**attrs;
	struct berval		*cookie = NULL;
	int			 rc, ret = -1;

	if ((ld = conn_open(p, cause)) == NULL)
		return -1;
	xasprintf(&filter, "(|(%s=*)(memberOf=*)", p->member_attr);
	for (i = 0; i < p->nmail_attrs; i++) {
		xasprintf(&tmp, "%s(%s=*)", filter, p->mail_attrs[i]);
		free(filter);
		filter = tmp;
	}
	xasprintf(&tmp, "%s)", filter);
	free(filter);
	filter = tmp;
	attrs = xcalloc(p->nmail_attrs + 3, sizeof *attrs);
	for (i = 0; i < p->nmail_attrs; i++)
		attrs[i] = p->mail_attrs[i];
	attrs[i++] = p->member_attr;
	attrs[i++] = "memberOf";

	for (;;) {
		LDAPControl	*page = NULL, *sctrls[2], **rctrls = NULL;
		LDAPMessage	*res = NULL, *e;
		int		 err = 0;

		rc = ldap_create_page_control(ld, p->page_size, cookie,
		    0, &page);
		if (rc != LDAP_SUCCESS)
			break;
		sctrls[0] = page;
		sctrls[1] = NULL;
		rc = ldap_search_ext_s(ld, p->base, LDAP_SCOPE_SUBTREE, filter,
		    (char **)(uintptr_t)attrs, 0, sctrls, NULL, &tv, 0, &res);
		ldap_control_free(page);
		if (rc != LDAP_SUCCESS) {
			ldap_msgfree(res);
			break;
		}
		for (e = ldap_first_entry(ld, res); e != NULL;
		    e = ldap_next_entry(ld, e)) {
			struct ldapdir_entry	*x;
			char			*dn;

			if ((dn = ldap_get_dn(ld, e)) == NULL)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				ents = xreallocarray(ents, cap, sizeof *ents);
			}
			x = &ents[n++];
			memset(x, 0, sizeof *x);
			x->dn = xstrdup(dn);
			ldap_memfree(dn);
			for (i = 0; i < p->nmail_attrs; i++)
				strv_append(&x->addrs,
				    values(ld, e, p->mail_attrs[i], true));
			x->members = values(ld, e, p->member_attr, false);
			x->member_of = values(ld, e, "memberOf", false);
		}
		rc = ldap_parse_result(ld, res, &err, NULL, NULL, NULL,
		    &rctrls, 1);
		if (rc == LDAP_SUCCESS)
			rc = err;
		if (cookie != NULL) {
			ber_bvfree(cookie);
			cookie = NULL;
		}
		if (rc == LDAP_SUCCESS && rctrls != NULL) {
			LDAPControl	*pc;
			ber_int_t	 count;
			struct berval	 ck = { 0, NULL };

			pc = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS,
			    rctrls, NULL);
			if (pc != NULL && ldap_parse_pageresponse_control(ld,
			    pc, &count, &ck) == LDAP_SUCCESS &&
			    ck.bv_len > 0)
				cookie = ber_bvdup(&ck);
			if (ck.bv_val != NULL)
				ber_memfree(ck.bv_val);
		}
		if (rctrls != NULL)
			ldap_controls_free(rctrls);
		if (rc != LDAP_SUCCESS || cookie == NULL) {
			if (rc == LDAP_SUCCESS)
				ret = 0;
			break;
		}
	}
	if (ret == -1)
		xasprintf(cause, "ldap %s: search: %s", p->name,
		    ldap_err2string(rc));
	else
		*out = ldapdir_snap_build(ents, n);
	if (cookie != NULL)
		ber_bvfree(cookie);
	for (i = 0; i < n; i++) {
		free(ents[i].dn);
		strv_free(ents[i].addrs);
		strv_free(ents[i].members);
		strv_free(ents[i].member_of);
	}
	free(ents);
	free(attrs);
	free(filter);
	ldap_unbind_ext_s(ld, NULL, NULL);
	return ret;
}

/* --- the refresh thread --------------------------------------------- */

static void *
refresh_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	while (!stopping) {
		uint64_t	 now = util_mono_ms(), next = UINT64_MAX;
		struct timespec	 ts;
		size_t		 i;

		for (i = 0; i < nprofs && !stopping; i++) {
			struct profile		*p = &profs[i];
			struct ldapdir_snap	*s = NULL, *old;
			char			*cause = NULL;
			int			 rc, retry;

			if (p->next_ms > now)
				continue;
			pthread_mutex_unlock(&mu);
			rc = load_profile(p, &s, &cause);
			pthread_mutex_lock(&mu);
			now = util_mono_ms();
			if (rc == -1) {
				retry = p->refresh < LDAPDIR_RETRY_MAX_S ?
				    p->refresh : LDAPDIR_RETRY_MAX_S;
				p->next_ms = now + (uint64_t)retry * 1000;
				log_warnx("%s", cause);
				free(cause);
				continue;
			}
			old = p->snap;
			p->snap = s;
			p->loaded_ms = now_wall();
			p->next_ms = now + (uint64_t)p->refresh * 1000;
			log_debug("ldap %s: %zu addresses, %zu groups",
			    p->name, s->naddrs, s->ngroups);
			pthread_mutex_unlock(&mu);
			ldapdir_snap_free(old);
			pthread_mutex_lock(&mu);
		}
		for (i = 0; i < nprofs; i++)
			if (profs[i].next_ms < next)
				next = profs[i].next_ms;
		if (stopping)
			break;
		now = util_mono_ms();
		if (next <= now)
			continue;
		clock_gettime(CLOCK_REALTIME, &ts);
		next -= now;
		ts.tv_sec += (time_t)(next / 1000);
		ts.tv_nsec += (long)(next % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&cv, &mu, &ts);
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

int
ldapdir_start(const struct cfg *c, char **cause)
{
	int	 ver;

	if (running || nprofs > 0)
		return 0;
	if (parse(c, &profs, &nprofs, &verify_idx, &login_idx, cause) == -1)
		return -1;
	if (nprofs == 0)
		return 0;
	/* libldap's global options are set up on first use: do it here,
	 * before the refresh thread and login callers race for it. */
	ldap_get_option(NULL, LDAP_OPT_PROTOCOL_VERSION, &ver);
	stopping = false;
	if (pthread_create(&thread, NULL, refresh_main, NULL) != 0) {
		xasprintf(cause, "ldap: pthread_create: %s", strerror(errno));
		return -1;
	}
	running = true;
	log_info("ldap: %zu profile%s, recipient verification %s", nprofs,
	    nprofs == 1 ? "" : "s",
	    verify_idx >= 0 ? profs[verify_idx].name : "off");
	return 0;
}

void
ldapdir_stop(void)
{
	if (running) {
		pthread_mutex_lock(&mu);
		stopping = true;
		pthread_cond_broadcast(&cv);
		pthread_mutex_unlock(&mu);
		pthread_join(thread, NULL);
		running = false;
	}
	pthread_mutex_lock(&mu);
	profiles_free(profs, nprofs);
	profs = NULL;
	nprofs = 0;
	verify_idx = login_idx = -1;
	pthread_mutex_unlock(&mu);
}

/* --- lookups -------------------------------------------------------- */

static bool
fresh(const struct profile *p)
{
	return p->snap != NULL && now_wall() - p->loaded_ms <= p->max_stale_ms;
}

int
ldapdir_rcpt_known(const char *addr)
{
	struct profile	*p;
	int		 r;

	pthread_mutex_lock(&mu);
	if (verify_idx < 0) {
		pthread_mutex_unlock(&mu);
		return -2;
	}
	p = &profs[verify_idx];
	if (!fresh(p))
		r = -1;
	else
		r = ldapdir_snap_has(p->snap, addr) ? 1 : 0;
	pthread_mutex_unlock(&mu);
	return r;
}

bool
ldapdir_in_group(const char *profile, const char *group, const char *addr)
{
	int	 i;
	bool	 r = false;

	pthread_mutex_lock(&mu);
	if ((i = find_profile(profs, nprofs, profile)) != -1 &&
	    fresh(&profs[i]))
		r = ldapdir_snap_in_group(profs[i].snap, group, addr);
	pthread_mutex_unlock(&mu);
	return r;
}

bool
ldapdir_user_known(const char *profile, const char *addr)
{
	size_t	 i;
	bool	 any, r = false;

	any = profile == NULL || *profile == '\0' || strcmp(profile, "*") == 0;
	pthread_mutex_lock(&mu);
	for (i = 0; i < nprofs && !r; i++)
		if ((any || strcmp(profs[i].name, profile) == 0) &&
		    fresh(&profs[i]))
			r = ldapdir_snap_has(profs[i].snap, addr);
	pthread_mutex_unlock(&mu);
	return r;
}

bool
ldapdir_policy_group(const char *spec, const char *addr)
{
	const char	*colon = strchr(spec, ':'), *eq = strchr(spec, '=');
	char		*profile;
	bool		 r;

	/* A DN has '=' before any ':' of a "profile:" prefix. */
	if (colon == NULL || (eq != NULL && eq < colon)) {
		pthread_mutex_lock(&mu);
		profile = nprofs > 0 ? xstrdup(profs[0].name) : NULL;
		pthread_mutex_unlock(&mu);
		if (profile == NULL)
			return false;
		r = ldapdir_in_group(profile, spec, addr);
	} else {
		profile = xstrndup(spec, (size_t)(colon - spec));
		r = ldapdir_in_group(profile, colon + 1, addr);
	}
	free(profile);
	return r;
}

void
ldapdir_test_install(const char *profile, struct ldapdir_snap *s,
    int64_t loaded_ms, int64_t max_stale_ms)
{
	struct profile	*p;
	int		 i;

	pthread_mutex_lock(&mu);
	if ((i = find_profile(profs, nprofs, profile)) == -1) {
		profs = xreallocarray(profs, nprofs + 1, sizeof *profs);
		p = &profs[nprofs];
		memset(p, 0, sizeof *p);
		p->name = xstrdup(profile);
		i = (int)nprofs++;
	}
	p = &profs[i];
	ldapdir_snap_free(p->snap);
	p->snap = s;
	p->loaded_ms = loaded_ms;
	p->max_stale_ms = max_stale_ms;
	if (verify_idx == -1)
		verify_idx = i;
	pthread_mutex_unlock(&mu);
}

/* --- login ---------------------------------------------------------- */

/* Direct membership, asked of the server: the fallback when no snapshot
 * has the group. */
static bool
live_member(LDAP *ld, const struct profile *p, const char *group,
    const char *dn)
{
	struct timeval	 tv = { p->timeout_ms / 1000,
			    (p->timeout_ms % 1000) * 1000 };
	char		 f[LDAPDIR_FILTER_MAX], tmpl[256];
	char		*attrs[] = { (char *)(uintptr_t)"1.1", NULL };
	LDAPMessage	*res = NULL;
	bool		 r = false;

	if ((size_t)snprintf(tmpl, sizeof tmpl, "(%s=%%s)", p->member_attr) >=
	    sizeof tmpl || ldapdir_filter_build(tmpl, dn, f, sizeof f) == -1)
		return false;
	if (ldap_search_ext_s(ld, group, LDAP_SCOPE_BASE, f, attrs, 0, NULL,
	    NULL, &tv, 1, &res) == LDAP_SUCCESS)
		r = ldap_count_entries(ld, res) == 1;
	ldap_msgfree(res);
	return r;
}

static bool
member(LDAP *ld, const struct profile *p, const char *group, const char *dn)
{
	bool	 r = false;

	if (*group == '\0')
		return false;
	pthread_mutex_lock(&mu);
	if (p->snap != NULL)
		r = ldapdir_snap_dn_in_group(p->snap, group, dn);
	pthread_mutex_unlock(&mu);
	return r || live_member(ld, p, group, dn);
}

int
ldapdir_login(const char *user, const char *password, char *role_out,
    size_t len, char **cause)
{
	const struct profile	*p;
	struct timeval		 tv;
	char			 f[LDAPDIR_FILTER_MAX], *dn = NULL;
	char			*attrs[] = { (char *)(uintptr_t)"1.1", NULL };
	const char		*role = "user";
	LDAP			*ld;
	LDAPMessage		*res = NULL, *e;
	struct berval		 cred;
	int			 rc, n;

	if (login_idx < 0) {
		*cause = xstrdup("ldap login is not configured");
		return -1;
	}
	p = &profs[login_idx];
	if (user == NULL || *user == '\0' || password == NULL ||
	    *password == '\0') {
		*cause = xstrdup("empty user or password");
		return -1;
	}
	if (ldapdir_filter_build(p->login_filter, user, f, sizeof f) == -1) {
		*cause = xstrdup("user name too long");
		return -1;
	}
	if ((ld = conn_open(p, cause)) == NULL)
		return -1;
	tv.tv_sec = p->timeout_ms / 1000;
	tv.tv_usec = (p->timeout_ms % 1000) * 1000;
	rc = ldap_search_ext_s(ld, p->base, LDAP_SCOPE_SUBTREE, f, attrs, 0,
	    NULL, NULL, &tv, 2, &res);
	n = rc == LDAP_SUCCESS || rc == LDAP_SIZELIMIT_EXCEEDED ?
	    ldap_count_entries(ld, res) : -1;
	if (n != 1) {
		if (n == -1)
			xasprintf(cause, "ldap %s: search: %s", p->name,
			    ldap_err2string(rc));
		else
			xasprintf(cause, "invalid credentials");
		goto fail;
	}
	e = ldap_first_entry(ld, res);
	if ((dn = ldap_get_dn(ld, e)) == NULL) {
		*cause = xstrdup("invalid credentials");
		goto fail;
	}
	if (member(ld, p, p->admin_group, dn))
		role = "admin";
	else if (member(ld, p, p->qmanager_group, dn))
		role = "qmanager";
	else if (member(ld, p, p->auditor_group, dn))
		role = "auditor";
	cred.bv_val = (char *)(uintptr_t)password;
	cred.bv_len = strlen(password);
	rc = ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL,
	    NULL);
	if (rc != LDAP_SUCCESS) {
		if (rc == LDAP_INVALID_CREDENTIALS)
			*cause = xstrdup("invalid credentials");
		else
			xasprintf(cause, "ldap %s: bind: %s", p->name,
			    ldap_err2string(rc));
		goto fail;
	}
	if (strlen(role) >= len) {
		*cause = xstrdup("role buffer too small");
		goto fail;
	}
	memcpy(role_out, role, strlen(role) + 1);
	ldap_memfree(dn);
	ldap_msgfree(res);
	ldap_unbind_ext_s(ld, NULL, NULL);
	return 0;
fail:
	if (dn != NULL)
		ldap_memfree(dn);
	ldap_msgfree(res);
	ldap_unbind_ext_s(ld, NULL, NULL);
	return -1;
}
