/*
 * Greylisting (greylist.h): configuration, the in-memory triplet table
 * and the decision at RCPT. Loop thread only; the store behind it is
 * db_greylist.c.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>
#include <libconfig.h>

#include "cfg.h"
#include "db_greylist.h"
#include "greylist.h"
#include "log.h"
#include "psl.h"
#include "util.h"
#include "xmalloc.h"

#define GL_CONF_CACHE	2

struct gl_conf {
	int		 refs;
	bool		 enabled;
	int64_t		 delay_ms;
	int64_t		 window_ms;
	int64_t		 life_ms;
	int		 v4prefix;
	int		 v6prefix;
	struct cfg_net	*nets;
	size_t		 nnets;
	char		**senders;
	size_t		 nsenders;
	char		**rcpts;
	size_t		 nrcpts;
	size_t		 max_entries;
	char		*path;
};

struct gl_entry {
	struct gl_entry	*next;
	uint64_t	 hash;
	int64_t		 first_ms;	/* first try of this round */
	int64_t		 pass_ms;	/* last passed use, 0 never */
	int64_t		 written_ms;	/* last queued to the store */
	uint32_t	 count;		/* tries refused */
	char		 key[];
};

static struct {
	bool		  started;
	struct gl_entry	**buckets;
	size_t		  nbuckets;	/* power of two */
	size_t		  count;
	uint8_t		  sipkey[16];
	struct event	 *sweep;
	int64_t		  window_ms;	/* for the sweep: last seen */
	int64_t		  life_ms;
	int64_t		  full_warned;
	int64_t		(*now)(void);
} gl;

static struct {
	const struct cfg	*cfg;
	struct gl_conf		*conf;
} gl_cache[GL_CONF_CACHE];

/* --- SipHash-2-4: chains an attacker cannot make long --------------------- */

#define ROTL(x, b)	(uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do {							\
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);	\
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;				\
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;				\
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);	\
} while (0)

static uint64_t
le64(const uint8_t *p)
{
	uint64_t	v = 0;
	int		i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t
siphash(const uint8_t key[16], const void *data, size_t len)
{
	const uint8_t	*in = data, *end = in + (len & ~(size_t)7);
	uint64_t	 k0 = le64(key), k1 = le64(key + 8), m, b;
	uint64_t	 v0 = 0x736f6d6570736575ULL ^ k0;
	uint64_t	 v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t	 v2 = 0x6c7967656e657261ULL ^ k0;
	uint64_t	 v3 = 0x7465646279746573ULL ^ k1;
	size_t		 left = len & 7;

	for (; in != end; in += 8) {
		m = le64(in);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	b = (uint64_t)len << 56;
	while (left-- > 0)
		b |= (uint64_t)in[left] << (8 * left);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* --- configuration -------------------------------------------------------- */

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

static void
conf_unref(struct gl_conf *gc)
{
	if (gc == NULL || --gc->refs > 0)
		return;
	free(gc->nets);
	if (gc->senders != NULL)
		cfg_strlist_free(gc->senders);
	if (gc->rcpts != NULL)
		cfg_strlist_free(gc->rcpts);
	free(gc->path);
	free(gc);
}

static int
list_check(const struct cfg *c, config_setting_t *s, const char *key,
    char **list, size_t n, char **cause)
{
	size_t	i;

	if (n > GREYLIST_WHITELIST_MAX) {
		xasprintf(cause, "%s:%d: at most %d entries in %s", c->path,
		    config_setting_source_line(config_setting_get_member(s,
		    key)), GREYLIST_WHITELIST_MAX, key);
		return -1;
	}
	for (i = 0; i < n; i++) {
		lower(list[i]);
		if (list[i][0] == '\0' || strchr(list[i], ' ') != NULL) {
			xasprintf(cause, "%s:%d: bad entry '%s' in %s",
			    c->path, config_setting_source_line(
			    config_setting_get_member(s, key)), list[i], key);
			return -1;
		}
	}
	return 0;
}

static struct gl_conf *
conf_load(const struct cfg *c, char **cause)
{
	static const char *const keys[] = { "enabled", "delay",
	    "retry_window", "lifetime", "ipv4_prefix", "ipv6_prefix",
	    "whitelist_networks", "whitelist_senders",
	    "whitelist_recipients", "max_entries", "path", NULL };
	struct gl_conf		*gc;
	config_setting_t	*s;
	char			**nets = NULL, *copy, *def;
	size_t			 nnets = 0, i;
	long long		 v;

	*cause = NULL;
	gc = xcalloc(1, sizeof *gc);
	gc->refs = 1;
	gc->enabled = cfg_filter_enabled(c, "greylist");
	s = cfg_section(c, "filters.greylist");
	if (cfg_check_keys(c, s, keys, cause) == -1)
		goto fail;
	if (cfg_get_int(c, s, "delay", 300, 0, 86400, &v, cause) == -1)
		goto fail;
	gc->delay_ms = v * 1000;
	if (cfg_get_int(c, s, "retry_window", 14400, 1, 30 * 86400, &v,
	    cause) == -1)
		goto fail;
	gc->window_ms = v * 1000;
	if (gc->window_ms <= gc->delay_ms) {
		xasprintf(cause, "%s:%d: retry_window must be longer than "
		    "delay", c->path, config_setting_source_line(s));
		goto fail;
	}
	if (cfg_get_int(c, s, "lifetime", 36 * 86400, 60, 3650LL * 86400,
	    &v, cause) == -1)
		goto fail;
	gc->life_ms = v * 1000;
	if (cfg_get_int(c, s, "ipv4_prefix", 24, 8, 32, &v, cause) == -1)
		goto fail;
	gc->v4prefix = (int)v;
	if (cfg_get_int(c, s, "ipv6_prefix", 64, 16, 128, &v, cause) == -1)
		goto fail;
	gc->v6prefix = (int)v;
	if (cfg_get_int(c, s, "max_entries", GREYLIST_ENTRIES_DEF, 100,
	    GREYLIST_ENTRIES_MAX, &v, cause) == -1)
		goto fail;
	gc->max_entries = (size_t)v;
	copy = xstrdup(c->db_path);
	xasprintf(&def, "%s/greylist.db", dirname(copy));
	free(copy);
	if (cfg_get_path(c, s, "path", def, &gc->path, cause) == -1) {
		free(def);
		goto fail;
	}
	free(def);
	if (cfg_get_strlist(c, s, "whitelist_senders", &gc->senders,
	    &gc->nsenders, cause) == -1 || list_check(c, s,
	    "whitelist_senders", gc->senders, gc->nsenders, cause) == -1 ||
	    cfg_get_strlist(c, s, "whitelist_recipients", &gc->rcpts,
	    &gc->nrcpts, cause) == -1 || list_check(c, s,
	    "whitelist_recipients", gc->rcpts, gc->nrcpts, cause) == -1 ||
	    cfg_get_strlist(c, s, "whitelist_networks", &nets, &nnets,
	    cause) == -1)
		goto fail;
	if (nnets > GREYLIST_WHITELIST_MAX) {
		xasprintf(cause, "%s: too many whitelist_networks", c->path);
		goto fail;
	}
	gc->nets = xcalloc(nnets + 1, sizeof *gc->nets);
	for (i = 0; i < nnets; i++) {
		if (cfg_net_parse(nets[i], &gc->nets[i]) == -1) {
			xasprintf(cause, "%s:%d: bad network '%s' in "
			    "whitelist_networks", c->path,
			    config_setting_source_line(
			    config_setting_get_member(s,
			    "whitelist_networks")), nets[i]);
			goto fail;
		}
		gc->nnets++;
	}
	if (nets != NULL)
		cfg_strlist_free(nets);
	return gc;
fail:
	if (nets != NULL)
		cfg_strlist_free(nets);
	conf_unref(gc);
	return NULL;
}

int
greylist_conf_check(const struct cfg *c, char **cause)
{
	struct gl_conf	*gc;

	if ((gc = conf_load(c, cause)) == NULL)
		return -1;
	conf_unref(gc);
	return 0;
}

static struct gl_conf *
conf_get(const struct cfg *c)
{
	struct gl_conf	*gc;
	char		*cause = NULL;
	size_t		 i;

	for (i = 0; i < GL_CONF_CACHE; i++)
		if (gl_cache[i].cfg == c && gl_cache[i].conf != NULL)
			return gl_cache[i].conf;
	if ((gc = conf_load(c, &cause)) == NULL) {
		log_warnx("greylist: %s: greylisting off", cause);
		free(cause);
		return NULL;
	}
	conf_unref(gl_cache[GL_CONF_CACHE - 1].conf);
	for (i = GL_CONF_CACHE - 1; i > 0; i--)
		gl_cache[i] = gl_cache[i - 1];
	gl_cache[0].cfg = c;
	gl_cache[0].conf = gc;
	return gc;
}

/* --- the table ------------------------------------------------------------ */

static int64_t
now_ms(void)
{
	return gl.now != NULL ? gl.now() : util_wall_ms();
}

void
greylist_set_clock(int64_t (*fn)(void))
{
	gl.now = fn;
}

size_t
greylist_count(void)
{
	return gl.count;
}

static struct gl_entry *
lookup(const char *key, uint64_t h)
{
	struct gl_entry	*e;

	for (e = gl.buckets[h & (gl.nbuckets - 1)]; e != NULL; e = e->next)
		if (e->hash == h && strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

static struct gl_entry *
insert(const char *key, uint64_t h, int64_t first, int64_t pass,
    uint32_t count)
{
	struct gl_entry	*e;
	size_t		 len = strlen(key);

	e = xmalloc(sizeof *e + len + 1);
	memcpy(e->key, key, len + 1);
	e->hash = h;
	e->first_ms = first;
	e->pass_ms = pass;
	e->written_ms = first > pass ? first : pass;
	e->count = count;
	e->next = gl.buckets[h & (gl.nbuckets - 1)];
	gl.buckets[h & (gl.nbuckets - 1)] = e;
	gl.count++;
	return e;
}

static bool
expired(const struct gl_entry *e, int64_t now)
{
	if (e->pass_ms != 0)
		return now - e->pass_ms > gl.life_ms;
	return now - e->first_ms > gl.window_ms;
}

static size_t
sweep_table(int64_t now)
{
	struct gl_entry	**pp, *e;
	size_t		  i, n = 0;

	for (i = 0; i < gl.nbuckets; i++) {
		for (pp = &gl.buckets[i]; (e = *pp) != NULL;) {
			if (expired(e, now)) {
				*pp = e->next;
				free(e);
				gl.count--;
				n++;
			} else
				pp = &e->next;
		}
	}
	return n;
}

static void
on_sweep(evutil_socket_t fd, short what, void *arg)
{
	int64_t	now = now_ms();
	size_t	n;

	(void)fd;
	(void)what;
	(void)arg;
	n = sweep_table(now);
	db_greylist_expire(now - gl.window_ms, now - gl.life_ms);
	if (n > 0)
		log_debug("greylist: %zu triplets expired, %zu left", n,
		    gl.count);
}

static void
load_row(const char *key, int64_t first, int64_t pass, unsigned count,
    void *arg)
{
	uint64_t	h = siphash(gl.sipkey, key, strlen(key));

	(void)arg;
	if (strlen(key) < GREYLIST_KEY_MAX && lookup(key, h) == NULL)
		insert(key, h, first, pass, count);
}

int
greylist_start(struct event_base *base, const struct cfg *c, char **cause)
{
	struct gl_conf	*gc;
	struct timeval	 tv = { GREYLIST_SWEEP_S, 0 };
	int64_t		 now;

	*cause = NULL;
	if (gl.started)
		return 0;
	if ((gc = conf_load(c, cause)) == NULL)
		return -1;
	if (!gc->enabled) {
		conf_unref(gc);
		return 0;
	}
	arc4random_buf(gl.sipkey, sizeof gl.sipkey);
	for (gl.nbuckets = 1024; gl.nbuckets < gc->max_entries;)
		gl.nbuckets *= 2;
	gl.buckets = xcalloc(gl.nbuckets, sizeof *gl.buckets);
	gl.count = 0;
	gl.window_ms = gc->window_ms;
	gl.life_ms = gc->life_ms;
	now = now_ms();
	if (db_greylist_open(gc->path, now - gc->window_ms, now - gc->life_ms,
	    (unsigned)gc->max_entries, load_row, NULL, cause) == -1) {
		free(gl.buckets);
		gl.buckets = NULL;
		conf_unref(gc);
		return -1;
	}
	gl.sweep = event_new(base, -1, EV_PERSIST, on_sweep, NULL);
	evtimer_add(gl.sweep, &tv);
	gl.started = true;
	log_info("greylist: %zu triplets loaded from %s", gl.count, gc->path);
	conf_unref(gc);
	return 0;
}

void
greylist_stop(void)
{
	struct gl_entry	*e, *next;
	size_t		 i;

	if (gl.started) {
		event_free(gl.sweep);
		gl.sweep = NULL;
		db_greylist_close();
		for (i = 0; i < gl.nbuckets; i++)
			for (e = gl.buckets[i]; e != NULL; e = next) {
				next = e->next;
				free(e);
			}
		free(gl.buckets);
		gl.buckets = NULL;
		gl.count = 0;
		gl.started = false;
	}
	for (i = 0; i < GL_CONF_CACHE; i++) {
		conf_unref(gl_cache[i].conf);
		gl_cache[i].conf = NULL;
		gl_cache[i].cfg = NULL;
	}
}

/* --- the decision --------------------------------------------------------- */

/* "192.0.2.0/24" for the client's network; -1 when addr is no address. */
static int
client_net(const struct gl_conf *gc, const char *addr, char *out,
    size_t len, char *plain, size_t plen)
{
	unsigned char	 a[16];
	char		 buf[INET6_ADDRSTRLEN + 8], s[INET6_ADDRSTRLEN];
	size_t		 n;
	int		 family, bits, i;

	if (strncasecmp(addr, "IPv6:", 5) == 0)
		addr += 5;
	n = strlen(addr);
	if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']') {
		addr++;
		n -= 2;
	}
	if (n >= sizeof buf)
		return -1;
	memcpy(buf, addr, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, a) == 1) {
		family = AF_INET;
		bits = gc->v4prefix;
	} else if (inet_pton(AF_INET6, buf, a) == 1) {
		family = AF_INET6;
		bits = gc->v6prefix;
		if (IN6_IS_ADDR_V4MAPPED((struct in6_addr *)a)) {
			memmove(a, a + 12, 4);
			family = AF_INET;
			bits = gc->v4prefix;
		}
	} else
		return -1;
	inet_ntop(family, a, plain, plen);
	for (i = 0; i < (family == AF_INET ? 4 : 16); i++) {
		if (bits >= 8 * (i + 1))
			continue;
		a[i] &= bits > 8 * i ? (unsigned char)(0xff <<
		    (8 - (bits - 8 * i))) : 0;
	}
	inet_ntop(family, a, s, sizeof s);
	snprintf(out, len, "%s/%d", s, bits);
	return 0;
}

/* The address without <> in lower case, at most GREYLIST_ADDR_MAX. */
static void
norm_addr(const char *in, char *out, size_t len)
{
	size_t	n;

	if (in == NULL)
		in = "";
	while (*in == '<' || *in == ' ')
		in++;
	snprintf(out, len, "%s", in);
	n = strlen(out);
	while (n > 0 && (out[n - 1] == '>' || out[n - 1] == ' '))
		out[--n] = '\0';
	lower(out);
}

static bool
listed(char **list, size_t n, const char *addr)
{
	const char	*at = strrchr(addr, '@');
	const char	*dom = at != NULL ? at + 1 : addr;
	size_t		 i;

	if (addr[0] == '\0')
		return false;
	for (i = 0; i < n; i++) {
		if (strchr(list[i], '@') != NULL) {
			if (strcmp(list[i], addr) == 0)
				return true;
		} else if (psl_in_domain(dom, list[i]))
			return true;
	}
	return false;
}

static int
refuse(char *reply, size_t len, int64_t wait_ms)
{
	long long	secs = (wait_ms + 999) / 1000;

	snprintf(reply, len, "451 4.7.1 Greylisted, try again in %lld "
	    "second%s", secs, secs == 1 ? "" : "s");
	return 1;
}

int
greylist_check(const struct cfg *c, const char *client_addr,
    const char *sender, const char *rcpt, char *reply, size_t len)
{
	struct gl_conf	*gc;
	struct gl_entry	*e;
	char		 net[INET6_ADDRSTRLEN + 8], ip[INET6_ADDRSTRLEN];
	char		 from[GREYLIST_ADDR_MAX + 1], to[GREYLIST_ADDR_MAX + 1];
	char		 key[GREYLIST_KEY_MAX];
	uint64_t	 h;
	int64_t		 now;

	if (reply != NULL && len > 0)
		reply[0] = '\0';
	if (!gl.started || client_addr == NULL ||
	    (gc = conf_get(c)) == NULL || !gc->enabled)
		return 0;
	if (client_net(gc, client_addr, net, sizeof net, ip, sizeof ip) == -1)
		return 0;
	norm_addr(sender, from, sizeof from);
	norm_addr(rcpt, to, sizeof to);
	if (cfg_net_match(gc->nets, gc->nnets, ip) ||
	    listed(gc->senders, gc->nsenders, from) ||
	    listed(gc->rcpts, gc->nrcpts, to))
		return 0;
	gl.window_ms = gc->window_ms;
	gl.life_ms = gc->life_ms;
	snprintf(key, sizeof key, "%s\n%s\n%s", net, from, to);
	h = siphash(gl.sipkey, key, strlen(key));
	now = now_ms();
	if ((e = lookup(key, h)) == NULL) {
		if (gl.count >= gc->max_entries)
			sweep_table(now);
		if (gl.count >= gc->max_entries) {
			if (now - gl.full_warned > 60000) {
				log_warnx("greylist: table full (%zu "
				    "triplets): letting mail pass", gl.count);
				gl.full_warned = now;
			}
			return 0;
		}
		e = insert(key, h, now, 0, 1);
		db_greylist_put(key, now, 0, 1);
		log_debug("greylist: new %s from=<%s> to=<%s>", net, from, to);
		return refuse(reply, len, gc->delay_ms);
	}
	if (e->pass_ms != 0) {
		if (now - e->pass_ms <= gc->life_ms) {
			e->pass_ms = now;
			if (now - e->written_ms >= GREYLIST_RENEW_S * 1000) {
				e->written_ms = now;
				db_greylist_put(key, e->first_ms, now,
				    e->count);
			}
			return 0;
		}
	} else if (now - e->first_ms >= gc->delay_ms &&
	    now - e->first_ms <= gc->window_ms) {
		e->pass_ms = e->written_ms = now;
		db_greylist_put(key, e->first_ms, now, e->count);
		log_debug("greylist: passed %s from=<%s> to=<%s> after %llds",
		    net, from, to, (long long)(now - e->first_ms) / 1000);
		return 0;
	} else if (now - e->first_ms < gc->delay_ms) {
		e->count++;
		return refuse(reply, len, gc->delay_ms -
		    (now - e->first_ms));
	}
	/* Expired, or retried too late: a new round. */
	e->first_ms = e->written_ms = now;
	e->pass_ms = 0;
	e->count = 1;
	db_greylist_put(key, now, 0, 1);
	return refuse(reply, len, gc->delay_ms);
}
