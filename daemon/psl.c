/*
 * The public-suffix heuristic of psl.h. Pure; any thread.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "psl.h"

/* Multi-label suffixes the generic rule below does not catch. */
static const char *const multi_suffixes[] = {
	"000webhostapp.com", "appspot.com", "azurewebsites.net",
	"blogspot.com", "br.com", "cloudapp.net", "cloudfront.net",
	"cn.com", "ddns.net", "de.com", "duckdns.org", "eu.com",
	"firebaseapp.com", "fly.dev", "github.io", "gitlab.io",
	"glitch.me", "gr.com", "herokuapp.com", "jpn.com", "myshopify.com",
	"netlify.app", "ngrok-free.app", "ngrok.io", "no-ip.biz",
	"no-ip.org", "onrender.com", "pages.dev", "qc.com", "r2.dev",
	"repl.co", "ru.com", "sa.com", "translate.goog", "uk.com",
	"uk.net", "us.com", "us.org", "vercel.app", "web.app",
	"webflow.io", "weebly.com", "wixsite.com", "workers.dev",
	"za.com",
};

/* Second levels that are public under a two-letter country code. */
static const char *const generic_second[] = {
	"ac", "art", "asn", "biz", "co", "com", "ed", "edu", "firm", "gen",
	"go", "gob", "gov", "govt", "gr", "id", "idv", "in", "ind", "info",
	"int", "lg", "ltd", "me", "med", "mil", "ne", "net", "nic", "nom",
	"or", "org", "plc", "res", "sch", "web",
};

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

static bool
in_list(const char *s, size_t len, const char *const *list, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (strlen(list[i]) == len && strncasecmp(list[i], s, len) == 0)
			return true;
	return false;
}

bool
psl_is_ip(const char *host)
{
	unsigned char	 a[16];
	char		 buf[64];
	size_t		 len = strlen(host);

	if (inet_pton(AF_INET, host, a) == 1)
		return true;
	if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
		if (len - 2 >= sizeof buf)
			return false;
		memcpy(buf, host + 1, len - 2);
		buf[len - 2] = '\0';
		host = buf;
	}
	return inet_pton(AF_INET6, host, a) == 1;
}

/* Start of the last n labels of name, or NULL when it has fewer. */
static const char *
last_labels(const char *name, size_t len, int n)
{
	const char	*p = name + len;

	while (p > name) {
		p--;
		if (*p == '.' && --n == 0)
			return p + 1;
	}
	return n == 1 ? name : NULL;
}

/* Number of labels of name's public suffix (1 or 2). */
static int
suffix_labels(const char *name, size_t len)
{
	const char	*tld, *sld;

	if ((tld = last_labels(name, len, 1)) == NULL)
		return 1;
	if ((sld = last_labels(name, len, 2)) == NULL || sld == tld)
		return 1;
	if (in_list(sld, len - (size_t)(sld - name), multi_suffixes,
	    NITEMS(multi_suffixes)))
		return 2;
	if (strlen(tld) == 2 && in_list(sld, (size_t)(tld - sld - 1),
	    generic_second, NITEMS(generic_second)))
		return 2;
	return 1;
}

static bool
valid_name(const char *name, size_t len)
{
	size_t	i;

	if (len == 0 || len > PSL_NAME_MAX || name[0] == '.' ||
	    name[len - 1] == '.')
		return false;
	for (i = 1; i < len; i++)
		if (name[i] == '.' && name[i - 1] == '.')
			return false;
	return true;
}

const char *
psl_registrable(const char *host)
{
	size_t	len = strlen(host);
	int	n;

	if (psl_is_ip(host))
		return host;
	if (!valid_name(host, len))
		return NULL;
	n = suffix_labels(host, len);
	return last_labels(host, len, n + 1);
}

bool
psl_is_suffix(const char *domain)
{
	size_t	len = strlen(domain);

	if (!valid_name(domain, len) || psl_is_ip(domain))
		return false;
	return last_labels(domain, len, suffix_labels(domain, len) + 1) ==
	    NULL;
}

bool
psl_in_domain(const char *name, const char *domain)
{
	size_t	nl = strlen(name), dl = strlen(domain);

	if (dl == 0 || nl < dl)
		return false;
	if (strcasecmp(name + nl - dl, domain) != 0)
		return false;
	return nl == dl || name[nl - dl - 1] == '.';
}
