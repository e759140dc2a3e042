/*
 * A small asynchronous DNS stub resolver on the libevent loop, for the
 * record types evdns cannot ask for (TXT, MX) and for the SPF, DKIM and
 * DMARC look-ups that need them. It sends each query from its own
 * connected UDP socket (random source port and id) to the configured
 * recursive servers in turn, retries, falls back to TCP on truncation and
 * follows CNAME chains inside the answer. Loop thread only; callbacks run
 * from the loop, never from inside dnsq_query.
 */
#ifndef MOAT_DNSQ_H
#define MOAT_DNSQ_H

#include <sys/socket.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNSQ_NAME_MAX		253	/* a query name */
#define DNSQ_UDP_MAX		1232	/* EDNS0 payload size we offer */
#define DNSQ_TCP_MAX		65535
#define DNSQ_RR_MAX		64	/* answer records kept */
#define DNSQ_TXT_MAX		4096	/* one TXT record, strings joined */
#define DNSQ_CNAME_MAX		8	/* CNAME hops followed */
#define DNSQ_SERVERS_MAX	8
#define DNSQ_ATTEMPTS		3	/* UDP sends per query */
#define DNSQ_INFLIGHT_MAX	256	/* sockets open at once; more wait */

/* RR types we ask for. */
#define DNSQ_T_A	1
#define DNSQ_T_CNAME	5
#define DNSQ_T_PTR	12
#define DNSQ_T_MX	15
#define DNSQ_T_TXT	16
#define DNSQ_T_AAAA	28

enum dnsq_status {
	DNSQ_OK = 0,		/* at least one record of the type */
	DNSQ_NODATA,		/* the name exists, no such record */
	DNSQ_NXDOMAIN,
	DNSQ_SERVFAIL,		/* server failure or refusal: temporary */
	DNSQ_TIMEOUT,
	DNSQ_ERROR,		/* bad name, no server, local failure */
};

struct dnsq_rr {
	int		 type;
	unsigned	 pref;		/* MX preference */
	char		*data;		/* owned: TXT text (strings joined),
					 * MX/PTR/CNAME name, A/AAAA literal */
};

struct dnsq_answer {
	enum dnsq_status status;
	struct dnsq_rr	*rr;		/* owned */
	size_t		 nrr;
	uint32_t	 ttl;		/* lowest TTL seen */
};

struct event_base;
struct dnsq;
struct dnsq_req;

/* The answer is borrowed for the callback's duration. */
typedef void	(*dnsq_cb)(const struct dnsq_answer *, void *arg);

struct dnsq	*dnsq_new(struct event_base *);
void		 dnsq_free(struct dnsq *);	/* cancels silently */
/* Replace the server list. Queries in flight keep their servers. */
void		 dnsq_set_servers(struct dnsq *,
		     const struct sockaddr_storage *, const socklen_t *,
		     size_t n);
void		 dnsq_set_timeout(struct dnsq *, int ms);
/* Start a query; cb runs later exactly once unless cancelled. Never NULL. */
struct dnsq_req	*dnsq_query(struct dnsq *, const char *name, int type,
		     dnsq_cb, void *arg);
/* Drop a query; its callback will not run. */
void		 dnsq_cancel(struct dnsq_req *);
size_t		 dnsq_inflight(const struct dnsq *);

/* Wire format, exposed for the tests. dnsq_build returns the length or
 * -1; dnsq_parse fills out and returns 0, or -1 when the packet is not an
 * answer to that question (wrong id, question, or malformed). */
int	dnsq_build(uint8_t *buf, size_t len, uint16_t id, const char *name,
	    int type);
int	dnsq_parse(const uint8_t *buf, size_t len, uint16_t id,
	    const char *name, int type, struct dnsq_answer *out,
	    bool *truncated);
void	dnsq_answer_clear(struct dnsq_answer *);
const char *dnsq_status_name(enum dnsq_status);

#endif
