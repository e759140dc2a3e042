/*
 * Bayes tokenizer and classifier math (see bayes.h). Pure functions over
 * caller-owned data: any thread.
 *
 * Token namespaces: body words have no prefix; "sk:" marks a long word
 * cut to its first characters; "D:" a domain or e-mail domain seen in
 * text; "H<field>:" header words, "HN:" header names present, "Hr:"
 * Received parts, "U:"/"UP:"/"US:" URL hosts, path pieces and schemes,
 * "P:" MIME parts, "F:" parser flags, "S:" size class.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bayes.h"
#include "finding.h"
#include "msg.h"
#include "util.h"
#include "xmalloc.h"

#define WORD_BYTES	256	/* a word kept whole (e-mails, domains) */
#define SHAPE_MAX	40	/* bytes of a shape token */
#define CJK_RUN_MAX	200	/* bigrams from one run of CJK text */
#define URL_PIECES_MAX	30
#define PREFIX_MAX	48

/* --- hashing and the token set ------------------------------------------- */

static uint64_t
load64(const unsigned char *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
	    (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 |
	    (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

/* MurmurHash64A's mixing with little-endian loads: stored hashes must not
 * depend on the machine. */
uint64_t
bayes_hash(const void *key, size_t len)
{
	const uint64_t		 m = 0xc6a4a7935bd1e995ULL;
	const unsigned char	*p = key;
	uint64_t		 h, k;
	size_t			 i;

	h = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)len * m);
	for (; len >= 8; p += 8, len -= 8) {
		k = load64(p) * m;
		k ^= k >> 47;
		h ^= k * m;
		h *= m;
	}
	if (len > 0) {
		for (i = len; i > 0; i--)
			h ^= (uint64_t)p[i - 1] << (8 * (i - 1));
		h *= m;
	}
	h ^= h >> 47;
	h *= m;
	h ^= h >> 47;
	return h != 0 ? h : 1;
}

static size_t
set_slot(uint64_t h, size_t mask)
{
	return (size_t)(h ^ (h >> 31)) & mask;
}

void
bayes_tokens_init(struct bayes_tokens *t, bool keep_text)
{
	memset(t, 0, sizeof *t);
	t->keep_text = keep_text;
	buf_init(&t->text, BAYES_TEXT_KEEP_MAX);
}

void
bayes_tokens_free(struct bayes_tokens *t)
{
	free(t->v);
	free(t->set);
	buf_free(&t->text);
	memset(t, 0, sizeof *t);
}

static void
set_grow(struct bayes_tokens *t)
{
	size_t	 cap = t->setcap ? t->setcap * 2 : 1024, i, s;
	uint64_t *set = xcalloc(cap, sizeof *set);

	for (i = 0; i < t->n; i++) {
		for (s = set_slot(t->v[i], cap - 1); set[s] != 0;
		    s = (s + 1) & (cap - 1))
			;
		set[s] = t->v[i];
	}
	free(t->set);
	t->set = set;
	t->setcap = cap;
}

static bool
tokens_add_hash(struct bayes_tokens *t, uint64_t h)
{
	size_t	s;

	if ((t->n + 1) * 2 > t->setcap)
		set_grow(t);
	for (s = set_slot(h, t->setcap - 1); t->set[s] != 0;
	    s = (s + 1) & (t->setcap - 1)) {
		if (t->set[s] == h)
			return false;
	}
	if (t->n >= BAYES_TOKENS_MAX) {
		t->dropped++;
		return false;
	}
	t->set[s] = h;
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 512;
		t->v = xreallocarray(t->v, t->cap, sizeof *t->v);
	}
	t->v[t->n++] = h;
	return true;
}

bool
bayes_tokens_add(struct bayes_tokens *t, const char *s, size_t len)
{
	if (!tokens_add_hash(t, bayes_hash(s, len)))
		return false;
	if (t->keep_text && (buf_append(&t->text, s, len) == -1 ||
	    buf_append(&t->text, "\n", 1) == -1))
		t->keep_text = false;	/* enough for a person to read */
	return true;
}

bool
bayes_tokens_has(const struct bayes_tokens *t, const char *tok)
{
	uint64_t	h = bayes_hash(tok, strlen(tok));
	size_t		s;

	if (t->setcap == 0)
		return false;
	for (s = set_slot(h, t->setcap - 1); t->set[s] != 0;
	    s = (s + 1) & (t->setcap - 1)) {
		if (t->set[s] == h)
			return true;
	}
	return false;
}

uint64_t *
bayes_tokens_steal(struct bayes_tokens *t, size_t *n)
{
	uint64_t	*v = t->v;

	*n = t->n;
	t->v = NULL;
	t->n = t->cap = 0;
	free(t->set);
	t->set = NULL;
	t->setcap = 0;
	return v;
}

/* prefix + s as one token; cut at BAYES_TOKEN_BYTES_MAX. */
static void
emit(struct bayes_tokens *t, const char *prefix, const char *s, size_t len)
{
	char	b[BAYES_TOKEN_BYTES_MAX];
	size_t	plen = strlen(prefix);

	if (plen > PREFIX_MAX)
		plen = PREFIX_MAX;
	if (len > sizeof b - plen)
		len = sizeof b - plen;
	memcpy(b, prefix, plen);
	memcpy(b + plen, s, len);
	bayes_tokens_add(t, b, plen + len);
}

static void
emits(struct bayes_tokens *t, const char *prefix, const char *s)
{
	emit(t, prefix, s, strlen(s));
}

/* --- characters ----------------------------------------------------------- */

enum cclass {
	CC_SEP = 0,
	CC_WORD,	/* letters, digits */
	CC_INNER,	/* punctuation kept inside a word: "$1,000" "f*ck" */
	CC_IGNORE,	/* invisible: zero-width, soft hyphen */
	CC_CJK,		/* no spaces between words: bigrams */
	CC_SYMBOL,	/* pictographs: a token each */
};


/* Case and width folding: upper to lower case for the scripts spam is
 * written in, full-width ASCII to ASCII, typographic apostrophes to '. */
static uint32_t
fold(uint32_t c)
{
	if (c < 0x80)
		return c >= 'A' && c <= 'Z' ? c + 0x20 : c;
	if (c >= 0xff01 && c <= 0xff5e)		/* full-width ASCII */
		return fold(c - 0xfee0);
	if (c == 0x2018 || c == 0x2019 || c == 0x02bc)
		return '\'';
	if ((c >= 0xc0 && c <= 0xde && c != 0xd7) ||	/* Latin-1 */
	    (c >= 0x391 && c <= 0x3a9 && c != 0x3a2) ||	/* Greek */
	    (c >= 0x410 && c <= 0x42f))			/* Cyrillic */
		return c + 0x20;
	if (c >= 0x400 && c <= 0x40f)
		return c + 0x50;
	if (c >= 0x100 && c <= 0x17f) {			/* Latin Extended-A */
		if (c == 0x178)
			return 0xff;
		if ((c <= 0x137 || (c >= 0x14a && c <= 0x177)) &&
		    (c & 1) == 0)
			return c + 1;
		if (((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e))
		    && (c & 1) == 1)
			return c + 1;
	}
	return c;
}

static bool
is_upper(uint32_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 0xff21 && c <= 0xff3a) ||
	    (c >= 0xc0 && c <= 0xde && c != 0xd7) ||
	    (c >= 0x391 && c <= 0x3a9) || (c >= 0x400 && c <= 0x42f);
}

static enum cclass
classify(uint32_t c)
{
	if (c < 0x80) {
		if (isalnum((int)c))
			return CC_WORD;
		return strchr("-'.,$!@*_%", (int)c) != NULL && c != 0 ?
		    CC_INNER : CC_SEP;
	}
	if (c == 0xad || c == 0x34f || (c >= 0x200b && c <= 0x200f) ||
	    (c >= 0x2060 && c <= 0x2064) || c == 0xfeff)
		return CC_IGNORE;
	if ((c >= 0xa2 && c <= 0xa5) || (c >= 0x20a0 && c <= 0x20cf))
		return CC_INNER;			/* currency signs */
	if (c < 0xc0 || c == 0xd7 || c == 0xf7 || c == 0xfffd)
		return CC_SEP;
	if ((c >= 0x2000 && c <= 0x206f) || (c >= 0x2190 && c <= 0x23ff) ||
	    (c >= 0x2500 && c <= 0x25ff) || (c >= 0x3000 && c <= 0x303f) ||
	    (c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff00 && c <= 0xff0f) ||
	    (c >= 0xe000 && c <= 0xf8ff))
		return CC_SEP;
	if ((c >= 0x2600 && c <= 0x27bf) || (c >= 0x1f000 && c <= 0x1faff))
		return CC_SYMBOL;
	if ((c >= 0x3040 && c <= 0x30ff) || (c >= 0x3400 && c <= 0x4dbf) ||
	    (c >= 0x4e00 && c <= 0x9fff) || (c >= 0xac00 && c <= 0xd7af) ||
	    (c >= 0xf900 && c <= 0xfaff))
		return CC_CJK;
	return CC_WORD;
}

/* --- words ---------------------------------------------------------------- */

struct word {
	char	 b[WORD_BYTES];		/* folded UTF-8 */
	size_t	 len;
	size_t	 nchars;		/* code points, also past b */
	bool	 cut;			/* b holds only the start */
	unsigned upper;
	unsigned lower;
};

/* Very common words: squarely in the middle, they only cost space. */
static const char *const stopwords[] = {
	"about", "after", "also", "and", "any", "are", "been", "but", "can",
	"could", "did", "does", "for", "from", "had", "has", "have", "her",
	"his", "how", "into", "its", "may", "not", "one", "only", "other",
	"our", "she", "should", "some", "than", "that", "the", "their",
	"them", "then", "there", "these", "they", "this", "was", "were",
	"what", "when", "which", "who", "will", "with", "would",
};

static int
stop_cmp(const void *key, const void *elem)
{
	return strcmp(key, *(const char *const *)elem);
}

static bool
is_stopword(const char *w, size_t len)
{
	char	b[8];

	if (len < 3 || len > 6)
		return false;
	memcpy(b, w, len);
	b[len] = '\0';
	return bsearch(b, stopwords, sizeof stopwords / sizeof stopwords[0],
	    sizeof stopwords[0], stop_cmp) != NULL;
}

static bool
is_trim(char c)
{
	return c == '-' || c == '\'' || c == '.' || c == ',' || c == '_' ||
	    c == '*';
}

static bool
is_ipv4(const char *s, size_t len)
{
	size_t	i, dots = 0, digits = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (digits == 0 || digits > 3)
				return false;
			dots++;
			digits = 0;
		} else if (isdigit((unsigned char)s[i]))
			digits++;
		else
			return false;
	}
	return dots == 3 && digits > 0 && digits <= 3;
}

/* "host.example.com": letters, digits, dots and hyphens, a dot, and a
 * top-level label of 2 to 12 letters. */
static bool
is_domain(const char *s, size_t len)
{
	const char	*last;
	size_t		 i, tl;

	if (len < 4 || memchr(s, '.', len) == NULL)
		return false;
	for (i = 0; i < len; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '-')
			return false;
		if (s[i] == '.' && (i == 0 || s[i - 1] == '.'))
			return false;
	}
	last = memrchr(s, '.', len) + 1;
	tl = len - (size_t)(last - s);
	if (tl < 2 || tl > 12)
		return false;
	for (i = 0; i < tl; i++) {
		if (!isalpha((unsigned char)last[i]))
			return false;
	}
	return true;
}

/* A host and its parent domains down to two labels, under prefix. */
static void
domain_tokens(struct bayes_tokens *t, const char *prefix, const char *host,
    size_t len)
{
	const char	*p, *end = host + len;

	while (len > 0 && host[len - 1] == '.')
		len--;
	end = host + len;
	if (len == 0)
		return;
	emit(t, prefix, host, len);
	if (is_ipv4(host, len))
		return;
	for (p = memchr(host, '.', len); p != NULL;
	    p = memchr(p + 1, '.', (size_t)(end - p - 1))) {
		if (memchr(p + 1, '.', (size_t)(end - p - 1)) == NULL)
			break;		/* only the top-level label is left */
		emit(t, prefix, p + 1, (size_t)(end - p - 1));
	}
}

static void
cat_prefix(char *out, size_t size, const char *a, const char *b)
{
	size_t	la = strlen(a), lb = strlen(b);

	if (la >= size)
		la = size - 1;
	if (lb >= size - la)
		lb = size - la - 1;
	memcpy(out, a, la);
	memcpy(out + la, b, lb);
	out[la + lb] = '\0';
}

/* A finished word. Addresses and domains go under dprefix (a namespace
 * shared by header fields that repeat one list or host address). */
static void
word_done(struct bayes_tokens *t, const char *prefix, const char *dprefix,
    struct word *w)
{
	char		 dp[PREFIX_MAX + 4], strip[WORD_BYTES];
	const char	*s = w->b, *at;
	size_t		 len = w->len, nchars = w->nchars, i, n, k;

	while (len > 0 && is_trim(*s)) {
		s++;
		len--;
		nchars--;
	}
	while (len > 0 && is_trim(s[len - 1]) && !w->cut) {
		len--;
		nchars--;
	}
	if (nchars < 3 || len == 0)
		return;
	if (w->cut || nchars > BAYES_WORD_CHARS_MAX) {
		if (!w->cut && (at = memchr(s, '@', len)) != NULL &&
		    at > s && is_domain(at + 1, len - (size_t)(at - s) - 1))
			goto email;
		if (!w->cut && is_domain(s, len))
			goto domain;
		/* Keep the first characters: long words are rarely repeated,
		 * but their starts are (base64, encoded tracking ids). */
		for (i = 0, k = 0; i < len && k < BAYES_SKIP_KEEP; k++) {
			i++;
			while (i < len && ((unsigned char)s[i] & 0xc0) == 0x80)
				i++;
		}
		cat_prefix(dp, sizeof dp, prefix, "sk:");
		emit(t, dp, s, i);
		return;
	}
	if ((at = memchr(s, '@', len)) != NULL && at > s &&
	    is_domain(at + 1, len - (size_t)(at - s) - 1))
		goto email;
	if (is_domain(s, len))
		goto domain;
	if (is_stopword(s, len))
		return;
	emit(t, prefix, s, len);
	/* "free!" and "$1,000" also count as "free" and "1000". */
	for (i = 0, n = 0; i < len; i++) {
		if (!((unsigned char)s[i] < 0x80 &&
		    classify((unsigned char)s[i]) == CC_INNER))
			strip[n++] = s[i];
	}
	if (n != len && n >= 3 && !is_stopword(strip, n))
		emit(t, prefix, strip, n);
	/* Shouting is a sign of its own. */
	if (w->upper >= 3 && w->lower == 0) {
		cat_prefix(dp, sizeof dp, prefix, "AC:");
		emit(t, dp, strip, n);
	}
	return;
email:
	emit(t, dprefix, s, len);
	cat_prefix(dp, sizeof dp, dprefix, "D:@");
	domain_tokens(t, dp, at + 1, len - (size_t)(at - s) - 1);
	return;
domain:
	cat_prefix(dp, sizeof dp, dprefix, "D:");
	domain_tokens(t, dp, s, len);
}

static void
cjk_done(struct bayes_tokens *t, const char *prefix, const uint32_t *run,
    size_t n)
{
	char	b[8];
	size_t	i, l;

	if (n == 1) {
		l = util_utf8_encode(run[0], b);
		emit(t, prefix, b, l);
		return;
	}
	for (i = 0; i + 1 < n; i++) {
		l = util_utf8_encode(run[i], b);
		l += util_utf8_encode(run[i + 1], b + l);
		emit(t, prefix, b, l);
	}
}

static void
text_words(struct bayes_tokens *t, const char *prefix, const char *dprefix,
    const char *text, size_t len)
{
	const unsigned char	*p = (const unsigned char *)text;
	const unsigned char	*end = p + len;
	struct word		 w;
	uint32_t		 c, f, cjk[CJK_RUN_MAX + 1];
	size_t			 ncjk = 0, l;
	enum cclass		 cc;
	char			 b[4];

	memset(&w, 0, sizeof w);
	while (p < end) {
		p += util_utf8_decode(p, (size_t)(end - p), &c);
		cc = classify(fold(c));
		if (cc == CC_IGNORE)
			continue;
		if (cc != CC_CJK && ncjk > 0) {
			cjk_done(t, prefix, cjk, ncjk);
			ncjk = 0;
		}
		if (cc == CC_WORD || cc == CC_INNER) {
			f = fold(c);	/* again: cheap, keeps c for case */
			if (is_upper(c))
				w.upper++;
			else if ((c >= 'a' && c <= 'z') ||
			    (c >= 0x80 && cc == CC_WORD))
				w.lower++;
			w.nchars++;
			if (w.cut)
				continue;
			if (w.len + 4 >= sizeof w.b) {
				w.cut = true;
				continue;
			}
			w.len += util_utf8_encode(f, w.b + w.len);
			continue;
		}
		if (w.nchars > 0) {
			word_done(t, prefix, dprefix, &w);
			memset(&w, 0, sizeof w);
		}
		if (cc == CC_CJK) {
			if (ncjk == CJK_RUN_MAX) {
				cjk_done(t, prefix, cjk, ncjk);
				ncjk = 0;
			}
			cjk[ncjk++] = c;
		} else if (cc == CC_SYMBOL) {
			l = util_utf8_encode(c, b);
			emit(t, prefix, b, l);
		}
	}
	if (ncjk > 0)
		cjk_done(t, prefix, cjk, ncjk);
	if (w.nchars > 0)
		word_done(t, prefix, dprefix, &w);
}

void
bayes_tokenize_text(struct bayes_tokens *t, const char *prefix,
    const char *text, size_t len)
{
	text_words(t, prefix, prefix, text, len);
}

/* --- headers -------------------------------------------------------------- */

/* The look of an identifier: runs of digits become 9, of lower-case
 * letters a, of capitals A, of mixed letters L, of letters and digits x;
 * punctuation stays. Spamware writes Message-IDs and boundaries its own
 * way. */
static void
shape(const char *s, size_t len, char *out, size_t size)
{
	size_t	i = 0, o = 0;
	int	d, lo, up;
	char	c;

	while (i < len && o + 1 < size) {
		if (isspace((unsigned char)s[i])) {
			if (o > 0 && out[o - 1] != ' ')
				out[o++] = ' ';
			i++;
			continue;
		}
		if (!isalnum((unsigned char)s[i])) {
			out[o++] = s[i++];
			continue;
		}
		d = lo = up = 0;
		for (; i < len && isalnum((unsigned char)s[i]); i++) {
			if (isdigit((unsigned char)s[i]))
				d = 1;
			else if (islower((unsigned char)s[i]))
				lo = 1;
			else
				up = 1;
		}
		if (d && (lo || up))
			c = 'x';
		else if (d)
			c = '9';
		else if (lo && up)
			c = 'L';
		else
			c = lo ? 'a' : 'A';
		out[o++] = c;
	}
	out[o] = '\0';
}

/* Lower-case ASCII copy of at most size - 1 bytes. */
static size_t
lower_copy(const char *s, size_t len, char *out, size_t size)
{
	size_t	i;

	if (len > size - 1)
		len = size - 1;
	for (i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[len] = '\0';
	return len;
}

static bool
is_sep_received(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '(' ||
	    c == ')' || c == '[' || c == ']' || c == '<' || c == '>' ||
	    c == ';' || c == ',' || c == '=' || c == '"';
}

/* Received: the hosts, networks, protocols and MTA versions; not the
 * queue ids, dates and times, which are noise. */
static void
tok_received(struct bayes_tokens *t, const char *v, size_t len)
{
	const char	*semi, *p, *end, *dot;
	char		 w[WORD_BYTES];
	size_t		 n, i, alpha, digit, raw;
	bool		 skip_next = false;

	if ((semi = memrchr(v, ';', len)) != NULL)
		len = (size_t)(semi - v);
	end = v + len;
	for (p = v; p < end;) {
		while (p < end && is_sep_received(*p))
			p++;
		for (raw = 0; p + raw < end && !is_sep_received(p[raw]); raw++)
			;
		if (raw == 0)
			break;
		n = lower_copy(p, raw, w, sizeof w);
		p += raw;
		while (n > 0 && (w[n - 1] == '.' || w[n - 1] == ':'))
			w[--n] = '\0';
		if (n == 0)
			continue;
		if (skip_next) {
			skip_next = false;
			continue;
		}
		if (strcmp(w, "id") == 0) {
			skip_next = true;
			continue;
		}
		for (i = alpha = digit = 0; i < n; i++) {
			if (isalpha((unsigned char)w[i]))
				alpha++;
			else if (isdigit((unsigned char)w[i]))
				digit++;
		}
		if (is_ipv4(w, n)) {
			emits(t, "Hr:ip:", w);
			dot = memrchr(w, '.', n);
			emit(t, "Hr:ip:", w, (size_t)(dot - w));
			dot = memrchr(w, '.', (size_t)(dot - w));
			emit(t, "Hr:ip:", w, (size_t)(dot - w));
		} else if (strchr(w, '@') != NULL) {
			dot = strchr(w, '@') + 1;
			domain_tokens(t, "Hr:", dot, strlen(dot));
		} else if (alpha > 0 && strchr(w, '.') != NULL &&
		    strchr(w, ':') == NULL)
			domain_tokens(t, "Hr:", w, n);
		else if (strchr(w, ':') != NULL && alpha + digit > 0 &&
		    strspn(w, "0123456789abcdef:") == n)
			emit(t, "Hr:ip6:", w, n > 9 ? 9 : n);
		else if (alpha == n && n >= 2 && n <= BAYES_WORD_CHARS_MAX)
			emit(t, "Hr:", w, n);
		else if (n <= BAYES_WORD_CHARS_MAX && digit > 0 &&
		    (strchr(w, '.') != NULL || strchr(w, '/') != NULL))
			emit(t, "Hr:v:", w, n);		/* MTA versions */
	}
}

static void
tok_msgid(struct bayes_tokens *t, const char *v, size_t len)
{
	const char	*lt, *at, *gt, *end = v + len;
	char		 s[SHAPE_MAX], d[WORD_BYTES];
	size_t		 n;

	lt = memchr(v, '<', len);
	lt = lt != NULL ? lt + 1 : v;
	gt = memchr(lt, '>', (size_t)(end - lt));
	if (gt == NULL)
		gt = end;
	if ((at = memrchr(lt, '@', (size_t)(gt - lt))) == NULL) {
		emits(t, "Hmid:", "noat");
		at = gt;
	} else {
		n = lower_copy(at + 1, (size_t)(gt - at - 1), d, sizeof d);
		domain_tokens(t, "Hmid:", d, n);
	}
	shape(lt, (size_t)(at - lt), s, sizeof s);
	emits(t, "Hmid:s:", s);
}

static void
tok_date(struct bayes_tokens *t, const char *v, size_t len)
{
	char		 s[SHAPE_MAX], z[16];
	const char	*p, *end = v + len;
	size_t		 n;

	shape(v, len, s, sizeof s);
	emits(t, "Hdate:s:", s);
	/* The zone: the first +hhmm/-hhmm or a name after the time. */
	for (p = v; p < end; p++) {
		if ((*p == '+' || *p == '-') && end - p >= 5 &&
		    strspn(p + 1, "0123456789") >= 4) {
			emit(t, "Hdate:tz:", p, 5);
			return;
		}
	}
	p = memrchr(v, ' ', len);
	if (p != NULL) {
		n = lower_copy(p + 1, (size_t)(end - p - 1), z, sizeof z);
		if (n > 0)
			emit(t, "Hdate:tz:", z, n);
	}
}

/* Content-Type: type, charset and the boundary's shape. */
static void
tok_ctype(struct bayes_tokens *t, const char *prefix, const char *v,
    size_t len)
{
	char		 w[WORD_BYTES], pp[PREFIX_MAX + 8], s[SHAPE_MAX];
	const char	*p, *end = v + len, *e;
	size_t		 n;

	while (v < end && isspace((unsigned char)*v))
		v++;
	for (n = 0; v + n < end && v[n] != ';' && !isspace((unsigned char)v[n]);
	    n++)
		;
	n = lower_copy(v, n, w, sizeof w);
	emit(t, prefix, w, n);
	for (p = v; p < end; p++) {
		if (strncasecmp(p, "charset=", 8) == 0 && end - p > 8) {
			p += 8;
			if (*p == '"')
				p++;
			for (e = p; e < end && *e != '"' && *e != ';' &&
			    !isspace((unsigned char)*e); e++)
				;
			n = lower_copy(p, (size_t)(e - p), w, sizeof w);
			cat_prefix(pp, sizeof pp, prefix, "cs:");
			emit(t, pp, w, n);
			p = e - 1;
		} else if (strncasecmp(p, "boundary=", 9) == 0 &&
		    end - p > 9) {
			p += 9;
			if (*p == '"')
				p++;
			for (e = p; e < end && *e != '"' && *e != ';'; e++)
				;
			shape(p, (size_t)(e - p), s, sizeof s);
			cat_prefix(pp, sizeof pp, prefix, "b:");
			emits(t, pp, s);
			p = e - 1;
		}
	}
}

/* Fields written by mailboxes and filters, not by senders: no sign of
 * anything, or a sign some other filter already gave. */
static bool
header_ignored(const char *name)
{
	static const char *const prefixes[] = {
		"x-moat-", "x-spam-", "x-virus-", "x-amavis-", "x-dspam-",
		"x-rspamd-", "x-bogosity", "x-mozilla-", "x-evolution",
	};
	/* And fields added at delivery, after any gateway. */
	static const char *const names[] = {
		"status", "x-status", "x-keywords", "x-uid", "content-length",
		"lines", "x-imap", "x-imapbase", "delivered-to",
		"return-path", "x-original-to",
	};
	size_t	i;

	for (i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

/* Fields whose whole value is telling ("Microsoft Outlook Express 6.00"). */
static bool
header_whole(const char *name)
{
	static const char *const names[] = {
		"x-mailer", "user-agent", "x-mimeole", "x-msmail-priority",
		"x-priority", "mime-version", "content-transfer-encoding",
		"importance", "precedence", "x-newsreader",
	};
	size_t	i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

static void
tok_header(struct bayes_tokens *t, const struct msg_header *h,
    size_t *nreceived)
{
	char		 name[32], prefix[PREFIX_MAX], wp[PREFIX_MAX + 2];
	char		 w[128];
	const char	*v = h->value != NULL ? h->value : "";
	size_t		 len = strlen(v), n;

	lower_copy(h->name, strlen(h->name), name, sizeof name);
	if (name[0] == '\0' || header_ignored(name))
		return;
	emits(t, "HN:", name);
	if (len > BAYES_HEADER_VALUE_MAX)
		len = BAYES_HEADER_VALUE_MAX;
	if (strcmp(name, "received") == 0) {
		if ((*nreceived)++ < BAYES_RECEIVED_MAX)
			tok_received(t, v, len);
		return;
	}
	if (strcmp(name, "message-id") == 0) {
		tok_msgid(t, v, len);
		return;
	}
	if (strcmp(name, "date") == 0) {
		tok_date(t, v, len);
		return;
	}
	if (strcmp(name, "content-type") == 0) {
		tok_ctype(t, "Hct:", v, len);
		return;
	}
	if (strcmp(name, "to") == 0 || strcmp(name, "cc") == 0)
		snprintf(prefix, sizeof prefix, "Hto:");
	else if (strcmp(name, "sender") == 0)
		snprintf(prefix, sizeof prefix, "Hfrom:");
	else
		snprintf(prefix, sizeof prefix, "H%s:", name);
	if (header_whole(name)) {
		while (len > 0 && isspace((unsigned char)*v)) {
			v++;
			len--;
		}
		n = lower_copy(v, len, w, sizeof w);
		snprintf(wp, sizeof wp, "%s=", prefix);
		emit(t, wp, w, n);
	}
	/* Senders and recipients keep their field; other fields share one
	 * namespace for addresses and domains (List-*, Errors-To, ...), and
	 * only their start counts: long boilerplate (X-AntiAbuse) would be
	 * many tokens that always come together. */
	if (strcmp(name, "from") == 0 || strcmp(name, "to") == 0 ||
	    strcmp(name, "cc") == 0 || strcmp(name, "reply-to") == 0 ||
	    strcmp(name, "sender") == 0)
		text_words(t, prefix, prefix, v, len);
	else
		text_words(t, prefix, "H:", v, len > BAYES_OTHER_FIELD_MAX ?
		    BAYES_OTHER_FIELD_MAX : len);
}

/* --- URLs and parts ------------------------------------------------------- */

static void
tok_url(struct bayes_tokens *t, const struct msg_url *u)
{
	const char	*s = u->url, *p, *q;
	char		 w[WORD_BYTES];
	size_t		 n, pieces = 0;

	if (u->host != NULL && *u->host != '\0') {
		if (is_ipv4(u->host, strlen(u->host)))
			emits(t, "U:", "ip");
		domain_tokens(t, "U:", u->host, strlen(u->host));
	}
	if (s == NULL)
		return;
	if ((p = strchr(s, ':')) != NULL && p - s <= 10) {
		n = lower_copy(s, (size_t)(p - s), w, sizeof w);
		emit(t, "US:", w, n);
		s = p + 1;
	}
	while (*s == '/')
		s++;
	s += strcspn(s, "/?#");		/* past the authority */
	/* Path and query pieces. */
	for (p = s; *p != '\0' && pieces < URL_PIECES_MAX; p = q) {
		while (*p != '\0' && strchr("/?&=#.-_+%;:~", *p) != NULL)
			p++;
		q = p + strcspn(p, "/?&=#.-_+%;:~");
		n = (size_t)(q - p);
		if (n < 3)
			continue;
		pieces++;
		if (n > BAYES_WORD_CHARS_MAX) {
			n = lower_copy(p, BAYES_SKIP_KEEP, w, sizeof w);
			emit(t, "UP:sk:", w, n);
		} else {
			n = lower_copy(p, n, w, sizeof w);
			emit(t, "UP:", w, n);
		}
	}
}

static void
tok_part(struct bayes_tokens *t, const struct msg_part *p)
{
	const char	*dot;
	char		 w[WORD_BYTES];
	size_t		 n;

	if (p->content_type != NULL)
		emits(t, "P:", p->content_type);
	if (p->charset != NULL)
		emits(t, "P:cs:", p->charset);
	if (p->disposition != NULL)
		emits(t, "P:d:", p->disposition);
	if (p->sniffed_type != NULL) {
		emits(t, "P:st:", p->sniffed_type);
		if (p->content_type != NULL &&
		    strcmp(p->sniffed_type, p->content_type) != 0 &&
		    p->is_attachment)
			emits(t, "P:", "mismatch");
	}
	if (p->filename != NULL) {
		/* The name, its extension, the words before the first dot
		 * (which would look like a domain with the rest). */
		n = lower_copy(p->filename, strlen(p->filename), w, sizeof w);
		emit(t, "P:fn:", w, n);
		if ((dot = strrchr(w, '.')) != NULL && strlen(dot + 1) <= 10)
			emits(t, "P:ext:", dot + 1);
		bayes_tokenize_text(t, "P:fn:", w, strcspn(w, "."));
	}
}

static const char *
count_class(size_t n)
{
	static const char *const names[] = { "0", "1", "2", "3", "4-7",
	    "8-15", "16+" };

	if (n <= 3)
		return names[n];
	return n < 8 ? names[4] : n < 16 ? names[5] : names[6];
}

void
bayes_tokenize(const struct msg *m, struct bayes_tokens *t)
{
	size_t	i, nreceived = 0, bits;
	char	b[16];

	for (i = 0; i < m->nheaders && i < BAYES_HEADERS_MAX; i++)
		tok_header(t, &m->headers[i], &nreceived);
	if (m->body_text != NULL)
		bayes_tokenize_text(t, "", m->body_text,
		    m->body_text_len < BAYES_TEXT_MAX ? m->body_text_len :
		    BAYES_TEXT_MAX);
	for (i = 0; i < m->nurls && i < BAYES_URLS_MAX; i++)
		tok_url(t, &m->urls[i]);
	emits(t, "U:n:", count_class(m->nurls));
	for (i = 0; i < m->nparts && i < BAYES_PARTS_MAX; i++)
		tok_part(t, &m->parts[i]);
	emits(t, "P:n:", count_class(m->nparts));
	if (m->flags & MSG_MALFORMED)
		emits(t, "F:", "malformed");
	if (m->flags & MSG_TRUNCATED)
		emits(t, "F:", "truncated");
	if (m->flags & MSG_NO_HEADERS)
		emits(t, "F:", "noheaders");
	for (bits = 0; bits < 40 && ((size_t)1 << bits) <= m->raw_len; bits++)
		;
	snprintf(b, sizeof b, "%zu", bits);
	emits(t, "S:", b);
}

/* FNV-1a over the body without CRs or trailing line ends, so a message
 * saved to a file with LF line ends keeps its identity. */
static uint64_t
body_hash(const char *p, size_t len)
{
	uint64_t	h = 0xcbf29ce484222325ULL;
	size_t		i;

	while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r'))
		len--;
	while (len > 0 && (*p == '\n' || *p == '\r')) {
		p++;
		len--;
	}
	for (i = 0; i < len; i++) {
		if (p[i] == '\r')
			continue;
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

uint64_t
bayes_msg_key(const struct msg *m)
{
	const char	*fields[4] = { m->message_id, m->date, m->from_addr,
	    m->subject };
	unsigned char	 b[8 * 5];
	uint64_t	 h[5];
	size_t		 i, k;

	for (i = 0; i < 4; i++)
		h[i] = fields[i] != NULL ? bayes_hash(fields[i],
		    strlen(fields[i])) : 0;
	if (m->raw != NULL && m->header_len <= m->raw_len)
		h[4] = body_hash(m->raw + m->header_len,
		    m->raw_len - m->header_len);
	else
		h[4] = body_hash(m->body_text != NULL ? m->body_text : "",
		    m->body_text != NULL ? m->body_text_len : 0);
	for (i = 0; i < 5; i++)
		for (k = 0; k < 8; k++)
			b[i * 8 + k] = (unsigned char)(h[i] >> (8 * k));
	return bayes_hash(b, sizeof b);
}

/* --- the classifier ------------------------------------------------------- */

/* Robinson's x and the idea of an ignored middle band come from
 * SpamAssassin; s, the band and the number of tokens combined were tuned
 * by cross-validation (tests/quality/bayes_cv.c -s): a stronger prior than
 * SpamAssassin's 0.03 keeps single sightings (hapaxes, often many from one
 * mailing list footer) from outvoting tokens seen many times. */
const struct bayes_params bayes_params_default = {
	.s = 0.3,
	.x = 0.538,
	.min_strength = 0.25,
	.significant = 300,
};

double
bayes_token_prob(const struct bayes_params *bp, uint32_t spam, uint32_t ham,
    uint32_t nspam, uint32_t nham)
{
	double	rs, rh, p, n;

	if (nspam == 0 || nham == 0 || (spam == 0 && ham == 0))
		return -1;
	rs = (double)spam / nspam;
	rh = (double)ham / nham;
	if (rs > 1)
		rs = 1;
	if (rh > 1)
		rh = 1;
	p = rs / (rs + rh);
	n = (double)spam + ham;
	return (bp->s * bp->x + n * p) / (bp->s + n);
}

double
bayes_chi2q(double x2, unsigned v)
{
	double	m = x2 / 2.0, sum, term, lm;
	unsigned i;

	if (x2 <= 0)
		return 1.0;
	if (v < 2)
		v = 2;
	if (m < 700) {
		sum = term = exp(-m);
		for (i = 1; i < v / 2; i++) {
			term *= m / i;
			sum += term;
		}
	} else {
		/* exp(-m) underflows: add the terms in log space. */
		lm = log(m);
		for (i = 0, sum = 0; i < v / 2; i++)
			sum += exp(-m + i * lm - lgamma(i + 1.0));
	}
	return sum < 1.0 ? sum : 1.0;
}

double
bayes_combine(const double *probs, size_t n)
{
	double	S = 1.0, H = 1.0, s, h;
	int	Sexp = 0, Hexp = 0, e;
	size_t	i;

	if (n == 0)
		return 0.5;
	for (i = 0; i < n; i++) {
		S *= 1.0 - probs[i];
		H *= probs[i];
		if (S < 1e-200) {
			S = frexp(S, &e);
			Sexp += e;
		}
		if (H < 1e-200) {
			H = frexp(H, &e);
			Hexp += e;
		}
	}
	s = log(S) + Sexp * M_LN2;
	h = log(H) + Hexp * M_LN2;
	s = 1.0 - bayes_chi2q(-2.0 * s, 2 * (unsigned)n);
	h = 1.0 - bayes_chi2q(-2.0 * h, 2 * (unsigned)n);
	return (s - h + 1.0) / 2.0;
}

static int
strength_cmp(const void *a, const void *b)
{
	double	x = fabs(*(const double *)a - 0.5);
	double	y = fabs(*(const double *)b - 0.5);

	return x < y ? 1 : x > y ? -1 : 0;
}

double
bayes_classify(const struct bayes_params *bp, const struct bayes_count *c,
    size_t n, uint32_t nspam, uint32_t nham, size_t *used)
{
	double	*probs, p, r;
	size_t	 i, k = 0;

	probs = xreallocarray(NULL, n > 0 ? n : 1, sizeof *probs);
	for (i = 0; i < n; i++) {
		p = bayes_token_prob(bp, c[i].spam, c[i].ham, nspam, nham);
		if (p < 0 || fabs(p - 0.5) < bp->min_strength)
			continue;
		/* Certainty is never total: keep log() finite. */
		if (p < 1e-6)
			p = 1e-6;
		else if (p > 1 - 1e-6)
			p = 1 - 1e-6;
		probs[k++] = p;
	}
	if (k > bp->significant) {
		qsort(probs, k, sizeof *probs, strength_cmp);
		k = bp->significant;
	}
	r = bayes_combine(probs, k);
	free(probs);
	if (used != NULL)
		*used = k;
	return r;
}

/* --- findings ------------------------------------------------------------- */

/* SpamAssassin's bands and, below 0.8, its scores; BAYES_999 adds to
 * BAYES_99. Above, tuned by cross-validation (tests/quality/bayes_cv.c
 * -S): no ham scored 0.99 or more there, so a near-certain verdict
 * (0.999) reaches the default threshold (5.0) alone, and one of 0.99
 * with a point of other evidence. */
const struct bayes_band bayes_bands[] = {
	{ "BAYES_00",	0.00,	0.01,	-1.9 },
	{ "BAYES_05",	0.01,	0.05,	-0.5 },
	{ "BAYES_20",	0.05,	0.20,	-0.001 },
	{ "BAYES_40",	0.20,	0.40,	-0.001 },
	{ "BAYES_50",	0.40,	0.60,	0.8 },
	{ "BAYES_60",	0.60,	0.80,	1.5 },
	{ "BAYES_80",	0.80,	0.95,	2.5 },
	{ "BAYES_95",	0.95,	0.99,	3.5 },
	{ "BAYES_99",	0.99,	1.01,	4.0 },
	{ "BAYES_999",	0.999,	1.01,	1.0 },
};
const size_t bayes_nbands = sizeof bayes_bands / sizeof bayes_bands[0];

double
bayes_points(double prob)
{
	double	pts = 0;
	size_t	i;

	for (i = 0; i < bayes_nbands; i++)
		if (prob >= bayes_bands[i].lo && prob < bayes_bands[i].hi)
			pts += bayes_bands[i].score;
	return pts;
}

double
bayes_add_findings(struct findings *f, double prob, size_t used)
{
	double	pts = 0;
	size_t	i;

	for (i = 0; i < bayes_nbands; i++) {
		if (prob < bayes_bands[i].lo || prob >= bayes_bands[i].hi)
			continue;
		findings_add(f, bayes_bands[i].symbol, bayes_bands[i].score,
		    "spam probability %.4f from %zu tokens", prob, used);
		pts += bayes_bands[i].score;
	}
	return pts;
}

double
bayes_points_in(const struct findings *f)
{
	double	pts = 0;
	size_t	i;

	for (i = 0; i < f->n; i++)
		if (strncmp(f->v[i].symbol, "BAYES_", 6) == 0)
			pts += f->v[i].score;
	return pts;
}
