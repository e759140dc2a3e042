/*
 * The rule system (Proxmox's Who/What/When/Action model): the rule files
 * <rules dir>/policy/NAME.conf become one immutable, reference-counted policy
 * snapshot; policy_eval decides per recipient; policy_prepare carries out
 * what can be done on the worker (rewritten bodies, quarantine, rendered
 * notifications); policy_extras_send mails BCC copies and notifications.
 *
 * Threads: policy_load on the loop thread or a pool thread; policy_eval,
 * policy_prepare and policy_apply on a worker; policy_current,
 * policy_set_current and policy_extras_send on the loop thread.
 *
 * How the executor (deliver.c) uses it, per message:
 *
 *  0. At job creation (loop): j->policy = policy_ref(policy_current()).
 *     The message must be parsed (on a worker) when policy_wants_msg(p),
 *     even with every filter off.
 *  1. Worker, after the filters:
 *	struct policy_input in = { direction, sender, rcpts (char *[]),
 *	    nrcpts, client_addr, msg, findings, attach (the attachment
 *	    facts, if built), raw, raw_len, time_ms, queue_id, node,
 *	    prepend, smtputf8, body_type };
 *	j->pres = policy_eval(j->policy, &in);
 *	if (j->pres->tempfail) → every recipient 451 (the scanner failed);
 *	else if (policy_prepare(j->pres, &in, j->cfg, &cause) == -1)
 *		→ every recipient 451 4.3.0 (cause logged); nothing stored.
 *     policy_prepare rewrites bodies (group->body), writes quarantined
 *     copies durably (file fsync'd + index row committed) and renders
 *     BCC and notification mails (kept in the result).
 *  2. Loop: for each group g of j->pres->groups:
 *	POLICY_ACCEPT:	   relay_send g->rcpts (indexes into the job's
 *			   recipients) with body g->body ? g->body : j->body,
 *			   prepend as before; answers from the next hop.
 *	POLICY_QUARANTINE: answer "250 2.0.0 Ok: quarantined as <g->quar_id>",
 *			   outcome TRACK_QUARANTINED.
 *	POLICY_BLOCK:	   outcome TRACK_BLOCKED; answer "250 2.7.0 Ok:
 *			   discarded by policy" — unless j->pres->all_blocked:
 *			   then every recipient (and the SMTP answer) is
 *			   "554 5.7.1 Rejected by policy (rule R)" (Proxmox:
 *			   reject only when every recipient is blocked; with
 *			   LMTP a blocked recipient may get its own 554).
 *  3. Loop, when the answer is final:
 *	answer 4xx → quar_drop_async(j->pres) (the client retries: do not
 *		     keep a second copy), nothing else;
 *	otherwise  → policy_extras_send(j->cfg, j->pres) (BCC/notify; it
 *		     takes what it needs, fire and forget).
 *  4. scan_job_free: policy_result_free(j->pres); policy_unref(j->policy).
 *
 * At start (after db_open): quar_start, policy_load + policy_set_current,
 * policy_start (the pool of rules.* edits); at exit quar_stop and
 * policy_stop before db_close; at SIGHUP: quar_check, policy_load and swap
 * with the configuration; moatd -t: policy_load (its cause is
 * "file:line: reason") and quar_check.
 */
#ifndef MOAT_POLICY_H
#define MOAT_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cfg.h"
#include "finding.h"
#include "msg.h"
#include "smtp_parse.h"

struct attach_facts;
struct body;
struct buf;
struct cfg;
struct event_base;

#define POLICY_SUBDIR		"policy"	/* under cfg->rules_dir */
#define POLICY_FILES_MAX	256		/* rule files read */
#define POLICY_FILE_MAX		(1024 * 1024)	/* bytes of one rule file */
#define POLICY_NAME_MAX		64		/* group, action, rule names */
#define POLICY_ITEMS_MAX	10000		/* objects, groups, rules ... */
#define POLICY_REGEX_MAX	1024		/* pattern length */
#define POLICY_TEXT_MAX		(64 * 1024)	/* template, disclaimer */
#define POLICY_FIELD_MAX	76		/* header field name */
#define POLICY_VALUE_MAX	998		/* header value written */
#define POLICY_MATCH_LIMIT	100000		/* PCRE2 backtracking bound */
#define POLICY_PARTS_WORDS	((MSG_PARTS_MAX + 63) / 64)
#define POLICY_LIST_MAX		100000		/* sender list entries */
#define POLICY_PATTERN_MAX	320		/* one list entry */
#define POLICY_EXTRAS_MAX	32		/* BCC + notify mails per message */

enum policy_final {
	POLICY_ACCEPT = 0,
	POLICY_BLOCK,
	POLICY_QUARANTINE,
};

enum quar_type {
	QUAR_SPAM = 0,
	QUAR_VIRUS,
	QUAR_ATTACHMENT,
	QUAR_TYPE_MAX
};

const char	*quar_type_name(enum quar_type);
int		 quar_type_parse(const char *, enum quar_type *);

/* --- the snapshot ---------------------------------------------------------- */

enum policy_cat {
	POLICY_WHO = 0,
	POLICY_WHAT,
	POLICY_WHEN,
	POLICY_CAT_MAX
};

enum policy_okind {
	/* who */
	POLICY_O_EMAIL = 0,	/* glob on the address, case-insensitive */
	POLICY_O_DOMAIN,	/* "example.com", "*.example.com" */
	POLICY_O_REGEX,		/* PCRE2 on the address */
	POLICY_O_IP,		/* client address in a network */
	POLICY_O_LIST,		/* address on the global block/welcome list */
	/* what */
	POLICY_O_SPAM_SCORE,	/* score >= N */
	POLICY_O_VIRUS,
	POLICY_O_CONTENT_TYPE,	/* regex on declared and/or sniffed type */
	POLICY_O_FILENAME,	/* regex on a part's file name */
	POLICY_O_ARCHIVE_TYPE,	/* regex on an archive member's type */
	POLICY_O_ARCHIVE_NAME,	/* regex on an archive member's name */
	POLICY_O_HEADER,	/* regex on a header field's value */
	/* when */
	POLICY_O_TIMEFRAME,
	/* who, from the directory (ldapdir.h) */
	POLICY_O_LDAP_USER,	/* address in a profile's directory */
	POLICY_O_LDAP_GROUP,	/* "[profile:]group DN or cn" member */
	POLICY_O_MAX
};

enum policy_source {		/* which content type a content_type sees */
	POLICY_SRC_ANY = 0,
	POLICY_SRC_DECLARED,
	POLICY_SRC_SNIFFED,
};

struct policy_obj {
	enum policy_okind	 kind;
	char			*value;		/* as written */
	char			*field;		/* header: field name */
	void			*re;		/* pcre2_code, regex kinds */
	double			 score;		/* spam_score */
	struct cfg_net		 net;		/* ip */
	bool			 block;		/* list: block (else welcome) */
	enum policy_source	 source;	/* content_type */
	unsigned		 days;		/* timeframe: bit 0 Sunday */
	int			 start_min;	/* timeframe: minutes of day */
	int			 end_min;	/* exclusive; < start: overnight */
};

struct policy_file {
	char		*path;
	char		*name;		/* base name */
};

struct policy_objgroup {
	char			*name;
	char			*comment;
	enum policy_cat		 cat;
	struct policy_obj	*objs;
	size_t			 nobjs;
	size_t			 index;		/* in policy->groups */
	const struct policy_file *file;
	int			 line;
};

enum policy_atype {
	POLICY_A_ACCEPT = 0,
	POLICY_A_BLOCK,
	POLICY_A_QUARANTINE,
	POLICY_A_NOTIFY,
	POLICY_A_ADD_HEADER,
	POLICY_A_MODIFY_HEADER,
	POLICY_A_REMOVE_HEADER,
	POLICY_A_REMOVE_ATTACHMENTS,
	POLICY_A_BCC,
	POLICY_A_DISCLAIMER,
	POLICY_A_MAX
};

enum policy_notify_to {
	POLICY_TO_ADMIN = 0,
	POLICY_TO_SENDER,
	POLICY_TO_RCPTS,
	POLICY_TO_ADDRESS,
};

struct policy_action {
	char			*name;
	char			*comment;
	enum policy_atype	 type;
	int			 quar_type;	/* quarantine: -1 automatic */
	char			*field;		/* headers */
	char			*value;		/* headers: template */
	bool			 all;		/* remove_attachments */
	bool			 quarantine;	/* remove_attachments: keep
						 * the original */
	bool			 original;	/* bcc: unmodified message */
	enum policy_notify_to	 to;		/* notify */
	char			*addr;		/* notify/bcc address */
	char			*subject;	/* notify template */
	char			*text;		/* notify body, notice of a
						 * removed attachment, or
						 * disclaimer text */
	char			*html;		/* disclaimer html */
	const struct policy_file *file;
	int			 line;
};

struct policy_ref {
	const struct policy_objgroup	*group;
	bool				 invert;
};

enum policy_field {
	POLICY_F_FROM = 0,
	POLICY_F_TO,
	POLICY_F_WHAT,
	POLICY_F_WHEN,
	POLICY_F_MAX
};

#define POLICY_DIR_IN	0x1
#define POLICY_DIR_OUT	0x2

struct policy_rule {
	char				*name;
	char				*comment;
	int				 priority;	/* 0-100 */
	bool				 active;
	unsigned			 dirs;		/* POLICY_DIR_* */
	struct policy_ref		*refs[POLICY_F_MAX];
	size_t				 nrefs[POLICY_F_MAX];
	const struct policy_action	**actions;
	size_t				 nactions;
	const struct policy_file	*file;
	int				 line;
	size_t				 order;		/* load order */
};

struct policy {
	int			 refs;		/* atomic */
	char			*dir;
	struct policy_file	*files;
	size_t			 nfiles;
	struct policy_objgroup	**groups;	/* every category */
	size_t			 ngroups;
	struct policy_action	**actions;
	size_t			 nactions;
	struct policy_rule	**rules;	/* priority order */
	size_t			 nrules;
	/* The policy = { } section of the configuration. */
	char			*admin;		/* notify to admin */
	char			*notify_from;	/* sender of our own mail */
	double			 blocklist_score; /* user blocklist adds */
	char			*hostname;
};

/* Load every rule file (and the policy section of c). A missing folder is
 * an empty policy: everything is accepted. NULL with *cause
 * "file:line: reason". */
struct policy	*policy_load(const struct cfg *, char **cause);
/* The same, reading text instead of the file at path (an edit checked
 * before it is written; tests). */
struct policy	*policy_load_override(const struct cfg *, const char *path,
		    const char *text, char **cause);
struct policy	*policy_ref(struct policy *);
void		 policy_unref(struct policy *);		/* accepts NULL */
/* Loop thread: the running policy (borrowed), and its swap. */
struct policy	*policy_current(void);
void		 policy_set_current(struct policy *);	/* takes the ref */

const struct policy_rule *policy_rule_find(const struct policy *,
		    const char *name);
const struct policy_objgroup *policy_group_find(const struct policy *,
		    enum policy_cat, const char *name);
const char	*policy_cat_name(enum policy_cat);
int		 policy_cat_parse(const char *, enum policy_cat *);
const char	*policy_atype_name(enum policy_atype);
const char	*policy_okind_key(enum policy_okind);
const char	*policy_field_name(enum policy_field);
/* JSON for the control commands; new references. */
json_t		*policy_rule_to_json(const struct policy_rule *, bool full);
json_t		*policy_group_to_json(const struct policy_objgroup *);
json_t		*policy_action_to_json(const struct policy_action *);

/* --- sender lists (welcomelist / blocklist, global and per user) --------- */

/* One immutable snapshot of the lists in the store. Any thread. */
struct policy_lists;

struct policy_list_entry {
	char		*owner;		/* "" global, else a user's address */
	bool		 block;		/* blocklist, else welcomelist */
	char		*pattern;	/* address glob or domain */
};

/* Takes ownership of the array and its strings. */
struct policy_lists *policy_lists_new(struct policy_list_entry *, size_t n);
struct policy_lists *policy_lists_ref(struct policy_lists *);
void		 policy_lists_unref(struct policy_lists *);	/* NULL ok */
/* Any thread: the current lists (a new reference, may be NULL), and the
 * swap (takes the reference). */
struct policy_lists *policy_lists_get(void);
void		 policy_lists_set(struct policy_lists *);
/* Is addr on owner's list ("" global)? */
bool		 policy_lists_match(const struct policy_lists *,
		    const char *owner, bool block, const char *addr);
/* An entry's pattern is well formed: 0, or -1 with *cause. */
int		 policy_list_pattern_check(const char *, char **cause);
bool		 policy_list_pattern_match(const char *pattern,
		    const char *addr);

/* --- evaluation ------------------------------------------------------------ */

struct policy_input {
	enum direction		 direction;
	const char		*sender;	/* envelope, "" for <> */
	const char *const	*rcpts;		/* envelope recipients */
	size_t			 nrcpts;
	const char		*client_addr;	/* IP text or NULL */
	const struct msg	*msg;		/* NULL: not parsed */
	const struct findings	*findings;	/* NULL: none */
	const struct attach_facts *attach;	/* archive members (attach.h),
						 * NULL: none */
	int64_t			 time_ms;	/* wall clock: When objects
						 * use local time */
	const struct policy_lists *lists;	/* NULL: policy_lists_get() */
	/* For policy_prepare: the message and what the store needs. */
	const char		*raw;		/* the message as received */
	size_t			 raw_len;
	const char		*prepend;	/* X-Moat-* lines, or NULL */
	const char		*queue_id;
	const char		*node;
	bool			 smtputf8;
	enum smtp_body_type	 body_type;
};

struct policy_parts {		/* a set of msg part indexes */
	uint64_t	bits[POLICY_PARTS_WORDS];
};

/* One accumulated (non-final) action of a matched rule. */
struct policy_hit {
	const struct policy_action	*action;	/* borrowed */
	const struct policy_rule	*rule;		/* borrowed */
	struct policy_parts		 parts;		/* the rule's What
							 * objects marked */
};

struct policy_extra;		/* a rendered BCC copy or notification */

/* Recipients with the same decision and the same actions. */
struct policy_group {
	enum policy_final	 final;
	enum quar_type		 quar_type;	/* POLICY_QUARANTINE */
	const struct policy_rule *final_rule;	/* NULL: nothing decided,
						 * default accept */
	struct policy_hit	*hits;		/* in application order */
	size_t			 nhits;
	size_t			*rcpts;		/* indexes into input rcpts */
	size_t			 nrcpts;
	bool			 modifies;	/* header, attachment or
						 * disclaimer actions */
	bool			 quarantine_original; /* remove_attachments
						 * with quarantine */
	/* Filled by policy_prepare. */
	struct body		*body;		/* owned: rewritten message,
						 * NULL: send the original */
	char			 quar_id[48];	/* POLICY_QUARANTINE */
	char			 orig_quar_id[48]; /* quarantine_original */
	char			*removed;	/* owned: removed file names */
};

struct policy_rcpt {
	size_t		 group;		/* index into groups */
	const char	**rules;	/* matched rule names, borrowed */
	size_t		 nrules;
	double		 score;		/* as this recipient's What saw it */
	bool		 welcomelisted;	/* user welcomelist: no spam verdict */
	bool		 blocklisted;	/* user blocklist: score raised */
};

struct policy_result {
	struct policy		*policy;	/* reference: names borrowed */
	struct policy_rcpt	*rcpts;
	size_t			 nrcpts;
	struct policy_group	*groups;
	size_t			 ngroups;
	bool			 all_blocked;	/* answer 554 */
	bool			 tempfail;	/* the virus scanner failed:
						 * answer 451, deliver nothing */
	/* Filled by policy_prepare. */
	struct policy_extra	*extras;	/* owned list */
	size_t			 nextras;
	char			 rule_text[256]; /* deciding rule of a block */
};

/* Does evaluating p need the parsed message (and so a worker), even when
 * no filter is on? True when p has rules. */
bool		 policy_wants_msg(const struct policy *);
/* Worker thread; never fails (an empty input gives one accepted group). */
struct policy_result *policy_eval(const struct policy *,
		    const struct policy_input *);
void		 policy_result_free(struct policy_result *);	/* NULL ok */
/* {"rcpts":[{"rcpt","action","quarantine","rules":[..],"group"}...],
 *  "groups":n, "all_blocked":b}; new reference. */
json_t		*policy_result_to_json(const struct policy_result *,
		    const struct policy_input *);

/* Worker thread: rewrite bodies, store quarantined copies durably, render
 * extras. 0, or -1 with *cause (then nothing stays in the quarantine). */
int		 policy_prepare(struct policy_result *,
		    const struct policy_input *, const struct cfg *,
		    char **cause);
/* Loop thread: send the BCC copies and notifications policy_prepare made
 * (takes them out of the result); failures are logged. */
void		 policy_extras_send(const struct cfg *, struct policy_result *);
void		 policy_extras_free(struct policy_extra *);	/* NULL ok */

/* --- modifications (policy_mod.c) ----------------------------------------- */

/* Template variables ${name} of header values, notifications, notices. */
struct policy_vars {
	const char	*sender;
	const char	*rcpts;		/* comma separated */
	const char	*subject;
	const char	*from;
	const char	*virus;
	const char	*rule;
	const char	*queue_id;
	const char	*host;
	const char	*filenames;	/* removed attachments */
	double		 score;
	bool		 spam;		/* score >= threshold */
};

/* Is every ${name} in s known? 0, or -1 with *cause. */
int		 policy_template_check(const char *, char **cause);
/* Expand ${name}; values are cleaned of control characters; the result is
 * cut at max bytes. Caller frees. */
char		*policy_template_expand(const char *, const struct policy_vars *,
		    size_t max);

/* Apply the group's header edits, attachment removal and disclaimers to
 * raw (the parsed msg tells which parts the What objects marked) and
 * serialise the result with CRLF line ends into out. removed (may be NULL)
 * gets "a.exe, b.js" of the removed file names (caller frees). Worker
 * thread. 0, or -1 with *cause. */
int		 policy_apply(const struct policy_group *, const struct msg *,
		    const char *raw, size_t len, const struct policy_vars *,
		    struct buf *out, char **removed, char **cause);

/* --- rule file edits (policy_edit.c) ----------------------------------- */

enum policy_edit_op {
	POLICY_EDIT_ACTIVE = 0,		/* rule: active */
	POLICY_EDIT_PRIORITY,		/* rule: priority */
	POLICY_EDIT_OBJECTS,		/* group: objects */
};

struct policy_edit {
	enum policy_edit_op	 op;
	const char		*name;		/* rule or group */
	enum policy_cat		 cat;		/* POLICY_EDIT_OBJECTS */
	bool			 active;
	int			 priority;
	const json_t		*objects;	/* [{"email":"..."}, ...] */
};

/* Write the change back into the rule file that holds it (temp file,
 * fsync, rename, folder fsync) after checking that the whole policy still
 * loads with it; returns that new policy, or NULL with *cause (nothing
 * written). Not on the loop thread (disk). Edits must not run
 * concurrently: run them on one thread. */
struct policy	*policy_edit(const struct cfg *, const struct policy_edit *,
		    const char **code, char **cause);
/* Create, replace or remove the file at path atomically and durably. */
int		 policy_write_file(const char *path, const char *data,
		    size_t len, char **cause);

/* The pool rule edits and reloads run on (one thread: edits in order).
 * Loop thread, at start and at exit. */
void		 policy_start(struct event_base *);
void		 policy_stop(void);
struct pool	*policy_pool(void);

#endif
