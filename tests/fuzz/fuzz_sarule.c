/*
 * libFuzzer target for the SpamAssassin-syntax rule engine.
 *   - Input starting with 'L': "L<pattern>\n<subject>". Checks that the
 *     required-literal extraction is sound: when PCRE2 finds the pattern
 *     in the subject, one of the pattern's literals occurs there (without
 *     case). An unsound literal would make Hyperscan skip a rule that hits.
 *   - Any other input is a rule file: it is parsed, compiled (with the
 *     Hyperscan prefilter) and run on a small message; nothing may crash,
 *     leak or stall, and a rule's value never depends on the prefilter.
 *
 *   clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
 *     -Ishared -Idaemon $(pkg-config --cflags gmime-3.0 libhs libpcre2-8) \
 *     -o build/fuzz_sarule tests/fuzz/fuzz_sarule.c daemon/sarule_*.c \
 *     daemon/psl.c shared/buf.c shared/log.c shared/util.c \
 *     shared/xmalloc.c $(pkg-config --libs gmime-3.0 libhs libpcre2-8)
 *   build/fuzz_sarule -max_len=4096 -timeout=5 rules.d/spam
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "msg.h"
#include "sarule.h"
#include "sarule_int.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static bool
contains_nocase(const char *hay, size_t hlen, const char *lit, size_t llen)
{
	size_t	i;

	for (i = 0; i + llen <= hlen; i++)
		if (strncasecmp(hay + i, lit, llen) == 0)
			return true;
	return false;
}

static void
literals(const char *in, size_t len)
{
	const char		*nl = memchr(in, '\n', len);
	char			*re, *subj;
	size_t			 slen, n, i;
	struct sr_lit		*v;
	pcre2_code		*code;
	pcre2_match_data	*md;
	int			 ec, rc;
	PCRE2_SIZE		 off;
	bool			 found = false;

	if (nl == NULL)
		return;
	re = strndup(in, (size_t)(nl - in));
	slen = len - (size_t)(nl - in) - 1;
	subj = strndup(nl + 1, slen);
	slen = strlen(subj);		/* the engine's subjects have no NUL */
	if (re == NULL || subj == NULL ||
	    sr_lit_extract(re, 0, &v, &n) == -1)
		goto out;
	code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, 0, &ec,
	    &off, NULL);
	if (code != NULL) {
		md = pcre2_match_data_create(1, NULL);
		rc = pcre2_match(code, (PCRE2_SPTR)subj, slen, 0, 0, md, NULL);
		if (rc >= 0) {
			for (i = 0; i < n && !found; i++)
				found = contains_nocase(subj, slen, v[i].s,
				    v[i].len);
			if (!found)
				abort();	/* unsound literal */
		}
		pcre2_match_data_free(md);
		pcre2_code_free(code);
	}
	sr_lit_free(v, n);
out:
	free(re);
	free(subj);
}

static void
rules(const char *text)
{
	struct sarule_opts	 o1 = { .score_set = 0, .hyperscan = false };
	struct sarule_opts	 o2 = { .score_set = 0, .hyperscan = true };
	struct sarule_set	*a, *b;
	struct sarule_result	 ra, rb;
	struct sarule_input	 in;
	struct msg		 m;
	struct msg_header	 h[2] = {
		{ "Subject", "free money now", "free money now" },
		{ "From", "A <a@example.com>", "A <a@example.com>" },
	};
	struct msg_part		 p = { .parent = -1, .content_type = "text/plain",
				    .is_text = true };
	struct msg_url		 u = { .url = "http://192.0.2.1/x",
				    .host = "192.0.2.1" };
	char			*cause = NULL;
	size_t			 i;

	memset(&m, 0, sizeof m);
	m.headers = h;
	m.nheaders = 2;
	m.subject = "free money now";
	p.text = "Dear friend, click here to win a prize!\n\nBye";
	p.text_len = strlen(p.text);
	p.data = (unsigned char *)"<b>Dear</b> friend";
	p.len = strlen((char *)p.data);
	m.parts = &p;
	m.nparts = 1;
	m.urls = &u;
	m.nurls = 1;
	m.raw = "Subject: free money now\n\nDear friend\n";
	m.raw_len = strlen(m.raw);

	a = sarule_set_new(&o1);
	b = sarule_set_new(&o2);
	sarule_set_add_text(a, "fuzz.cf", text);
	sarule_set_add_text(b, "fuzz.cf", text);
	if (sarule_set_compile(a, &cause) == 0 &&
	    sarule_set_compile(b, &cause) == 0) {
		memset(&in, 0, sizeof in);
		in.msg = &m;
		in.now = 1700000000;
		sarule_eval(a, &in, &ra);
		sarule_eval(b, &in, &rb);
		if (ra.nvalues != rb.nvalues)
			abort();
		for (i = 0; i < ra.nvalues; i++)
			if (ra.values[i] != rb.values[i]) {
				/* The prefilter changed a hit. */
				fprintf(stderr, "%s: %g without Hyperscan, "
				    "%g with\n", a->rules[i].name,
				    ra.values[i], rb.values[i]);
				abort();
			}
		sarule_result_free(&ra);
		sarule_result_free(&rb);
	}
	free(cause);
	sarule_set_free(a);
	sarule_set_free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char	*text;

	if (len > 0 && data[0] == 'L') {
		literals((const char *)data + 1, len - 1);
		return 0;
	}
	if ((text = strndup((const char *)data, len)) == NULL)
		return 0;
	rules(text);
	free(text);
	return 0;
}
