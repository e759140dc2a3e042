/*
 * Unit tests for the quarantine store (daemon/quar.c, daemon/db_quar.c):
 * the durable write and its index, search with paging, release claims that
 * happen once under concurrency, settle, delete, purge selection, sender
 * lists, the sanitised preview, the spam digest, and policy_prepare
 * storing what the policy quarantines. A real sqlite file per test.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <gmime/gmime.h>

#include "cfg.h"
#include "db.h"
#include "db_quar.h"
#include "log.h"
#include "mime.h"
#include "policy.h"
#include "quar.h"
#include "util.h"
#include "xmalloc.h"

struct fix {
	char		 dir[128];
	char		 db[256];
	char		 qdir[256];
	struct cfg	*cfg;
};

static struct fix	*F;

#define MSG								\
	"From: Spammer <spam@evil.test>\r\n"				\
	"To: u@example.com\r\n"						\
	"Subject: =?utf-8?q?Cheap_=E2=82=AC_pills?=\r\n"		\
	"X-Evil: a\x01" "b\x1b[31mred\r\n"				\
	"Message-ID: <m1@evil.test>\r\n"				\
	"\r\n"								\
	"Buy now!\x07 Cheap pills.\r\n"					\
	"Line two.\r\n"

static void
write_file(const char *path, const char *text)
{
	FILE	*f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static char *
read_all(const char *path, size_t *len)
{
	FILE	*f = fopen(path, "r");
	char	*buf;
	long	 n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = xmalloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (len != NULL)
		*len = (size_t)n;
	return buf;
}

static int
setup(void **state)
{
	char	path[512], *cause = NULL;

	F = xcalloc(1, sizeof *F);
	snprintf(F->dir, sizeof F->dir, "/tmp/moat-quar-XXXXXX");
	assert_non_null(mkdtemp(F->dir));
	snprintf(F->db, sizeof F->db, "%s/moat.db", F->dir);
	snprintf(F->qdir, sizeof F->qdir, "%s/q", F->dir);
	snprintf(path, sizeof path, "%s/rules.d", F->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof path, "%s/rules.d/policy", F->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof path, "%s/moat.conf", F->dir);
	write_file(path, "node = { name = \"gw1\"; };\n"
	    "smtp = { hostname = \"moat.test\"; };\n"
	    "storage = { path = \"moat.db\"; quarantine_dir = \"q\"; };\n"
	    "rules = { dir = \"rules.d\"; };\n"
	    "quarantine = { spam_days = 7; virus_days = 30; "
	    "report_from = \"reports@moat.test\"; preview_max = 1024; };\n");
	F->cfg = cfg_load(path, &cause);
	if (F->cfg == NULL)
		fail_msg("cfg_load: %s", cause);
	if (db_open(F->db, &cause) == -1 ||
	    db_quar_open(F->db, &cause) == -1)
		fail_msg("open: %s", cause);
	*state = F;
	return 0;
}

static int
teardown(void **state)
{
	char	cmd[256];

	(void)state;
	db_quar_close();
	db_close();
	cfg_unref(F->cfg);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", F->dir);
	assert_int_equal(system(cmd), 0);
	free(F);
	return 0;
}

static void
meta_init(struct quar_meta *m, const char *const *rcpts, size_t n,
    int64_t t)
{
	memset(m, 0, sizeof *m);
	m->queue_id = "0000000AB00001";
	m->node = "gw1";
	m->type = QUAR_SPAM;
	m->time_ms = t;
	m->direction = DIR_INBOUND;
	m->sender = "spam@evil.test";
	m->rcpts = rcpts;
	m->nrcpts = n;
	m->client_addr = "192.0.2.1";
	m->subject = "Cheap € pills";
	m->scanned = true;
	m->score = 7.5;
	m->rule = "quarantine_spam";
	m->body_type = SMTP_BODY_8BITMIME;
}

static void
store(const struct quar_meta *m, char *id)
{
	char	*cause = NULL;

	if (quar_store(F->cfg, m, "X-Moat-Spam-Score: 7.5\r\n", MSG,
	    strlen(MSG), id, QUAR_ID_MAX, &cause) == -1)
		fail_msg("quar_store: %s", cause);
}

static size_t
files_in(const char *dir, bool *tmp_seen)
{
	DIR		*d = opendir(dir);
	struct dirent	*de;
	size_t		 n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.') {
			if (strncmp(de->d_name, ".tmp", 4) == 0)
				*tmp_seen = true;
			continue;
		}
		n++;
	}
	closedir(d);
	return n;
}

/* --- store ---------------------------------------------------------------- */

static void
test_store_durable_and_indexed(void **state)
{
	const char	*rcpts[] = { "u@example.com", "v@example.com" };
	struct quar_meta m;
	char		 id[QUAR_ID_MAX], path[512], *data, *cause = NULL;
	size_t		 len;
	bool		 tmp = false;
	json_t		*e, *findings;

	(void)state;
	findings = json_pack("[{s:s, s:f}]", "symbol", "BAYES_99", "score",
	    5.0);
	meta_init(&m, rcpts, 2, util_wall_ms());
	m.findings = findings;
	store(&m, id);
	assert_int_equal(strncmp(id, "0000000AB00001-", 15), 0);
	/* The file: prepend + message, in the type's folder, no temp left. */
	snprintf(path, sizeof path, "%s/spam/%s.eml", F->qdir, id);
	data = read_all(path, &len);
	assert_non_null(data);
	assert_int_equal(len, strlen("X-Moat-Spam-Score: 7.5\r\n") +
	    strlen(MSG));
	assert_int_equal(strncmp(data, "X-Moat-Spam-Score: 7.5\r\nFrom: ", 30),
	    0);
	free(data);
	snprintf(path, sizeof path, "%s/spam", F->qdir);
	assert_int_equal(files_in(path, &tmp), 1);
	assert_false(tmp);

	/* The index, read through a fresh connection (another "start"). */
	db_quar_close();
	assert_int_equal(db_quar_open(F->db, &cause), 0);
	e = db_quar_get(id, &cause);
	assert_non_null(e);
	assert_string_equal(json_string_value(json_object_get(e, "type")),
	    "spam");
	assert_string_equal(json_string_value(json_object_get(e, "sender")),
	    "spam@evil.test");
	assert_string_equal(json_string_value(json_object_get(e, "subject")),
	    "Cheap € pills");
	assert_true(json_real_value(json_object_get(e, "score")) == 7.5);
	assert_int_equal(json_array_size(json_object_get(e, "rcpts")), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(e, "rcpts"), 0), "state")), "held");
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(e, "findings"), 0), "symbol")), "BAYES_99");
	json_decref(e);
	json_decref(findings);

	/* Dropped: no row, no file. */
	assert_int_equal(quar_drop(F->cfg, id, &cause), 0);
	e = db_quar_get(id, &cause);
	assert_true(json_is_null(e));
	json_decref(e);
	snprintf(path, sizeof path, "%s/spam/%s.eml", F->qdir, id);
	assert_int_equal(access(path, F_OK), -1);
}

static void
test_store_fails_cleanly(void **state)
{
	const char	*rcpts[] = { "u@example.com" };
	struct quar_meta m;
	char		 id[QUAR_ID_MAX], path[512], *cause = NULL;
	json_t		*r;
	struct quar_query q;

	(void)state;
	/* A file where the folder should be: even root cannot write. */
	write_file(F->qdir, "not a folder");
	meta_init(&m, rcpts, 1, util_wall_ms());
	assert_int_equal(quar_store(F->cfg, &m, NULL, MSG, strlen(MSG), id,
	    sizeof id, &cause), -1);
	assert_non_null(cause);
	free(cause);
	memset(&q, 0, sizeof q);
	r = db_quar_search(&q, &cause);
	assert_int_equal(json_array_size(json_object_get(r, "items")), 0);
	json_decref(r);
	snprintf(path, sizeof path, "%s", F->qdir);
	assert_int_equal(unlink(path), 0);
}

/* --- search ---------------------------------------------------------- */

static void
test_search_and_paging(void **state)
{
	const char	*r1[] = { "alice@example.com" };
	const char	*r2[] = { "bob@example.com", "carol@example.com" };
	struct quar_meta m;
	struct quar_query q;
	char		 id[QUAR_ID_MAX], *cause = NULL, *cursor;
	json_t		*res;
	int		 i, seen = 0;
	int64_t		 t0 = util_wall_ms() - 100000;

	(void)state;
	for (i = 0; i < 7; i++) {
		meta_init(&m, i % 2 ? r1 : r2, i % 2 ? 1 : 2, t0 + i * 1000);
		m.type = i == 6 ? QUAR_VIRUS : QUAR_SPAM;
		m.subject = i == 3 ? "Special 100% offer" : "Plain";
		store(&m, id);
	}
	memset(&q, 0, sizeof q);
	q.rcpt = "ALICE@";
	res = db_quar_search(&q, &cause);
	assert_int_equal(json_array_size(json_object_get(res, "items")), 3);
	json_decref(res);
	memset(&q, 0, sizeof q);
	q.type = "virus";
	res = db_quar_search(&q, &cause);
	assert_int_equal(json_array_size(json_object_get(res, "items")), 1);
	json_decref(res);
	/* % is literal. */
	memset(&q, 0, sizeof q);
	q.text = "100%";
	res = db_quar_search(&q, &cause);
	assert_int_equal(json_array_size(json_object_get(res, "items")), 1);
	json_decref(res);
	memset(&q, 0, sizeof q);
	q.from_ms = t0 + 5000;
	res = db_quar_search(&q, &cause);
	assert_int_equal(json_array_size(json_object_get(res, "items")), 2);
	json_decref(res);

	/* Pages of 3, newest first, until "next" is null. */
	memset(&q, 0, sizeof q);
	q.limit = 3;
	cursor = NULL;
	for (;;) {
		q.cursor = cursor;
		res = db_quar_search(&q, &cause);
		assert_non_null(res);
		seen += (int)json_array_size(json_object_get(res, "items"));
		free(cursor);
		cursor = NULL;
		if (json_is_null(json_object_get(res, "next"))) {
			json_decref(res);
			break;
		}
		cursor = xstrdup(json_string_value(json_object_get(res,
		    "next")));
		json_decref(res);
	}
	assert_int_equal(seen, 7);
	q.cursor = "garbage";
	assert_null(db_quar_search(&q, &cause));
	free(cause);
}

/* --- release once ------------------------------------------------------- */

#define RACE_IDS	20
#define RACE_THREADS	6

struct race {
	char		 ids[RACE_IDS][QUAR_ID_MAX];
	size_t		 claimed[RACE_IDS];	/* under lock */
	pthread_mutex_t	 lock;
	pthread_barrier_t go;
};

static void *
racer(void *arg)
{
	struct race		*rc = arg;
	struct quar_entry	 e;
	char			*cause = NULL;
	int			 i;

	pthread_barrier_wait(&rc->go);
	for (i = 0; i < RACE_IDS; i++) {
		if (db_quar_claim(rc->ids[i], NULL, &e, &cause) != 0) {
			fprintf(stderr, "claim: %s\n", cause);
			free(cause);
			cause = NULL;
			continue;
		}
		pthread_mutex_lock(&rc->lock);
		rc->claimed[i] += e.nrcpts;
		pthread_mutex_unlock(&rc->lock);
		quar_entry_clear(&e);
	}
	return NULL;
}

static void
test_release_claim_once(void **state)
{
	const char	*rcpts[] = { "a@example.com", "b@example.com" };
	struct race	*rc;
	struct quar_meta m;
	pthread_t	 t[RACE_THREADS];
	int		 i;

	(void)state;
	rc = xcalloc(1, sizeof *rc);
	pthread_mutex_init(&rc->lock, NULL);
	pthread_barrier_init(&rc->go, NULL, RACE_THREADS);
	meta_init(&m, rcpts, 2, util_wall_ms());
	for (i = 0; i < RACE_IDS; i++)
		store(&m, rc->ids[i]);
	for (i = 0; i < RACE_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, racer, rc), 0);
	for (i = 0; i < RACE_THREADS; i++)
		pthread_join(t[i], NULL);
	/* Each recipient was claimed by exactly one of the racers. */
	for (i = 0; i < RACE_IDS; i++)
		assert_int_equal(rc->claimed[i], 2);
	pthread_barrier_destroy(&rc->go);
	pthread_mutex_destroy(&rc->lock);
	free(rc);
}

static void
test_settle_and_delete(void **state)
{
	const char		*rcpts[] = { "a@example.com", "b@example.com",
	    "c@example.com" };
	char			*done[] = { "a@example.com" };
	char			*back[] = { "b@example.com" };
	struct quar_meta	 m;
	struct quar_entry	 e;
	char			 id[QUAR_ID_MAX], *file = NULL, *cause = NULL;
	char			 path[512];
	json_t			*j;

	(void)state;
	meta_init(&m, rcpts, 3, util_wall_ms());
	store(&m, id);
	/* One recipient only. */
	assert_int_equal(db_quar_claim(id, "A@example.com", &e, &cause), 0);
	assert_int_equal(e.nrcpts, 1);
	assert_string_equal(e.sender, "spam@evil.test");
	assert_int_equal(e.body_type, SMTP_BODY_8BITMIME);
	quar_entry_clear(&e);
	assert_int_equal(db_quar_claim(id, "b@example.com", &e, &cause), 0);
	quar_entry_clear(&e);
	/* a delivered, b refused: b is held again, a is gone. */
	assert_int_equal(db_quar_settle(id, done, 1, back, 1, &file, &cause),
	    0);
	assert_null(file);
	j = db_quar_get(id, &cause);
	assert_int_equal(json_array_size(json_object_get(j, "rcpts")), 2);
	json_decref(j);
	/* Releasing b again works: it was put back. */
	assert_int_equal(db_quar_claim(id, NULL, &e, &cause), 0);
	assert_int_equal(e.nrcpts, 2);
	quar_entry_clear(&e);
	assert_int_equal(db_quar_claim(id, NULL, &e, &cause), 0);
	assert_int_equal(e.nrcpts, 0);		/* nothing held now */
	quar_entry_clear(&e);
	/* A crash while releasing: everything is held again at start. */
	{
		int n;

		assert_int_equal(db_quar_reset_releasing(&n, &cause), 0);
		assert_int_equal(n, 2);
	}
	/* Delete one, then the rest: the entry goes and names its file. */
	assert_int_equal(db_quar_delete(id, "c@example.com", &e, &file,
	    &cause), 0);
	assert_int_equal(e.nrcpts, 1);
	assert_null(file);
	quar_entry_clear(&e);
	assert_int_equal(db_quar_delete(id, NULL, &e, &file, &cause), 0);
	assert_int_equal(e.nrcpts, 1);
	assert_non_null(file);
	snprintf(path, sizeof path, "spam/%s.eml", id);
	assert_string_equal(file, path);
	free(file);
	quar_entry_clear(&e);
	assert_int_equal(db_quar_delete(id, NULL, &e, &file, &cause), 1);
	assert_int_equal(db_quar_claim("nope", NULL, &e, &cause), 1);
}

static void
test_expired(void **state)
{
	const char	*rcpts[] = { "a@example.com" };
	struct quar_meta m;
	char		 id[QUAR_ID_MAX], **ids, *cause = NULL;
	size_t		 n, i;
	int64_t		 now = util_wall_ms();

	(void)state;
	meta_init(&m, rcpts, 1, now - 10LL * 86400 * 1000);
	store(&m, id);				/* old spam */
	m.type = QUAR_VIRUS;
	store(&m, id);				/* old virus */
	m.type = QUAR_SPAM;
	m.time_ms = now;
	store(&m, id);				/* new spam */
	assert_int_equal(db_quar_expired(QUAR_SPAM, now - 7LL * 86400 * 1000,
	    10, &ids, &n, &cause), 0);
	assert_int_equal(n, 1);
	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	assert_int_equal(db_quar_expired(QUAR_VIRUS, now - 30LL * 86400 *
	    1000, 10, &ids, &n, &cause), 0);
	assert_int_equal(n, 0);
	free(ids);
}

/* --- lists -------------------------------------------------------------- */

static void
test_lists(void **state)
{
	struct policy_list_entry	*v;
	struct policy_lists		*l;
	char				*cause = NULL;
	bool				 added, found;
	size_t				 n;
	json_t				*j;

	(void)state;
	assert_int_equal(db_quar_list_add("", true, "*@Spam.test", NULL,
	    &added, &cause), 0);
	assert_true(added);
	assert_int_equal(db_quar_list_add("", true, "*@spam.TEST", NULL,
	    &added, &cause), 0);
	assert_false(added);			/* case-insensitive */
	assert_int_equal(db_quar_list_add("User@example.com", false,
	    "friend.test", "pal", &added, &cause), 0);
	j = db_quar_list_search("user@example.com", -1, NULL, 0, &cause);
	assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
	json_decref(j);
	j = db_quar_list_search(NULL, 1, NULL, 0, &cause);
	assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
	json_decref(j);

	assert_int_equal(db_quar_lists_load(&v, &n, &cause), 0);
	assert_int_equal(n, 2);
	l = policy_lists_new(v, n);
	assert_true(policy_lists_match(l, "", true, "x@SPAM.test"));
	assert_false(policy_lists_match(l, "", false, "x@spam.test"));
	assert_true(policy_lists_match(l, "user@EXAMPLE.com", false,
	    "a@friend.test"));
	assert_false(policy_lists_match(l, "other@example.com", false,
	    "a@friend.test"));
	policy_lists_unref(l);

	assert_int_equal(db_quar_list_del("", true, "*@spam.test", &found,
	    &cause), 0);
	assert_true(found);
	assert_int_equal(db_quar_list_del("", true, "*@spam.test", &found,
	    &cause), 0);
	assert_false(found);
	assert_int_equal(policy_list_pattern_check("a b", &cause), -1);
	free(cause);
	assert_int_equal(policy_list_pattern_check("example", &cause), -1);
	free(cause);
	assert_int_equal(policy_list_pattern_check("*.example.com", &cause),
	    0);
}

/* --- preview and digest ------------------------------------------------- */

static void
test_preview_sanitised(void **state)
{
	json_t		*p, *h, *it;
	const char	*text;
	size_t		 i;
	bool		 subj = false, evil = false;
	char		 big[4096];

	(void)state;
	p = quar_preview(MSG, strlen(MSG), 1024);
	h = json_object_get(p, "headers");
	json_array_foreach(h, i, it) {
		const char *n = json_string_value(json_object_get(it, "name"));
		const char *v = json_string_value(json_object_get(it, "value"));

		if (strcmp(n, "Subject") == 0) {
			assert_string_equal(v, "Cheap € pills");
			subj = true;
		}
		if (strcmp(n, "X-Evil") == 0) {
			assert_null(strchr(v, '\x1b'));
			assert_null(strchr(v, '\x01'));
			evil = true;
		}
	}
	assert_true(subj && evil);
	text = json_string_value(json_object_get(p, "text"));
	assert_non_null(strstr(text, "Buy now! Cheap pills.\nLine two."));
	assert_null(strchr(text, '\x07'));
	assert_null(strchr(text, '\r'));
	json_decref(p);

	/* The preview stops at its size. */
	memset(big, 'x', sizeof big);
	memcpy(big, "Subject: s\r\n\r\n", 14);
	big[sizeof big - 1] = '\0';
	p = quar_preview(big, strlen(big), 300);
	assert_true(strlen(json_string_value(json_object_get(p, "text"))) <=
	    300);
	json_decref(p);
}

static void
test_report_render(void **state)
{
	struct quar_cfg	 q;
	json_t		*items;
	char		*raw, *cause = NULL;
	size_t		 len;

	(void)state;
	assert_int_equal(quar_cfg_load(F->cfg, &q, &cause), 0);
	items = json_pack("[{s:s, s:I, s:s, s:s, s:f}, {s:s, s:I, s:s, s:s,"
	    " s:f}]", "id", "ID1-00000001", "time_ms", (json_int_t)0,
	    "sender", "a@evil.test", "subject", "<script>x</script>", "score",
	    9.0, "id", "ID2-00000002", "time_ms", (json_int_t)0, "sender", "",
	    "subject", "Second", "score", 5.5);
	raw = quar_report_render(&q, "moat.test", "u@example.com", items,
	    &len);
	assert_non_null(strstr(raw, "From: reports@moat.test\r\n"));
	assert_non_null(strstr(raw, "To: u@example.com\r\n"));
	assert_non_null(strstr(raw, "Subject: Spam report: 2 message(s) in "
	    "quarantine\r\n"));
	assert_non_null(strstr(raw, "multipart/alternative"));
	assert_non_null(strstr(raw, "text/plain"));
	assert_non_null(strstr(raw, "text/html"));
	assert_non_null(strstr(raw, "ID1-00000001"));
	/* HTML is escaped in the HTML part. */
	assert_non_null(strstr(raw, "&lt;script&gt;"));
	json_decref(items);
	free(raw);
	quar_cfg_free(&q);
}

/* --- policy_prepare with the store ----------------------------------------- */

static void
test_prepare_quarantines(void **state)
{
	struct policy		*p;
	struct policy_lists	*l = policy_lists_new(NULL, 0);
	struct policy_result	*r;
	struct policy_input	 in;
	struct findings		 f;
	struct msg		*msg;
	const char		*rcpts[] = { "u@example.com", "boss@example.com" };
	char			 path[512], *cause = NULL, *data;
	json_t			*e;

	(void)state;
	snprintf(path, sizeof path, "%s/rules.d/policy/r.conf", F->dir);
	write_file(path, "who = { boss = { objects = ( { email = "
	    "\"boss@example.com\"; } ); }; };\n"
	    "what = { spam = { objects = ( { spam_score = 5; } ); }; };\n"
	    "actions = { q = { type = \"quarantine\"; }; tag = { type = "
	    "\"add_header\"; field = \"X-Tagged\"; value = \"${score}\"; }; "
	    "bcc = { type = \"bcc\"; to = \"archive@example.com\"; }; };\n"
	    "rules = { t = { priority = 90; action = [ \"tag\", \"bcc\" ]; }; "
	    "boss = { priority = 85; to = \"boss\"; action = \"tag\"; }; "
	    "s = { priority = 80; what = \"spam\"; to = \"!boss\"; action = "
	    "\"q\"; }; };\n");
	p = policy_load(F->cfg, &cause);
	if (p == NULL)
		fail_msg("%s", cause);
	msg = mime_parse(MSG, strlen(MSG));
	findings_init(&f);
	findings_add(&f, "TEST_SPAM", 6.0, "%s", "test");
	memset(&in, 0, sizeof in);
	in.direction = DIR_INBOUND;
	in.sender = "spam@evil.test";
	in.rcpts = rcpts;
	in.nrcpts = 2;
	in.msg = msg;
	in.findings = &f;
	in.lists = l;
	in.time_ms = util_wall_ms();
	in.raw = MSG;
	in.raw_len = strlen(MSG);
	in.prepend = "X-Moat-Spam-Score: 6.00\r\n";
	in.queue_id = "0000000AB00002";
	in.node = "gw1";
	r = policy_eval(p, &in);
	assert_int_equal(r->ngroups, 2);
	if (policy_prepare(r, &in, F->cfg, &cause) == -1)
		fail_msg("policy_prepare: %s", cause);
	/* u@ is quarantined (tagged copy); boss@ gets a rewritten body. */
	assert_int_equal(r->groups[0].final, POLICY_QUARANTINE);
	assert_true(r->groups[0].quar_id[0] != '\0');
	assert_null(r->groups[0].body);
	assert_int_equal(r->groups[1].final, POLICY_ACCEPT);
	assert_non_null(r->groups[1].body);
	assert_int_equal(r->nextras, 1);		/* one BCC copy */
	e = db_quar_get(r->groups[0].quar_id, &cause);
	assert_string_equal(json_string_value(json_object_get(e, "rule")), "s");
	assert_int_equal(json_array_size(json_object_get(e, "rcpts")), 1);
	json_decref(e);
	snprintf(path, sizeof path, "%s/spam/%s.eml", F->qdir,
	    r->groups[0].quar_id);
	data = read_all(path, NULL);
	assert_non_null(strstr(data, "X-Moat-Spam-Score: 6.00\r\n"));
	assert_non_null(strstr(data, "X-Tagged: 6.00\r\n"));
	free(data);
	policy_result_free(r);
	msg_free(msg);
	findings_free(&f);
	policy_lists_unref(l);
	policy_unref(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_store_durable_and_indexed,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_fails_cleanly,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_search_and_paging, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_release_claim_once, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_settle_and_delete, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_expired, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_preview_sanitised, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_report_render, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_prepare_quarantines,
		    setup, teardown),
	};

	log_init("test_quar", true, false);
	g_mime_init();
	mime_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
