/*
 * Rules in SpamAssassin syntax: a parser that builds a compiled rule set
 * from .cf files, and an evaluator that runs it on a parsed message.
 *
 * Build a set on one thread (sarule_set_new, _add_path/_add_text, then
 * sarule_set_compile). A compiled set is read-only: sarule_eval runs on
 * any number of threads at once, each with its own PCRE2 match data and
 * Hyperscan scratch (thread-local, made on first use). The set owns every
 * string it hands out; a result owns its arrays.
 *
 * Supported: header (with :raw :addr :name :first :last, exists:, ALL,
 * ToCc, MESSAGEID, EnvelopeFrom, [if-unset: ...]), body, rawbody, uri,
 * full, meta (boolean and arithmetic, rules_matching()), eval: for the
 * functions in sarule_fn.c, score (1 or 4 values), describe, tflags
 * (nice, multiple, maxhits=N, net), priority, if/ifplugin/else/endif,
 * include, lang (ignored). Anything else that defines a rule is counted
 * as skipped with a reason; syntax errors are broken, with file:line.
 *
 * Files: sarule_parse.c (files, lines, directives), sarule_compile.c
 * (metas, scores, what runs), sarule_eval.c (message views, matching,
 * Hyperscan), sarule_lit.c (required literals for Hyperscan), sarule_fn.c
 * (eval: tests); sarule_int.h is their shared, private header.
 */
#ifndef MOAT_SARULE_H
#define MOAT_SARULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SARULE_FILE_MAX		(32 * 1024 * 1024) /* one rule file */
#define SARULE_LINE_MAX		(64 * 1024)	/* one line of it */
#define SARULE_DIR_FILES_MAX	2000		/* *.cf files per folder */
#define SARULE_INCLUDE_DEPTH	8
#define SARULE_IF_DEPTH		64
#define SARULE_RULES_MAX	100000		/* names in one set */
#define SARULE_META_TOKENS_MAX	8192		/* tokens of one meta */
#define SARULE_EVAL_ARGS_MAX	8
#define SARULE_PROBLEMS_MAX	20000		/* listed; more counted */

#define SARULE_BODY_LINE_MAX	2048		/* SA's body line split */
#define SARULE_RAWBODY_PART_MAX	(512 * 1024)	/* bytes of a text part */
#define SARULE_FULL_MAX		(4 * 1024 * 1024) /* raw bytes for full */
#define SARULE_HEADER_MAX	(256 * 1024)	/* one header view */
#define SARULE_HITS_MAX		1000		/* multiple, no maxhits */
#define SARULE_MATCH_LIMIT	200000		/* PCRE2 steps per match */
#define SARULE_JIT_STACK_MAX	(1024 * 1024)

/* What `if (version >= X)` sees: the SpamAssassin whose rule syntax we
 * follow. */
#define SARULE_SA_VERSION	4.000000

/* SpamAssassin score sets: index = (Bayes on ? 2 : 0) + (net on ? 1 : 0). */
#define SARULE_SCORE_SETS	4

struct msg;
struct sarule_set;

struct sarule_opts {
	int		 score_set;	/* 0..3 */
	bool		 hyperscan;	/* prefilter body/rawbody/uri/full */
};

struct sarule_problem {
	char		*where;		/* "file:line" */
	char		*rule;		/* rule name, or NULL */
	char		*reason;
};

struct sarule_summary {
	size_t			 loaded;	/* valid rules */
	size_t			 active;	/* of them, run per message */
	size_t			 prefiltered;	/* of them, in Hyperscan */
	size_t			 nskipped;
	size_t			 nbroken;
	struct sarule_problem	*skipped;	/* up to SARULE_PROBLEMS_MAX */
	size_t			 skipped_listed;
	struct sarule_problem	*broken;
	size_t			 broken_listed;
	uint32_t		 compile_ms;
};

struct sarule_input {
	const struct msg	*msg;
	const char		*env_from;	/* MAIL FROM, or NULL */
	int64_t			 now;		/* seconds; 0: time(NULL) */
};

struct sarule_hit {
	const char	*name;		/* borrowed from the set */
	const char	*describe;	/* borrowed, or NULL */
	double		 score;
	unsigned	 count;		/* matches counted, >= 1 */
};

struct sarule_result {
	struct sarule_hit *hits;	/* owned: reported rules that hit */
	size_t		 nhits;
	double		 score;		/* sum of the hits' scores */
	double		*values;	/* owned: every rule's value by index */
	size_t		 nvalues;
};

struct sarule_set *sarule_set_new(const struct sarule_opts *);
void		 sarule_set_free(struct sarule_set *);	/* accepts NULL */
/*
 * Read a file, or every *.cf file of a folder in name order (as
 * SpamAssassin does). -1 with *cause only when the path cannot be read;
 * problems inside rules go to the summary.
 */
int		 sarule_set_add_path(struct sarule_set *, const char *path,
		    char **cause);
/* Rules from a string; name stands for the file in "file:line". Includes
 * resolve against the current directory. */
void		 sarule_set_add_text(struct sarule_set *, const char *name,
		    const char *text);
/* Resolve metas and scores, build the matchers. Once, after adding. */
int		 sarule_set_compile(struct sarule_set *, char **cause);
const struct sarule_summary *sarule_set_summary(const struct sarule_set *);
size_t		 sarule_set_count(const struct sarule_set *);
/* A rule's index, or -1 when the set has no rule of that name. */
int		 sarule_set_find(const struct sarule_set *, const char *name);

/* Run a compiled set on a message. Any thread. */
void		 sarule_eval(const struct sarule_set *,
		    const struct sarule_input *, struct sarule_result *);
void		 sarule_result_free(struct sarule_result *);
/* A rule's value in a result (hit count, or a meta's value); -1 when the
 * set has no such rule. */
double		 sarule_result_value(const struct sarule_set *,
		    const struct sarule_result *, const char *name);

/* Free this thread's match data and scratch (also done at thread exit). */
void		 sarule_thread_cleanup(void);

#endif
