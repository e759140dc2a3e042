/*
 * Bayes, the pure half: the tokenizer (a parsed message -> a set of 64-bit
 * token hashes) and the classifier math (Robinson's f(w), Fisher's
 * chi-square combining, the BAYES_* bands). No store and no locks: any
 * thread; every struct here belongs to its caller.
 */
#ifndef MOAT_BAYES_H
#define MOAT_BAYES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct findings;
struct msg;

#define BAYES_WORD_CHARS_MAX	15	/* longer words become "sk:" tokens */
#define BAYES_SKIP_KEEP		7	/* characters a "sk:" token keeps */
#define BAYES_TOKEN_BYTES_MAX	160	/* one token with its prefix */
#define BAYES_TOKENS_MAX	20000	/* distinct tokens kept per message */
#define BAYES_TEXT_MAX		(512 * 1024) /* body text bytes tokenized */
#define BAYES_HEADERS_MAX	300	/* header fields tokenized */
#define BAYES_HEADER_VALUE_MAX	4096	/* bytes of one header value */
#define BAYES_OTHER_FIELD_MAX	80	/* ... of a field without its own
					 * tokenizer */
#define BAYES_RECEIVED_MAX	20	/* Received fields tokenized */
#define BAYES_URLS_MAX		500
#define BAYES_PARTS_MAX		100
#define BAYES_TEXT_KEEP_MAX	(4 * 1024 * 1024) /* keep_text: debugging */

/* The distinct tokens of one message, in first-seen order. */
struct bayes_tokens {
	uint64_t	*v;		/* owned: hashes, never 0 */
	size_t		 n;
	size_t		 cap;
	uint64_t	*set;		/* owned: open addressing, 0 empty */
	size_t		 setcap;	/* power of two */
	size_t		 dropped;	/* past BAYES_TOKENS_MAX */
	bool		 keep_text;	/* keep the strings (tests, tools) */
	struct buf	 text;		/* "token\n" per distinct token */
};

void	 bayes_tokens_init(struct bayes_tokens *, bool keep_text);
void	 bayes_tokens_free(struct bayes_tokens *);
/* Add one token (the bytes as given, no folding). false when it was
 * there already or the message has BAYES_TOKENS_MAX tokens. */
bool	 bayes_tokens_add(struct bayes_tokens *, const char *, size_t len);
bool	 bayes_tokens_has(const struct bayes_tokens *, const char *);
/* Steal the hash array (caller frees); the set is emptied. */
uint64_t *bayes_tokens_steal(struct bayes_tokens *, size_t *n);

/* The 64-bit hash of a token (never 0), the same on every platform. */
uint64_t bayes_hash(const void *, size_t len);

/*
 * Tokenize a parsed message into t (which may already hold tokens):
 * words of the body text (case folded, UTF-8 aware), header tokens
 * prefixed by their field ("Hsubject:free"), Received hosts and networks,
 * URL hosts with their parent domains and path pieces, part types,
 * charsets and file names. See bayes.c for the prefixes.
 */
void	 bayes_tokenize(const struct msg *, struct bayes_tokens *t);
/* Tokenize text as body words with a prefix ("" for none). For tests. */
void	 bayes_tokenize_text(struct bayes_tokens *, const char *prefix,
	    const char *text, size_t len);
/* A message's identity for the learned-messages table: Message-ID and the
 * body bytes, so headers added in transit do not change it. */
uint64_t bayes_msg_key(const struct msg *);

/* --- the classifier ------------------------------------------------------ */

struct bayes_params {
	double	s;		/* Robinson's strength of the prior */
	double	x;		/* Robinson's prior for unseen tokens */
	double	min_strength;	/* |f(w) - 0.5| below it: token ignored */
	size_t	significant;	/* most significant tokens combined */
};

extern const struct bayes_params bayes_params_default;

struct bayes_count {
	uint32_t	spam;
	uint32_t	ham;
};

/* f(w) for a token seen spam/ham times, out of nspam/nham messages, or
 * -1 when it was never seen (or nothing was learned). */
double	 bayes_token_prob(const struct bayes_params *, uint32_t spam,
	    uint32_t ham, uint32_t nspam, uint32_t nham);
/* Probability that a chi-square variable with v (even) degrees of
 * freedom is >= x2. */
double	 bayes_chi2q(double x2, unsigned v);
/* Fisher's combining of n token probabilities into 0..1 (0.5 when n is
 * 0). */
double	 bayes_combine(const double *probs, size_t n);
/* The message's spam probability from its tokens' counts. *used (may be
 * NULL) says how many tokens were combined. */
double	 bayes_classify(const struct bayes_params *,
	    const struct bayes_count *, size_t n, uint32_t nspam,
	    uint32_t nham, size_t *used);

/* --- findings ------------------------------------------------------------ */

struct bayes_band {
	const char	*symbol;
	double		 lo;		/* probability from (inclusive) */
	double		 hi;		/* to (exclusive, 1.0 inclusive) */
	double		 score;
};

extern const struct bayes_band	bayes_bands[];
extern const size_t		bayes_nbands;

/* Add the BAYES_* finding(s) for a probability (BAYES_999 comes on top of
 * BAYES_99); returns the points added. */
double	 bayes_add_findings(struct findings *, double prob, size_t used);
/* The points bayes_add_findings would add. */
double	 bayes_points(double prob);
/* The points BAYES_* findings hold in a list (to judge autolearn on the
 * score without them). */
double	 bayes_points_in(const struct findings *);

#endif
