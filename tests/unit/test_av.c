/*
 * Anti-virus: our signature files (rules.d/clamav) in libclamav, EICAR in
 * memory, in a zip and in a zip in a zip (built here with libarchive: no
 * EICAR file is committed), an encrypted zip, the .ldb/.ndb/.hdb test
 * signatures, reloads that swap engines while old ones are in use, and the
 * clamav scan filter's configuration and findings.
 * Run from the top of the tree (rules.d/clamav is read from there).
 */
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>

#include "av.h"
#include "cfg.h"
#include "filter_clamav.h"
#include "finding.h"
#include "msg.h"
#include "scan.h"

#define SIGDIR	"rules.d/clamav"

/* The EICAR test file, assembled at run time from two halves so that
 * neither the source nor the binary holds it whole. */
static const char eicar_a[] = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$";
static const char eicar_b[] = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
static char	  eicar[80];
static size_t	  eicar_len;

static char	  dir[64];
static char	  top[512];

static void
make_eicar(void)
{
	eicar_len = (size_t)snprintf(eicar, sizeof eicar, "%s%s", eicar_a,
	    eicar_b);
}

static int
setup(void **state)
{
	(void)state;
	make_eicar();
	if (getcwd(top, sizeof top) == NULL)
		return -1;
	snprintf(dir, sizeof dir, "/tmp/moat-av-XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char	cmd[128];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* --- helpers -------------------------------------------------------------- */

/* A zip in memory holding one file; pass: zipcrypt encryption. */
static unsigned char *
make_zip(const char *name, const void *data, size_t len, const char *pass,
    size_t *outlen)
{
	struct archive		*a = archive_write_new();
	struct archive_entry	*e = archive_entry_new();
	size_t			 cap = len * 2 + 4096, used = 0;
	unsigned char		*buf = malloc(cap);

	assert_non_null(buf);
	assert_int_equal(archive_write_set_format_zip(a), ARCHIVE_OK);
	if (pass != NULL) {
		assert_int_equal(archive_write_set_options(a,
		    "zip:encryption=zipcrypt"), ARCHIVE_OK);
		assert_int_equal(archive_write_set_passphrase(a, pass),
		    ARCHIVE_OK);
	}
	assert_int_equal(archive_write_open_memory(a, buf, cap, &used),
	    ARCHIVE_OK);
	archive_entry_set_pathname(e, name);
	archive_entry_set_size(e, (la_int64_t)len);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(a, data, len), (la_ssize_t)len);
	archive_entry_free(e);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	*outlen = used;
	return buf;
}

static void
write_file(const char *path, const char *text)
{
	FILE	*f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void
conf_init(struct av_conf *c, const char *sig)
{
	memset(c, 0, sizeof *c);
	c->sigs = calloc(2, sizeof *c->sigs);
	assert_non_null(c->sigs);
	c->sigs[0] = strdup(sig);
	c->nsigs = 1;
	c->max_scan_size = AV_MAX_SCAN_SIZE;
	c->max_file_size = AV_MAX_FILE_SIZE;
	c->max_recursion = AV_MAX_RECURSION;
	c->max_files = AV_MAX_FILES;
	c->max_scan_time_ms = AV_MAX_SCAN_TIME_MS;
	c->check_interval = 0;
}

static struct av *
open_sigs(const char *sig)
{
	struct av_conf	 c;
	struct av	*a;
	char		*cause = NULL;

	conf_init(&c, sig);
	a = av_open(&c, &cause);
	if (a == NULL)
		fail_msg("av_open %s: %s", sig, cause);
	av_conf_free(&c);
	return a;
}

static void
scan(struct av *a, const void *data, size_t len, struct av_result *r)
{
	struct av_engine	*e = av_acquire(a);

	assert_non_null(e);
	av_scan(e, data, len, "test", r);
	av_release(e);
}

static void
assert_virus(const struct av_result *r, const char *prefix)
{
	if (r->status != AV_VIRUS || strncmp(r->name, prefix,
	    strlen(prefix)) != 0)
		fail_msg("want virus %s..., got %s %s", prefix,
		    av_status_name(r->status), r->name);
}

/* --- the engine ----------------------------------------------------------- */

static void
test_load_own(void **state)
{
	struct av		*a;
	struct av_engine	*e;
	struct av_info		 info;

	(void)state;
	a = open_sigs(SIGDIR);
	e = av_acquire(a);
	assert_non_null(e);
	av_engine_info(e, &info);
	/* moat.ndb 2, moat.hdb 2, moat.ldb 1. */
	assert_int_equal(info.sigs, 5);
	assert_false(info.system_db);
	assert_int_equal(info.generation, 1);
	av_release(e);
	av_close(a);
}

static void
test_eicar(void **state)
{
	struct av		*a;
	struct av_result	 r;
	unsigned char		*z1, *z2;
	size_t			 n1, n2;
	char			 crlf[96];

	(void)state;
	a = open_sigs(SIGDIR);
	scan(a, eicar, eicar_len, &r);
	assert_virus(&r, "Moat.Test.EICAR");
	/* With a line end the hash differs: the body signature finds it. */
	snprintf(crlf, sizeof crlf, "%s\r\n", eicar);
	scan(a, crlf, strlen(crlf), &r);
	assert_virus(&r, "Moat.Test.EICAR");

	z1 = make_zip("eicar.com", eicar, eicar_len, NULL, &n1);
	scan(a, z1, n1, &r);
	assert_virus(&r, "Moat.Test.EICAR");
	z2 = make_zip("inner.zip", z1, n1, NULL, &n2);
	scan(a, z2, n2, &r);
	assert_virus(&r, "Moat.Test.EICAR");
	free(z1);
	free(z2);

	scan(a, "just a harmless text\n", 21, &r);
	assert_int_equal(r.status, AV_CLEAN);
	scan(a, "", 0, &r);
	assert_int_equal(r.status, AV_CLEAN);
	av_close(a);
}

/* libclamav loads a lone .ndb file and finds EICAR in a zip in a zip. */
static void
test_lone_ndb(void **state)
{
	struct av		*a;
	struct av_engine	*e;
	struct av_info		 info;
	struct av_result	 r;
	unsigned char		*z1, *z2;
	size_t			 n1, n2;

	(void)state;
	a = open_sigs(SIGDIR "/moat.ndb");
	e = av_acquire(a);
	av_engine_info(e, &info);
	assert_int_equal(info.sigs, 2);
	av_release(e);
	z1 = make_zip("eicar.com", eicar, eicar_len, NULL, &n1);
	z2 = make_zip("inner.zip", z1, n1, NULL, &n2);
	scan(a, z2, n2, &r);
	assert_virus(&r, "Moat.Test.EICAR.UNOFFICIAL");
	free(z1);
	free(z2);
	av_close(a);
}

static void
test_encrypted_zip(void **state)
{
	struct av		*a;
	struct av_result	 r;
	unsigned char		*z;
	size_t			 n;

	(void)state;
	a = open_sigs(SIGDIR);
	z = make_zip("report.doc", "quarterly numbers", 17, "secret", &n);
	scan(a, z, n, &r);
	assert_int_equal(r.status, AV_ENCRYPTED);
	assert_string_equal(r.name, "Heuristics.Encrypted.Zip");
	free(z);
	av_close(a);
}

/* Past a limit: a finding of its own, not a virus, not a pass; and a
 * heuristic alert never hides a signature match elsewhere. */
static void
test_limits(void **state)
{
	struct av_conf		 c;
	struct av		*a;
	struct av_result	 r;
	unsigned char		*enc, *both;
	char			*big, *cause = NULL;
	size_t			 nenc, nboth;

	(void)state;
	conf_init(&c, SIGDIR);
	c.max_file_size = 2048;
	c.max_scan_size = 4096;
	a = av_open(&c, &cause);
	assert_non_null(a);
	big = malloc(100000);
	assert_non_null(big);
	memset(big, 'a', 100000);
	scan(a, big, 100000, &r);
	assert_int_equal(r.status, AV_LIMITS);
	assert_string_equal(r.name, "Heuristics.Limits.Exceeded.MaxFileSize");
	free(big);
	av_close(a);
	av_conf_free(&c);

	a = open_sigs(SIGDIR);
	enc = make_zip("locked.txt", "secret", 6, "pw", &nenc);
	{
		struct archive		*w = archive_write_new();
		struct archive_entry	*e;
		size_t			 cap = nenc + 8192, used = 0;
		const struct {
			const char	*name;
			const void	*data;
			size_t		 len;
		} files[] = {
			{ "locked.zip", enc, nenc },
			{ "eicar.com", eicar, eicar_len },
		};
		size_t			 i;

		both = malloc(cap);
		archive_write_set_format_zip(w);
		archive_write_open_memory(w, both, cap, &used);
		for (i = 0; i < 2; i++) {
			e = archive_entry_new();
			archive_entry_set_pathname(e, files[i].name);
			archive_entry_set_size(e, (la_int64_t)files[i].len);
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_perm(e, 0644);
			archive_write_header(w, e);
			archive_write_data(w, files[i].data, files[i].len);
			archive_entry_free(e);
		}
		archive_write_close(w);
		archive_write_free(w);
		nboth = used;
	}
	scan(a, both, nboth, &r);
	assert_virus(&r, "Moat.Test.EICAR");
	free(enc);
	free(both);
	av_close(a);
}

static void
test_test_signatures(void **state)
{
	struct av		*a;
	struct av_result	 r;
	const char		*macro = "Attribute VB_Name\r\n"
				    "Sub AutoOpen()\r\n"
				    "  Shell \"MOAT-TEST-MACRO\"\r\n"
				    "End Sub\r\n";

	(void)state;
	a = open_sigs(SIGDIR);
	/* .ldb: both sub-signatures. */
	scan(a, macro, strlen(macro), &r);
	assert_virus(&r, "Moat.Test.Macro");
	scan(a, "Sub AutoOpen()\n", 15, &r);
	assert_int_equal(r.status, AV_CLEAN);
	scan(a, "MOAT-TEST-MACRO\n", 16, &r);
	assert_int_equal(r.status, AV_CLEAN);
	/* .ndb marker, anywhere. */
	scan(a, "prefix MOAT-TEST-VIRUS-MARKER suffix", 36, &r);
	assert_virus(&r, "Moat.Test.Marker");
	/* .hdb: the whole file only. */
	scan(a, "Moat test hash signature file\n", 30, &r);
	assert_virus(&r, "Moat.Test.Hash");
	scan(a, "Moat test hash signature file\n\n", 31, &r);
	assert_int_equal(r.status, AV_CLEAN);
	av_close(a);
}

static void
test_bad_signatures(void **state)
{
	struct av_conf	 c;
	struct av	*a;
	char		 path[128], *cause = NULL;

	(void)state;
	snprintf(path, sizeof path, "%s/bad", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof path, "%s/bad/broken.ndb", dir);
	write_file(path, "Broken.Sig:0:*:zz-not-hex\n");
	conf_init(&c, path);
	a = av_open(&c, &cause);
	assert_null(a);
	assert_non_null(cause);
	assert_non_null(strstr(cause, "broken.ndb"));
	free(cause);
	av_conf_free(&c);

	/* A folder with no signature at all is an error too. */
	snprintf(path, sizeof path, "%s/empty", dir);
	mkdir(path, 0755);
	conf_init(&c, path);
	cause = NULL;
	assert_null(av_open(&c, &cause));
	assert_non_null(cause);
	free(cause);
	av_conf_free(&c);
}

/* --- reload --------------------------------------------------------------- */

static void
copy_sig(const char *name, const char *to)
{
	char	cmd[1024];

	snprintf(cmd, sizeof cmd, "cp %s/%s/%s %s/", top, SIGDIR, name, to);
	assert_int_equal(system(cmd), 0);
}

static void
test_reload_swaps(void **state)
{
	struct av		*a;
	struct av_engine	*e1, *e2;
	struct av_info		 i1, i2;
	struct av_result	 r;
	char			 sigs[128], *cause = NULL;
	const char		*hashed = "Moat test hash signature file\n";

	(void)state;
	snprintf(sigs, sizeof sigs, "%s/reload", dir);
	mkdir(sigs, 0755);
	copy_sig("moat.ndb", sigs);
	a = open_sigs(sigs);
	e1 = av_acquire(a);		/* a scan in progress */
	av_engine_info(e1, &i1);
	av_scan(e1, hashed, 30, "t", &r);
	assert_int_equal(r.status, AV_CLEAN);

	assert_int_equal(av_check(a, true, &cause), 0);	/* unchanged */
	copy_sig("moat.hdb", sigs);
	assert_int_equal(av_check(a, true, &cause), 1);
	e2 = av_acquire(a);
	assert_ptr_not_equal(e1, e2);
	av_engine_info(e2, &i2);
	assert_int_equal(i2.generation, i1.generation + 1);
	assert_int_equal(i2.sigs, i1.sigs + 2);
	av_scan(e2, hashed, 30, "t", &r);
	assert_virus(&r, "Moat.Test.Hash");
	/* The old engine still scans until its user lets it go. */
	av_scan(e1, hashed, 30, "t", &r);
	assert_int_equal(r.status, AV_CLEAN);
	av_scan(e1, eicar, eicar_len, "t", &r);
	assert_virus(&r, "Moat.Test.EICAR");
	av_release(e1);
	av_release(e2);

	/* A broken change keeps the running engine. */
	snprintf(sigs, sizeof sigs, "%s/reload/zz.ndb", dir);
	write_file(sigs, "Broken:0:*:nothex\n");
	assert_int_equal(av_check(a, true, &cause), -1);
	assert_non_null(cause);
	free(cause);
	scan(a, hashed, 30, &r);
	assert_virus(&r, "Moat.Test.Hash");
	unlink(sigs);
	av_close(a);
}

/* Opening the same configuration again (a SIGHUP) shares the engine, and
 * rebuilds it only when the files changed. */
static void
test_reopen_shares(void **state)
{
	struct av_conf		 c;
	struct av		*a, *b, *d;
	struct av_engine	*e;
	struct av_info		 info;
	struct av_result	 r;
	char			 sigs[128], *cause = NULL;

	(void)state;
	snprintf(sigs, sizeof sigs, "%s/share", dir);
	mkdir(sigs, 0755);
	copy_sig("moat.ndb", sigs);
	conf_init(&c, sigs);
	a = av_open(&c, &cause);
	assert_non_null(a);
	b = av_open(&c, &cause);
	assert_ptr_equal(a, b);
	e = av_acquire(b);
	av_engine_info(e, &info);
	assert_int_equal(info.generation, 1);
	av_release(e);

	copy_sig("moat.ldb", sigs);
	d = av_open(&c, &cause);	/* quick build: inline */
	assert_ptr_equal(a, d);
	e = av_acquire(d);
	av_engine_info(e, &info);
	assert_int_equal(info.generation, 2);
	av_scan(e, "Sub AutoOpen() MOAT-TEST-MACRO", 30, "t", &r);
	assert_virus(&r, "Moat.Test.Macro");
	av_release(e);
	av_close(a);
	av_close(b);
	av_close(d);
	av_conf_free(&c);
}

/* The watcher thread picks up changes by itself. */
static void
test_watcher(void **state)
{
	struct av_conf		 c;
	struct av		*a;
	struct av_engine	*e;
	struct av_info		 info;
	char			 sigs[128], *cause = NULL;
	int			 i;

	(void)state;
	snprintf(sigs, sizeof sigs, "%s/watch", dir);
	mkdir(sigs, 0755);
	copy_sig("moat.ndb", sigs);
	conf_init(&c, sigs);
	c.check_interval = 1;
	a = av_open(&c, &cause);
	assert_non_null(a);
	copy_sig("moat.hdb", sigs);
	for (i = 0; i < 100; i++) {	/* poll up to 10 s */
		e = av_acquire(a);
		av_engine_info(e, &info);
		av_release(e);
		if (info.generation == 2)
			break;
		usleep(100 * 1000);
	}
	assert_int_equal(info.generation, 2);
	assert_int_equal(info.sigs, 4);
	av_close(a);
	av_conf_free(&c);
}

/* --- the filter ----------------------------------------------------------- */

static struct cfg *
load_conf(const char *clamav, char **cause)
{
	char	path[128];
	FILE	*f;

	snprintf(path, sizeof path, "%s/moat.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "storage = { path = \"state/moat.db\"; };\n"
	    "rules = { dir = \"%s/rules.d\"; };\n"
	    "filters = { clamav = { %s }; };\n", top, clamav);
	fclose(f);
	return cfg_load(path, cause);
}

static void
test_filter_config(void **state)
{
	struct filter_clamav_state	*st;
	struct cfg			*c;
	void				*vs = NULL;
	char				*cause = NULL;

	(void)state;
	c = load_conf("enabled = true; system_db = \"\";", &cause);
	assert_non_null(c);
	assert_int_equal(filter_clamav.init(c, &vs, &cause), 0);
	st = vs;
	assert_true(st->scan_parts);
	assert_true(st->encrypted_score == FILTER_CLAMAV_ENCRYPTED_SCORE);
	filter_clamav.free(vs);
	cfg_unref(c);

	c = load_conf("enabled = true; bogus = 1;", &cause);
	assert_non_null(c);
	assert_int_equal(filter_clamav.init(c, &vs, &cause), -1);
	assert_non_null(strstr(cause, "moat.conf:3: unknown key 'bogus'"));
	free(cause);
	cfg_unref(c);

	cause = NULL;
	c = load_conf("enabled = true; signatures = [ \"nowhere\" ];", &cause);
	assert_non_null(c);
	assert_int_equal(filter_clamav.init(c, &vs, &cause), -1);
	assert_non_null(strstr(cause, "moat.conf:3: signatures:"));
	assert_non_null(strstr(cause, "nowhere"));
	free(cause);
	cfg_unref(c);

	/* No signatures anywhere: refused, with the reason. */
	cause = NULL;
	c = load_conf("enabled = true; system_db = \"\";", &cause);
	assert_non_null(c);
	free(c->rules_dir);
	c->rules_dir = strdup(dir);	/* has no clamav folder */
	assert_int_equal(filter_clamav.init(c, &vs, &cause), -1);
	assert_non_null(strstr(cause, "no signatures"));
	assert_non_null(strstr(cause, "clamav does not exist"));
	free(cause);
	cfg_unref(c);

	cause = NULL;
	c = load_conf("enabled = true; max_recursion = 0;", &cause);
	assert_non_null(c);
	assert_int_equal(filter_clamav.init(c, &vs, &cause), -1);
	assert_non_null(strstr(cause, "max_recursion"));
	free(cause);
	cfg_unref(c);
}

/* A message with a text part and one attachment. */
struct fake {
	struct msg	 m;
	struct msg_part	 parts[3];
	char		*raw;
};

static void
fake_msg(struct fake *f, const char *raw, const void *att, size_t attlen,
    const char *name)
{
	memset(f, 0, sizeof *f);
	f->raw = strdup(raw);
	f->m.raw = f->raw;
	f->m.raw_len = strlen(raw);
	f->m.parts = f->parts;
	f->m.nparts = 3;
	f->parts[0].index = 0;
	f->parts[0].parent = -1;
	f->parts[0].content_type = (char *)"multipart/mixed";
	f->parts[1].index = 1;
	f->parts[1].parent = 0;
	f->parts[1].content_type = (char *)"text/plain";
	f->parts[1].data = (unsigned char *)(char *)"hello\r\n";
	f->parts[1].len = 7;
	f->parts[1].is_text = true;
	f->parts[2].index = 2;
	f->parts[2].parent = 0;
	f->parts[2].content_type = (char *)"application/octet-stream";
	f->parts[2].filename = (char *)name;
	f->parts[2].data = (unsigned char *)(uintptr_t)att;
	f->parts[2].len = attlen;
	f->parts[2].is_attachment = true;
}

static void
run_filter(void *vs, struct fake *f, struct findings *out)
{
	struct scan_ctx	ctx;

	memset(&ctx, 0, sizeof ctx);
	ctx.msg = &f->m;
	ctx.findings = out;
	findings_init(out);
	filter_clamav.run(vs, &ctx);
}

static const struct finding *
find(const struct findings *f, const char *symbol)
{
	size_t	i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->v[i].symbol, symbol) == 0)
			return &f->v[i];
	return NULL;
}

static void
test_filter_run(void **state)
{
	struct cfg		*c;
	struct fake		 f;
	struct findings		 out;
	const struct finding	*x;
	void			*vs = NULL;
	char			*cause = NULL, raw[512];
	unsigned char		*z, *zz, *enc;
	size_t			 n, nn, nenc;

	(void)state;
	c = load_conf("enabled = true; system_db = \"\";", &cause);
	assert_non_null(c);
	assert_int_equal(filter_clamav.init(c, &vs, &cause), 0);

	/* EICAR in the raw message. */
	snprintf(raw, sizeof raw, "Subject: t\r\n\r\n%s\r\n", eicar);
	fake_msg(&f, raw, "x", 1, "x.txt");
	run_filter(vs, &f, &out);
	assert_non_null(out.virus);
	assert_non_null(strstr(out.virus, "Moat.Test.EICAR"));
	assert_non_null((x = find(&out, "VIRUS")));
	assert_non_null(strstr(x->detail, "the message"));
	assert_false(out.av_failed);
	findings_free(&out);
	free(f.raw);

	/* Only in a decoded part (a parser differential): still found. */
	z = make_zip("eicar.com", eicar, eicar_len, NULL, &n);
	zz = make_zip("inner.zip", z, n, NULL, &nn);
	fake_msg(&f, "Subject: t\r\n\r\nnothing to see\r\n", zz, nn,
	    "docs.zip");
	run_filter(vs, &f, &out);
	assert_non_null(out.virus);
	assert_non_null((x = find(&out, "VIRUS")));
	assert_non_null(strstr(x->detail, "part 2 (docs.zip)"));
	findings_free(&out);
	free(f.raw);

	/* Encrypted: a finding with a score, not a pass, not a virus. */
	enc = make_zip("a.txt", "secret", 6, "pw", &nenc);
	fake_msg(&f, "Subject: t\r\n\r\nsee attached\r\n", enc, nenc,
	    "a.zip");
	run_filter(vs, &f, &out);
	assert_null(out.virus);
	assert_non_null((x = find(&out, "ENCRYPTED_ARCHIVE")));
	assert_true(x->score == FILTER_CLAMAV_ENCRYPTED_SCORE);
	assert_false(out.av_failed);
	findings_free(&out);
	free(f.raw);

	/* Clean. */
	fake_msg(&f, "Subject: t\r\n\r\nhello\r\n", "plain", 5, "a.txt");
	run_filter(vs, &f, &out);
	assert_int_equal(out.n, 0);
	assert_null(out.virus);
	assert_false(out.av_failed);
	findings_free(&out);
	free(f.raw);

	/* Nothing to scan: a failure, never a pass. */
	fake_msg(&f, "x", "x", 1, "x");
	f.m.raw = NULL;
	run_filter(vs, &f, &out);
	assert_true(out.av_failed);
	assert_non_null(find(&out, "AV_FAILED"));
	findings_free(&out);
	free(f.raw);

	free(z);
	free(zz);
	free(enc);
	filter_clamav.free(vs);
	cfg_unref(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_own),
		cmocka_unit_test(test_eicar),
		cmocka_unit_test(test_lone_ndb),
		cmocka_unit_test(test_encrypted_zip),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_test_signatures),
		cmocka_unit_test(test_bad_signatures),
		cmocka_unit_test(test_reload_swaps),
		cmocka_unit_test(test_reopen_shares),
		cmocka_unit_test(test_watcher),
		cmocka_unit_test(test_filter_config),
		cmocka_unit_test(test_filter_run),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
