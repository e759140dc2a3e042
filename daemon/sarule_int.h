/*
 * Internals shared by sarule_parse.c (files -> compiled set),
 * sarule_eval.c (set + message -> hits) and sarule_fn.c (eval: tests).
 * Not for other modules: they use sarule.h.
 */
#ifndef MOAT_SARULE_INT_H
#define MOAT_SARULE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <hs/hs.h>

#include "sarule.h"

enum sr_type {
	SR_HEADER = 0,
	SR_BODY,
	SR_RAWBODY,
	SR_URI,
	SR_FULL,
	SR_META,
	SR_NTYPES
};

/* The types Hyperscan prefilters: body, rawbody, uri, full. */
#define SR_HS_FIRST	SR_BODY
#define SR_HS_KINDS	4

enum sr_state {
	SR_NONE = 0,		/* only named by score/describe/tflags */
	SR_OK,
	SR_SKIPPED,		/* unsupported: not run, value 0 */
	SR_BROKEN,		/* syntax error: not run, value 0 */
	SR_INACTIVE,		/* defined only in a false if/ifplugin */
};

/* sr_rule.flags */
#define SRF_NEG		0x0001	/* !~ */
#define SRF_EXISTS	0x0002	/* exists:Header */
#define SRF_EVAL	0x0004	/* eval:fn(...) */
#define SRF_MULTIPLE	0x0008	/* tflags multiple */
#define SRF_NICE	0x0010	/* tflags nice */
#define SRF_NET		0x0020	/* tflags net */
#define SRF_DEFINED	0x0040	/* a definition line named it */
#define SRF_NEEDED	0x0080	/* run per message */
#define SRF_REPORT	0x0100	/* reported when it hits */
#define SRF_UTF		0x0200	/* compiled in UTF mode */
#define SRF_SCORE_REL	0x0400	/* score given as (relative) */

/* Header modifiers. */
#define SRH_RAW		0x01
#define SRH_ADDR	0x02
#define SRH_NAME	0x04
#define SRH_FIRST	0x08
#define SRH_LAST	0x10

struct sr_args {
	int		 n;
	char		*v[SARULE_EVAL_ARGS_MAX];	/* owned, unquoted */
	double		 num[SARULE_EVAL_ARGS_MAX];	/* as numbers, or 0 */
};

enum sr_opcode {
	OP_NUM = 0,
	OP_RULE,
	OP_NOT,
	OP_NEG,
	OP_AND,
	OP_OR,
	OP_ADD,
	OP_SUB,
	OP_MUL,
	OP_DIV,
	OP_GT,
	OP_GE,
	OP_LT,
	OP_LE,
	OP_EQ,
	OP_NE,
};

struct sr_op {
	int		 op;
	int		 rule;		/* OP_RULE */
	double		 num;		/* OP_NUM */
};

struct sr_rule {
	char		*name;		/* owned */
	enum sr_type	 type;
	enum sr_state	 state;
	uint32_t	 flags;
	const char	*file;		/* interned in the set */
	int		 line;
	char		*why;		/* owned: why skipped or broken */

	/* header rules */
	char		*hdr;		/* owned: header name */
	unsigned	 hmod;		/* SRH_* */
	int		 hsrc;		/* index of its header view */
	char		*unset;		/* owned: [if-unset: ...] or NULL */

	/* regex rules */
	char		*re_body;	/* owned: pattern without delimiters */
	uint32_t	 re_opts;	/* PCRE2 options */
	pcre2_code	*re;		/* owned */
	/* Body rules: the pattern with ^ and $ at every line, run once on
	 * the joined lines to skip rules no line can match (re itself when
	 * it has /m; NULL when the shortcut is not sound for it). */
	pcre2_code	*re_ml;

	/* eval rules */
	int		 fn;		/* index in sr_fns */
	struct sr_args	 args;

	/* meta rules */
	char		*meta;		/* owned: the expression */
	struct sr_op	*prog;		/* owned: postfix program */
	size_t		 nprog;

	/* attributes, which may come before or after the definition */
	double		 scores[SARULE_SCORE_SETS];
	int		 nscores;	/* 0: none given */
	char		*describe;	/* owned */
	unsigned	 maxhits;	/* 0: none */
	int		 priority;

	double		 score;		/* in the chosen score set */
	int		 order;		/* topological position of metas */
};

struct sr_hsrc {			/* a header view: name + modifiers */
	char		*name;		/* owned */
	unsigned	 hmod;
};

/* Hyperscan finds the rules' required literals; literal i names the
 * rules rules[off[i]] .. rules[off[i + 1] - 1]. */
struct sr_hsdb {
	hs_database_t	*db;
	uint32_t	*off;		/* owned, nlits + 1 */
	int		*rules;		/* owned */
	size_t		 nlits;
};

#define SR_LIT_MIN	3		/* shorter literals are no filter */
#define SR_LIT_MAX	16		/* longer ones are cut (Hyperscan 5.4 fails
					 * on some long caseless literals) */

struct sr_lit {
	char		*s;		/* owned */
	size_t		 len;
};

struct sr_map {				/* name -> rule index */
	int		*slots;		/* -1 empty */
	size_t		 cap;		/* power of two */
};

struct sarule_set {
	struct sarule_opts	 opts;
	struct sr_rule		*rules;
	size_t			 nrules;
	size_t			 cap;
	struct sr_map		 map;
	char			**files;	/* interned names */
	size_t			 nfiles;
	struct sarule_summary	 sum;
	bool			 compiled;
	uint64_t		 gen;		/* unique per compiled set */

	/* After compile: the rules to run, per type (metas in dependency
	 * order). */
	int			*run[SR_NTYPES];
	size_t			 nrun[SR_NTYPES];
	struct sr_hsrc		*hsrcs;
	size_t			 nhsrcs;
	struct sr_hsdb		 hs[SR_HS_KINDS];
	/* Rules of a prefiltered type left out of its database: always
	 * confirmed with PCRE2. */
	uint8_t			*in_hs;		/* per rule: 1 when in a db */
};

/* A text span of the message. */
struct sr_span {
	const char	*p;
	size_t		 len;
};

/* Per-thread matching state. */
struct sr_tls {
	pcre2_match_data	*md;
	pcre2_match_context	*mctx;
	pcre2_jit_stack		*jstack;
	hs_scratch_t		*scratch;
	uint64_t		 scratch_gen;	/* set it was sized for */
};

/* One evaluation: the message's views, built lazily. */
struct sr_ctx {
	const struct sarule_set	*set;
	const struct sarule_input *in;
	const struct msg	*msg;
	int64_t			 now;
	double			*values;
	struct sr_tls		*tls;

	char			**hval;		/* per header view, or NULL */
	uint8_t			*hdone;

	bool			 body_done;
	char			*body;		/* owned: rendered text */
	size_t			 body_len;
	struct sr_span		*lines;		/* into body */
	size_t			 nlines;

	bool			 raw_done;
	struct sr_span		*raw;		/* text parts, decoded */
	size_t			 nraw;

	uint8_t			*cand;		/* per rule: may match */
};

/* --- eval: functions (sarule_fn.c) --------------------------------------- */

struct sr_fndef {
	const char	*name;
	int		 minargs;
	int		 maxargs;
	/* NULL, or a reason the arguments are not supported (skipped). */
	const char	*(*check)(const struct sr_args *);
	double		(*fn)(struct sr_ctx *, const struct sr_args *);
};

int		 sr_fn_find(const char *name);
const struct sr_fndef *sr_fn_get(int);

/* --- helpers from sarule_eval.c for the eval: functions ------------------ */

/* Every value of a header (decoded unless raw), each ending in "\n";
 * NULL when absent. Caller frees. */
char		*sr_header_values(const struct msg *, const char *name,
		    bool raw);
/* The first decoded value of a header, borrowed, or NULL. */
const char	*sr_header_first(const struct msg *, const char *name);
/* The rendered body lines as body rules see them. */
void		 sr_ctx_body(struct sr_ctx *);
/* addr@domain of the first address in a header value, lower case, into
 * out (size n); false when there is none. */
bool		 sr_addr_first(const char *value, char *out, size_t n);

/* --- required literals (sarule_lit.c) ------------------------------------ */

/* Literals one of which every match of pattern re contains; -1 when the
 * pattern has none we can prove. Free with sr_lit_free. */
int		 sr_lit_extract(const char *re, uint32_t opts,
		    struct sr_lit **out, size_t *n);
void		 sr_lit_free(struct sr_lit *, size_t);

/* --- shared by parse, compile and eval ----------------------------------- */

#define SR_RULE_NAME_MAX	128
#define SR_META_STACK_MAX	256	/* values a meta program stacks */

enum sr_tok_kind {
	TK_END = 0,
	TK_NUM,
	TK_NAME,
	TK_OP,
	TK_BAD,
};

struct sr_tok {
	enum sr_tok_kind kind;
	const char	*p;
	size_t		 len;
	double		 num;
};

/* The lexer of metas and if conditions (sarule_compile.c): the token at
 * s into t, returns where the next one starts. */
const char	*sr_lex(const char *s, struct sr_tok *t);
bool		 sr_tok_is(const struct sr_tok *, const char *);

/* sarule_parse.c */
void		 sr_problem_add(struct sarule_set *, bool broken,
		    const char *file, int line, const char *rule,
		    const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void		 sr_rule_broken(struct sarule_set *, struct sr_rule *,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool		 sr_is_rule_name(const char *);
pcre2_code	*sr_re_compile(const char *body, uint32_t opts, bool *utf,
		    char **err);

struct sr_tls	*sr_tls_get(void);
/* Build the Hyperscan databases of a compiled set (sarule_eval.c). */
int		 sr_hs_build(struct sarule_set *, char **cause);

#endif
