/*
 * Archive listing (archlist: zip, tar.gz, 7z, a lone .gz, nested archives,
 * encryption, limits), attachment facts (attach: executables, double
 * extensions, type mismatches, bidi names, members of archives) and the
 * attachments scan filter's findings and configuration. Archives are built
 * here with libarchive.
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
#include <gmime/gmime.h>

#include "archlist.h"
#include "attach.h"
#include "cfg.h"
#include "filter_attachments.h"
#include "finding.h"
#include "mime.h"
#include "msg.h"
#include "scan.h"

static char	dir[64];
static unsigned char pe[512];	/* a minimal PE header */

static void
make_pe(void)
{
	memset(pe, 0, sizeof pe);
	pe[0] = 'M';
	pe[1] = 'Z';
	pe[0x3c] = 0x80;
	memcpy(pe + 0x80, "PE\0\0", 4);
	pe[0x84] = 0x4c;	/* i386 */
	pe[0x85] = 0x01;
	pe[0x86] = 1;		/* sections */
	pe[0x94] = 0xe0;	/* optional header size */
	pe[0x96] = 0x02;	/* executable image */
	pe[0x97] = 0x01;
	pe[0x98] = 0x0b;	/* PE32 */
	pe[0x99] = 0x01;
}

static int
setup(void **state)
{
	(void)state;
	make_pe();
	snprintf(dir, sizeof dir, "/tmp/moat-archive-XXXXXX");
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

/* --- building archives ---------------------------------------------------- */

struct file {
	const char	*name;
	const void	*data;
	size_t		 len;
};

enum kind { ZIP, ZIP_ENC, TAR_GZ, SEVEN_Z, GZ };

static unsigned char *
build(enum kind k, const struct file *files, size_t n, size_t *outlen)
{
	struct archive		*a = archive_write_new();
	struct archive_entry	*e;
	size_t			 cap = 64 * 1024, used = 0, i;
	unsigned char		*buf;

	for (i = 0; i < n; i++)
		cap += files[i].len * 2;
	buf = malloc(cap);
	assert_non_null(buf);
	switch (k) {
	case ZIP:
		archive_write_set_format_zip(a);
		break;
	case ZIP_ENC:
		archive_write_set_format_zip(a);
		assert_int_equal(archive_write_set_options(a,
		    "zip:encryption=zipcrypt"), ARCHIVE_OK);
		archive_write_set_passphrase(a, "pw");
		break;
	case TAR_GZ:
		archive_write_set_format_pax_restricted(a);
		archive_write_add_filter_gzip(a);
		break;
	case SEVEN_Z:
		archive_write_set_format_7zip(a);
		break;
	case GZ:
		archive_write_set_format_raw(a);
		archive_write_add_filter_gzip(a);
		break;
	}
	archive_write_set_bytes_in_last_block(a, 1);
	assert_int_equal(archive_write_open_memory(a, buf, cap, &used),
	    ARCHIVE_OK);
	for (i = 0; i < n; i++) {
		e = archive_entry_new();
		archive_entry_set_pathname(e, files[i].name);
		archive_entry_set_size(e, (la_int64_t)files[i].len);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		assert_int_equal(archive_write_data(a, files[i].data,
		    files[i].len), (la_ssize_t)files[i].len);
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	*outlen = used;
	return buf;
}

static const char text[] = "Minutes of the meeting.\nNothing happened.\n";

static const struct archlist_member *
member_named(const struct archlist *l, const char *name)
{
	size_t	i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].name, name) == 0)
			return &l->v[i];
	fail_msg("no member %s", name);
	return NULL;
}

/* --- archlist ------------------------------------------------------------- */

static void
test_sniff(void **state)
{
	char	*t;

	(void)state;
	t = archlist_sniff(pe, sizeof pe);
	assert_non_null(t);
	assert_true(strcmp(t, "application/vnd.microsoft.portable-executable")
	    == 0 || strcmp(t, "application/x-dosexec") == 0);
	free(t);
	t = archlist_sniff(text, strlen(text));
	assert_string_equal(t, "text/plain");
	free(t);
	assert_true(archlist_type_is_archive("application/zip"));
	assert_true(archlist_type_is_archive("application/x-7z-compressed"));
	assert_true(archlist_type_is_archive("application/gzip; x=y"));
	assert_false(archlist_type_is_archive("application/pdf"));
	assert_false(archlist_type_is_archive(NULL));
	assert_true(archlist_name_is_archive("a.ZIP"));
	assert_true(archlist_name_is_archive("x.tar.gz"));
	assert_false(archlist_name_is_archive("zip"));
	assert_false(archlist_name_is_archive("a.pdf"));
}

static void
test_zip_nested(void **state)
{
	struct archlist			 l;
	const struct archlist_member	*m, *inner, *deep;
	struct file			 f3[] = {
		{ "c.pdf.exe", pe, sizeof pe },
	};
	unsigned char			*z3, *z2, *z1;
	size_t				 n3, n2, n1;

	(void)state;
	z3 = build(ZIP, f3, 1, &n3);
	{
		struct file f2[] = {
			{ "deep.zip", z3, n3 },
			{ "notes.txt", text, strlen(text) },
		};
		z2 = build(ZIP, f2, 2, &n2);
	}
	{
		struct file f1[] = {
			{ "a.txt", text, strlen(text) },
			{ "dir/b.exe", pe, sizeof pe },
			{ "inner.zip", z2, n2 },
		};
		z1 = build(ZIP, f1, 3, &n1);
	}
	assert_int_equal(archlist_list(z1, n1, "outer.zip", NULL, &l), 0);
	assert_string_equal(l.format, "zip");
	assert_int_equal(l.n, 3 + 2 + 1);
	assert_true(l.flags & ARCHLIST_F_NESTED);
	assert_false(l.flags & ARCHLIST_F_ENCRYPTED);

	m = member_named(&l, "a.txt");
	assert_int_equal(m->depth, 1);
	assert_int_equal(m->parent, -1);
	assert_string_equal(m->type, "text/plain");
	assert_int_equal(m->size, (int64_t)strlen(text));

	m = member_named(&l, "dir/b.exe");
	assert_non_null(strstr(m->type, "exec") != NULL ? m->type :
	    strstr(m->type, "portable-executable"));

	inner = member_named(&l, "inner.zip");
	assert_true(inner->is_archive);
	assert_string_equal(inner->format, "zip");
	m = member_named(&l, "notes.txt");
	assert_int_equal(m->depth, 2);
	assert_ptr_equal(&l.v[m->parent], inner);

	deep = member_named(&l, "deep.zip");
	assert_true(deep->is_archive);
	m = member_named(&l, "c.pdf.exe");
	assert_int_equal(m->depth, 3);
	assert_ptr_equal(&l.v[m->parent], deep);
	archlist_free(&l);

	/* Two levels only: the deepest archive is named, not opened. */
	{
		struct archlist_limits	lim;

		archlist_limits_default(&lim);
		lim.max_depth = 2;
		assert_int_equal(archlist_list(z1, n1, NULL, &lim, &l), 0);
		assert_int_equal(l.n, 3 + 2);
		assert_true(l.flags & ARCHLIST_F_DEEP);
		assert_false(member_named(&l, "deep.zip")->is_archive);
		archlist_free(&l);

		/* Member count limit. */
		archlist_limits_default(&lim);
		lim.max_members = 2;
		assert_int_equal(archlist_list(z1, n1, NULL, &lim, &l), 0);
		assert_int_equal(l.n, 2);
		assert_true(l.flags & ARCHLIST_F_TRUNCATED);
		archlist_free(&l);
	}
	free(z1);
	free(z2);
	free(z3);
}

static void
test_formats(void **state)
{
	struct archlist			 l;
	const struct archlist_member	*m;
	struct file			 f[] = {
		{ "report.pdf", "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", 15 },
		{ "run.exe", pe, sizeof pe },
	};
	unsigned char			*b;
	size_t				 n;

	(void)state;
	b = build(TAR_GZ, f, 2, &n);
	assert_int_equal(archlist_list(b, n, "x.tgz", NULL, &l), 0);
	assert_string_equal(l.format, "tar.gz");
	assert_int_equal(l.n, 2);
	m = member_named(&l, "report.pdf");
	assert_string_equal(m->type, "application/pdf");
	member_named(&l, "run.exe");
	archlist_free(&l);
	free(b);

	b = build(SEVEN_Z, f, 2, &n);
	assert_int_equal(archlist_list(b, n, NULL, NULL, &l), 0);
	assert_string_equal(l.format, "7z");
	assert_int_equal(l.n, 2);
	member_named(&l, "run.exe");
	archlist_free(&l);
	free(b);

	/* A lone compressed file: one member, named after the file. */
	b = build(GZ, f, 1, &n);
	assert_int_equal(archlist_list(b, n, "report.pdf.gz", NULL, &l), 0);
	assert_string_equal(l.format, "gz");
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].name, "report.pdf");
	assert_string_equal(l.v[0].type, "application/pdf");
	archlist_free(&l);
	free(b);

	/* Not archives. */
	assert_int_equal(archlist_list(text, strlen(text), "a.zip", NULL, &l),
	    -1);
	assert_int_equal(l.n, 0);
	assert_int_equal(archlist_list(pe, sizeof pe, NULL, NULL, &l), -1);
	assert_int_equal(archlist_list("", 0, NULL, NULL, &l), -1);
	/* A damaged zip: still an archive, flagged. */
	b = build(ZIP, f, 2, &n);
	assert_int_equal(archlist_list(b, n / 2, NULL, NULL, &l), 0);
	assert_true(l.flags & ARCHLIST_F_DAMAGED || l.n < 2);
	archlist_free(&l);
	free(b);
}

static void
test_encrypted(void **state)
{
	struct archlist	 l;
	struct file	 f[] = {
		{ "secret.doc", text, strlen(text) },
	};
	unsigned char	*b;
	size_t		 n;

	(void)state;
	b = build(ZIP_ENC, f, 1, &n);
	assert_int_equal(archlist_list(b, n, NULL, NULL, &l), 0);
	assert_int_equal(l.n, 1);
	assert_true(l.v[0].encrypted);
	assert_null(l.v[0].type);
	assert_string_equal(l.v[0].name, "secret.doc");
	assert_true(l.flags & ARCHLIST_F_ENCRYPTED);
	archlist_free(&l);
	free(b);
}

/* A bomb: 64 MiB of zeros behind each of two tar.gz members stop at the
 * unpack budget. */
static void
test_budget(void **state)
{
	struct archlist		 l;
	struct archlist_limits	 lim;
	size_t			 big = 64 * 1024 * 1024, n;
	unsigned char		*zeros = calloc(1, big), *b;
	struct file		 f[] = {
		{ "a.bin", zeros, big },
		{ "b.bin", zeros, big },
		{ "c.txt", text, strlen(text) },
	};

	(void)state;
	assert_non_null(zeros);
	b = build(TAR_GZ, f, 3, &n);
	free(zeros);
	assert_true(n < 1024 * 1024);
	archlist_limits_default(&lim);
	lim.unpack_max = 8 * 1024 * 1024;
	assert_int_equal(archlist_list(b, n, NULL, &lim, &l), 0);
	assert_true(l.flags & ARCHLIST_F_TRUNCATED);
	assert_true(l.unpacked <= lim.unpack_max);
	assert_string_equal(l.v[0].name, "a.bin");
	archlist_free(&l);
	free(b);
}

/* --- attach --------------------------------------------------------------- */

static void
test_names(void **state)
{
	(void)state;
	assert_true(attach_name_is_executable("setup.exe"));
	assert_true(attach_name_is_executable("SETUP.EXE"));
	assert_true(attach_name_is_executable("run.js"));
	assert_true(attach_name_is_executable("x.exe. "));
	assert_false(attach_name_is_executable("report.pdf"));
	assert_false(attach_name_is_executable("exe"));
	assert_false(attach_name_is_executable(NULL));

	assert_true(attach_name_is_double_ext("invoice.pdf.exe"));
	assert_true(attach_name_is_double_ext("Invoice.PDF.scr"));
	assert_true(attach_name_is_double_ext("invoice.pdf      .exe"));
	assert_true(attach_name_is_double_ext("photo.jpg.js"));
	assert_false(attach_name_is_double_ext("setup.exe"));
	assert_false(attach_name_is_double_ext("backup.tar.gz"));
	assert_false(attach_name_is_double_ext("invoice.exe.pdf"));
	assert_false(attach_name_is_double_ext("v1.2.exe"));

	/* "invoice<U+202E>fdp.exe" shows as "invoiceexe.pdf". */
	assert_true(attach_name_has_bidi("invoice\xe2\x80\xae" "fdp.exe"));
	assert_false(attach_name_has_bidi("résumé.pdf"));

	assert_true(attach_type_is_executable("application/x-dosexec"));
	assert_true(attach_type_is_executable(
	    "application/vnd.microsoft.portable-executable"));
	assert_false(attach_type_is_executable("application/pdf"));
}

struct fake {
	struct msg	 m;
	struct msg_part	 parts[8];
};

static void
add_part(struct fake *f, const char *type, const char *name,
    const void *data, size_t len)
{
	struct msg_part	*p = &f->parts[f->m.nparts];

	memset(p, 0, sizeof *p);
	p->index = (int)f->m.nparts;
	p->parent = f->m.nparts == 0 ? -1 : 0;
	p->content_type = (char *)type;
	p->filename = (char *)name;
	p->data = (unsigned char *)(uintptr_t)data;
	p->len = len;
	p->is_text = strcmp(type, "text/plain") == 0 && name == NULL;
	p->is_attachment = name != NULL || strncmp(type, "text/", 5) != 0;
	f->m.nparts++;
}

static const struct attach_part *
part_named(const struct attach_facts *f, const char *name)
{
	size_t	i;

	for (i = 0; i < f->nparts; i++)
		if (f->parts[i].name != NULL &&
		    strcmp(f->parts[i].name, name) == 0)
			return &f->parts[i];
	fail_msg("no part %s", name);
	return NULL;
}

static void
build_msg(struct fake *f, unsigned char **zip, size_t *ziplen)
{
	struct file	inner[] = {
		{ "invoice.pdf.exe", pe, sizeof pe },
	};
	unsigned char	*z;
	size_t		 n;

	z = build(ZIP, inner, 1, &n);
	{
		struct file outer[] = {
			{ "readme.txt", text, strlen(text) },
			{ "more.zip", z, n },
		};
		*zip = build(ZIP, outer, 2, ziplen);
	}
	free(z);
	memset(f, 0, sizeof *f);
	f->m.parts = f->parts;
	add_part(f, "multipart/mixed", NULL, NULL, 0);
	add_part(f, "text/plain", NULL, text, strlen(text));
	add_part(f, "application/pdf", "invoice.pdf", pe, sizeof pe);
	add_part(f, "application/octet-stream", "docs.zip", *zip, *ziplen);
	add_part(f, "application/octet-stream", "photo.jpg.exe", pe,
	    sizeof pe);
	add_part(f, "image/png", "logo.png", "\x89PNG\r\n\x1a\n", 8);
}

static void
test_facts(void **state)
{
	struct fake			 f;
	struct attach_facts		*a;
	const struct attach_part	*p;
	const struct attach_member	*m;
	unsigned char			*zip;
	size_t				 ziplen;
	json_t				*j;
	char				 buf[128];

	(void)state;
	build_msg(&f, &zip, &ziplen);
	a = attach_facts_build(&f.m, NULL);
	/* The container and the body text are no attachments. */
	assert_int_equal(a->nparts, 4);

	p = part_named(a, "invoice.pdf");
	assert_int_equal(p->part, 2);
	assert_string_equal(p->declared, "application/pdf");
	assert_string_equal(p->ext, "pdf");
	assert_int_equal(p->size, sizeof pe);
	assert_true(p->flags & ATTACH_EXECUTABLE);
	assert_true(p->flags & ATTACH_TYPE_MISMATCH);
	assert_false(p->flags & ATTACH_DOUBLE_EXT);

	p = part_named(a, "photo.jpg.exe");
	assert_true(p->flags & ATTACH_DOUBLE_EXT);
	assert_true(p->flags & ATTACH_EXECUTABLE);
	assert_false(p->flags & ATTACH_TYPE_MISMATCH);

	p = part_named(a, "logo.png");
	assert_int_equal(p->flags, 0);
	assert_int_equal(p->nmembers, 0);

	p = part_named(a, "docs.zip");
	assert_true(p->flags & ATTACH_ARCHIVE);
	assert_true(p->flags & ATTACH_NESTED);
	assert_true(p->flags & ATTACH_HAS_EXECUTABLE);
	assert_false(p->flags & ATTACH_EXECUTABLE);
	assert_string_equal(p->format, "zip");
	assert_int_equal(p->nmembers, 3);
	m = &a->members[p->first_member];
	assert_string_equal(m->name, "readme.txt");
	assert_int_equal(m->part, 3);
	assert_string_equal(m->type, "text/plain");
	m = &a->members[p->first_member + 1];
	assert_string_equal(m->name, "more.zip");
	assert_true(m->flags & ATTACH_ARCHIVE);
	m = &a->members[p->first_member + 2];
	assert_string_equal(m->name, "invoice.pdf.exe");
	assert_int_equal(m->depth, 2);
	assert_int_equal(m->parent, (int)p->first_member + 1);
	assert_int_equal(m->part, 3);
	assert_true(m->flags & ATTACH_EXECUTABLE);
	assert_true(m->flags & ATTACH_DOUBLE_EXT);

	assert_true(a->flags & ATTACH_TYPE_MISMATCH);
	assert_string_equal(attach_flags_str(ATTACH_EXECUTABLE |
	    ATTACH_DOUBLE_EXT, buf, sizeof buf), "executable double_ext");

	j = attach_facts_to_json(a);
	assert_int_equal(json_array_size(j), 4);
	json_decref(j);
	attach_facts_free(a);
	attach_facts_free(NULL);
	free(zip);
}

/* --- the filter ----------------------------------------------------------- */

static struct cfg *
load_conf(const char *att, char **cause)
{
	char	path[128];
	FILE	*f;

	snprintf(path, sizeof path, "%s/moat.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "storage = { path = \"state/moat.db\"; };\n"
	    "filters = { attachments = { %s }; };\n", att);
	fclose(f);
	return cfg_load(path, cause);
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
test_filter(void **state)
{
	struct cfg		*c;
	struct fake		 f;
	struct findings		 out;
	struct scan_ctx		 ctx;
	const struct finding	*x;
	void			*vs = NULL;
	char			*cause = NULL;
	unsigned char		*zip;
	size_t			 ziplen;

	(void)state;
	c = load_conf("enabled = true; max_depth = 3; "
	    "scores = { ATTACH_EXECUTABLE = 0.5; };", &cause);
	assert_non_null(c);
	assert_int_equal(filter_attachments.init(c, &vs, &cause), 0);

	build_msg(&f, &zip, &ziplen);
	memset(&ctx, 0, sizeof ctx);
	ctx.msg = &f.m;
	ctx.findings = &out;
	findings_init(&out);
	filter_attachments.run(vs, &ctx);

	assert_non_null((x = find(&out, "ATTACH_EXECUTABLE")));
	assert_true(x->score == 0.5);
	assert_non_null(strstr(x->detail, "invoice.pdf"));
	assert_non_null(strstr(x->detail, "and 1 more"));
	assert_non_null((x = find(&out, "ATTACH_TYPE_MISMATCH")));
	assert_non_null(strstr(x->detail, "invoice.pdf is"));
	assert_non_null((x = find(&out, "ATTACH_DOUBLE_EXT")));
	assert_true(x->score == 3.0);
	assert_non_null((x = find(&out, "ARCHIVE_EXECUTABLE")));
	assert_non_null(strstr(x->detail, "invoice.pdf.exe in docs.zip"));
	assert_non_null(find(&out, "ARCHIVE_NESTED"));
	assert_null(find(&out, "ARCHIVE_ENCRYPTED"));
	assert_null(out.virus);
	findings_free(&out);
	filter_attachments.free(vs);
	cfg_unref(c);
	free(zip);

	c = load_conf("enabled = true; scores = { NOPE = 1.0; };", &cause);
	assert_non_null(c);
	assert_int_equal(filter_attachments.init(c, &vs, &cause), -1);
	assert_non_null(strstr(cause, "unknown key 'NOPE'"));
	free(cause);
	cfg_unref(c);

	cause = NULL;
	c = load_conf("enabled = true; max_depth = 99;", &cause);
	assert_non_null(c);
	assert_int_equal(filter_attachments.init(c, &vs, &cause), -1);
	assert_non_null(strstr(cause, "max_depth"));
	free(cause);
	cfg_unref(c);
}

static void
test_filter_encrypted(void **state)
{
	struct fake		 f;
	struct findings		 out;
	struct attach_facts	*a;
	struct file		 files[] = {
		{ "payload.exe", pe, sizeof pe },
	};
	unsigned char		*z;
	size_t			 n;

	(void)state;
	z = build(ZIP_ENC, files, 1, &n);
	memset(&f, 0, sizeof f);
	f.m.parts = f.parts;
	add_part(&f, "application/zip", "locked.zip", z, n);
	a = attach_facts_build(&f.m, NULL);
	assert_int_equal(a->nparts, 1);
	assert_true(a->parts[0].flags & ATTACH_ENCRYPTED);
	assert_int_equal(a->nmembers, 1);
	assert_true(a->members[0].flags & ATTACH_ENCRYPTED);
	/* Its name alone says program. */
	assert_true(a->members[0].flags & ATTACH_EXECUTABLE);
	findings_init(&out);
	filter_attachments_findings(NULL, a, &out);
	assert_non_null(find(&out, "ARCHIVE_ENCRYPTED"));
	assert_non_null(find(&out, "ARCHIVE_EXECUTABLE"));
	findings_free(&out);
	attach_facts_free(a);
	free(z);
}

/* Through the real MIME parser: an RFC 2231 encoded name, base64 data. */
static void
test_facts_mime(void **state)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct attach_facts		*a;
	const struct attach_part	*p;
	struct msg			*m;
	char				*raw, *enc;
	size_t				 i, o = 0, rawlen;

	(void)state;
	enc = calloc(1, sizeof pe * 2 + 64);
	assert_non_null(enc);
	for (i = 0; i < sizeof pe; i += 3) {
		unsigned v = (unsigned)pe[i] << 16 |
		    (i + 1 < sizeof pe ? (unsigned)pe[i + 1] << 8 : 0) |
		    (i + 2 < sizeof pe ? pe[i + 2] : 0);

		enc[o++] = b64[(v >> 18) & 63];
		enc[o++] = b64[(v >> 12) & 63];
		enc[o++] = i + 1 < sizeof pe ? b64[(v >> 6) & 63] : '=';
		enc[o++] = i + 2 < sizeof pe ? b64[v & 63] : '=';
		if (o % 78 == 76) {
			enc[o++] = '\r';
			enc[o++] = '\n';
		}
	}
	rawlen = (size_t)asprintf(&raw,
	    "From: a@example.org\r\nTo: b@example.com\r\n"
	    "Subject: invoice\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
	    "--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
	    "--b\r\nContent-Type: application/pdf\r\n"
	    "Content-Disposition: attachment;\r\n"
	    " filename*=UTF-8''Rechnung%%C3%%BC.pdf.exe\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--b--\r\n",
	    enc);
	m = mime_parse(raw, rawlen);
	assert_non_null(m);
	a = attach_facts_build(m, NULL);
	assert_int_equal(a->nparts, 1);
	p = &a->parts[0];
	assert_string_equal(p->name, "Rechnung\xc3\xbc.pdf.exe");
	assert_string_equal(p->ext, "exe");
	assert_int_equal(p->size, sizeof pe);
	assert_true(p->flags & ATTACH_DOUBLE_EXT);
	assert_true(p->flags & ATTACH_EXECUTABLE);
	assert_non_null(p->sniffed);
	assert_true(attach_type_is_executable(p->sniffed));
	attach_facts_free(a);
	msg_free(m);
	free(raw);
	free(enc);
}

static int
mime_setup(void **state)
{
	(void)state;
	g_mime_init();
	mime_init();
	return setup(state);
}

static int
mime_teardown(void **state)
{
	mime_shutdown();
	g_mime_shutdown();
	return teardown(state);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sniff),
		cmocka_unit_test(test_zip_nested),
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_encrypted),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_facts),
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_filter_encrypted),
		cmocka_unit_test(test_facts_mime),
	};

	return cmocka_run_group_tests(tests, mime_setup, mime_teardown);
}
