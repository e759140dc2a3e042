/*
 * Archive listing (libarchive, read from memory) and type sniffing
 * (libmagic, one handle per thread). See archive.h. Only formats and
 * filters libarchive decodes itself are enabled: never an external
 * program, never a file written.
 */
#include <sys/types.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <archive.h>
#include <archive_entry.h>
#include <magic.h>

#include "archlist.h"
#include "util.h"
#include "xmalloc.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
#define DRAIN_CHUNK	(64 * 1024)

/* --- libmagic ------------------------------------------------------------- */

static pthread_once_t	magic_once = PTHREAD_ONCE_INIT;
static pthread_key_t	magic_key;
static char		magic_failed;	/* marks a thread whose load failed */

static void
magic_destroy(void *m)
{
	if (m != &magic_failed)
		magic_close(m);
}

static void
magic_key_make(void)
{
	if (pthread_key_create(&magic_key, magic_destroy) != 0)
		abort();	/* start-up invariant */
}

static magic_t
thread_magic(void)
{
	magic_t	m;

	pthread_once(&magic_once, magic_key_make);
	if ((m = pthread_getspecific(magic_key)) != NULL)
		return m != (magic_t)&magic_failed ? m : NULL;
	/* No decompression inside libmagic: archives are ours to open. */
	if ((m = magic_open(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS)) ==
	    NULL || magic_load(m, NULL) == -1) {
		if (m != NULL)
			magic_close(m);
		pthread_setspecific(magic_key, &magic_failed);
		return NULL;
	}
	pthread_setspecific(magic_key, m);
	return m;
}

char *
archlist_sniff(const void *data, size_t len)
{
	magic_t		 m;
	const char	*t;

	if ((m = thread_magic()) == NULL)
		return NULL;
	if (len > ARCHLIST_SNIFF_MAX)
		len = ARCHLIST_SNIFF_MAX;
	if ((t = magic_buffer(m, data, len)) == NULL)
		return NULL;
	return util_sanitize(t, strlen(t), ARCHLIST_TYPE_MAX);
}

/* --- what is an archive --------------------------------------------------- */

static const char *const archive_mime_types[] = {
	"application/zip", "application/x-zip-compressed",
	"application/x-7z-compressed", "application/x-rar",
	"application/vnd.rar", "application/x-rar-compressed",
	"application/x-tar", "application/x-gtar", "application/x-ustar",
	"application/gzip", "application/x-gzip", "application/x-bzip2",
	"application/x-xz", "application/zstd", "application/x-zstd",
	"application/x-lzma", "application/x-lz4", "application/x-lzip",
	"application/x-compress", "application/x-cpio",
	"application/x-iso9660-image", "application/vnd.ms-cab-compressed",
	"application/x-lha", "application/x-lzh-compressed",
	"application/x-xar", "application/x-archive",
	"application/java-archive", "application/x-java-archive",
};

static const char *const archive_exts[] = {
	"zip", "7z", "rar", "tar", "tgz", "tbz", "tbz2", "txz", "tzst", "gz",
	"bz2", "xz", "zst", "lzma", "lz4", "lz", "z", "cpio", "iso", "cab",
	"lha", "lzh", "xar", "ar", "jar",
};

bool
archlist_type_is_archive(const char *mime)
{
	size_t	i, len;

	if (mime == NULL)
		return false;
	len = strcspn(mime, "; ");
	for (i = 0; i < NITEMS(archive_mime_types); i++)
		if (strlen(archive_mime_types[i]) == len &&
		    strncasecmp(mime, archive_mime_types[i], len) == 0)
			return true;
	return false;
}

bool
archlist_name_is_archive(const char *name)
{
	const char	*ext;
	size_t		 i;

	if (name == NULL || (ext = strrchr(name, '.')) == NULL)
		return false;
	for (i = 0; i < NITEMS(archive_exts); i++)
		if (strcasecmp(ext + 1, archive_exts[i]) == 0)
			return true;
	return false;
}

/* --- listing -------------------------------------------------------------- */

struct lister {
	const struct archlist_limits	*lim;
	struct archlist		*out;
	bool				 budget_hit;
};

void
archlist_limits_default(struct archlist_limits *l)
{
	l->max_depth = ARCHLIST_DEPTH_DEFAULT;
	l->max_members = ARCHLIST_MEMBERS_DEFAULT;
	l->nested_read_max = ARCHLIST_NESTED_READ_MAX;
	l->unpack_max = ARCHLIST_UNPACK_DEFAULT;
}

static struct archive *
reader_open(const void *data, size_t len)
{
	struct archive	*a;

	if ((a = archive_read_new()) == NULL)
		return NULL;
	/* Decoders built into libarchive only (filter_all may run external
	 * programs such as lrzip). */
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_filter_xz(a);
	archive_read_support_filter_lzma(a);
	archive_read_support_filter_lzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_lz4(a);
	archive_read_support_filter_compress(a);
	archive_read_support_format_zip(a);
	archive_read_support_format_7zip(a);
	archive_read_support_format_rar(a);
	archive_read_support_format_rar5(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_cpio(a);
	archive_read_support_format_iso9660(a);
	archive_read_support_format_cab(a);
	archive_read_support_format_lha(a);
	archive_read_support_format_xar(a);
	archive_read_support_format_ar(a);
	archive_read_support_format_raw(a);	/* x.pdf.gz */
	if (archive_read_open_memory(a, data, len) != ARCHIVE_OK) {
		archive_read_free(a);
		return NULL;
	}
	return a;
}

static const char *
base_format(struct archive *a)
{
	switch (archive_format(a) & ARCHIVE_FORMAT_BASE_MASK) {
	case ARCHIVE_FORMAT_ZIP:	return "zip";
	case ARCHIVE_FORMAT_7ZIP:	return "7z";
	case ARCHIVE_FORMAT_RAR:	return "rar";
	case ARCHIVE_FORMAT_RAR_V5:	return "rar";
	case ARCHIVE_FORMAT_TAR:	return "tar";
	case ARCHIVE_FORMAT_CPIO:	return "cpio";
	case ARCHIVE_FORMAT_ISO9660:	return "iso";
	case ARCHIVE_FORMAT_CAB:	return "cab";
	case ARCHIVE_FORMAT_LHA:	return "lha";
	case ARCHIVE_FORMAT_XAR:	return "xar";
	case ARCHIVE_FORMAT_AR:		return "ar";
	case ARCHIVE_FORMAT_RAW:	return NULL;
	default:			return "unknown";
	}
}

static const char *
filter_ext(int code)
{
	switch (code) {
	case ARCHIVE_FILTER_GZIP:	return "gz";
	case ARCHIVE_FILTER_BZIP2:	return "bz2";
	case ARCHIVE_FILTER_XZ:		return "xz";
	case ARCHIVE_FILTER_LZMA:	return "lzma";
	case ARCHIVE_FILTER_LZIP:	return "lz";
	case ARCHIVE_FILTER_ZSTD:	return "zst";
	case ARCHIVE_FILTER_LZ4:	return "lz4";
	case ARCHIVE_FILTER_COMPRESS:	return "Z";
	default:			return NULL;
	}
}

/* "tar.gz", "zip", "gz" (a lone compressed file); NULL: plain data. */
static char *
format_name(struct archive *a)
{
	const char	*base = base_format(a), *ext;
	char		 buf[64];
	int		 i, n;
	size_t		 len = 0;

	buf[0] = '\0';
	if (base != NULL)
		len = (size_t)snprintf(buf, sizeof buf, "%s", base);
	/* Filter 0 is the one next to the format: tar, then gz. */
	n = archive_filter_count(a);
	for (i = 0; i < n && len < sizeof buf; i++) {
		if ((ext = filter_ext(archive_filter_code(a, i))) == NULL)
			continue;
		len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s",
		    len > 0 ? "." : "", ext);
	}
	if (buf[0] == '\0')
		return NULL;
	return xstrdup(buf);
}

/* x.pdf.gz → x.pdf, x.tgz → x.tar; "data" without a name. */
static char *
raw_member_name(const char *name)
{
	static const char *const sfx[] = {
		".gz", ".bz2", ".xz", ".zst", ".lzma", ".lz4", ".lz", ".z",
	};
	const char	*ext;
	size_t		 i, len;
	char		*out;

	if (name == NULL || name[0] == '\0')
		return xstrdup("data");
	len = strlen(name);
	if ((ext = strrchr(name, '.')) != NULL) {
		if (strcasecmp(ext, ".tgz") == 0 ||
		    strcasecmp(ext, ".tbz2") == 0 ||
		    strcasecmp(ext, ".txz") == 0) {
			xasprintf(&out, "%.*s.tar", (int)(ext - name), name);
			return out;
		}
		for (i = 0; i < NITEMS(sfx); i++)
			if (strcasecmp(ext, sfx[i]) == 0 && ext != name)
				return xstrndup(name, (size_t)(ext - name));
	}
	return xstrndup(name, len);
}

static char *
member_name(struct archive_entry *e)
{
	const char	*p;

	if ((p = archive_entry_pathname_utf8(e)) == NULL &&
	    (p = archive_entry_pathname(e)) == NULL)
		p = "";
	return util_sanitize(p, strlen(p), ARCHLIST_NAME_MAX);
}

/* Read up to want bytes of the entry into buf, within the budget. Returns
 * the count, or -1 when the entry's data cannot be read. */
static ssize_t
read_data(struct lister *l, struct archive *a, unsigned char *buf,
    size_t want)
{
	size_t	off = 0, left;
	ssize_t	r;

	while (off < want) {
		left = l->lim->unpack_max - l->out->unpacked;
		if (left == 0) {
			l->budget_hit = true;
			break;
		}
		if ((r = archive_read_data(a, buf + off, want - off < left ?
		    want - off : left)) < 0)
			return -1;
		if (r == 0)
			break;
		off += (size_t)r;
		l->out->unpacked += (size_t)r;
	}
	return (ssize_t)off;
}

/* Skip the rest of the entry: for zip a seek, else decompressed within
 * the budget (libarchive's own skip would decompress without a bound). */
static void
drain(struct lister *l, struct archive *a)
{
	unsigned char	*buf;
	ssize_t		 r;

	if ((archive_format(a) & ARCHIVE_FORMAT_BASE_MASK) ==
	    ARCHIVE_FORMAT_ZIP) {
		archive_read_data_skip(a);
		return;
	}
	buf = xmalloc(DRAIN_CHUNK);
	do {
		r = read_data(l, a, buf, DRAIN_CHUNK);
	} while (r == DRAIN_CHUNK && !l->budget_hit);
	free(buf);
}

static size_t
add_member(struct archlist *out)
{
	if (out->n == out->cap) {
		out->cap = out->cap ? out->cap * 2 : 16;
		out->v = xreallocarray(out->v, out->cap, sizeof *out->v);
	}
	memset(&out->v[out->n], 0, sizeof out->v[out->n]);
	return out->n++;
}

static int list_level(struct lister *, const void *, size_t, const char *,
    int, int, char **);

/* The member is an archive: read it whole and list it one level down. */
static void
descend(struct lister *l, struct archive *a, size_t idx, unsigned char *head,
    size_t headlen, int depth)
{
	struct archlist_member	*m = &l->out->v[idx];
	unsigned char		*buf;
	size_t			 cap, len = headlen;
	ssize_t			 r;
	char			*fmt = NULL, *name;

	if (m->size > (int64_t)l->lim->nested_read_max) {
		l->out->flags |= ARCHLIST_F_TRUNCATED;
		drain(l, a);
		return;
	}
	cap = m->size > (int64_t)headlen ? (size_t)m->size : headlen * 2;
	if (cap > l->lim->nested_read_max)
		cap = l->lim->nested_read_max;
	buf = xmalloc(cap + 1);
	memcpy(buf, head, headlen);
	for (;;) {
		if (len == cap) {
			if (cap >= l->lim->nested_read_max)
				break;
			cap = cap * 2 > l->lim->nested_read_max ?
			    l->lim->nested_read_max : cap * 2;
			buf = xreallocarray(buf, cap + 1, 1);
		}
		if ((r = read_data(l, a, buf + len, cap - len)) <= 0)
			break;
		len += (size_t)r;
		if (l->budget_hit)
			break;
	}
	if (len == cap && cap >= l->lim->nested_read_max) {
		/* Larger than we read into memory: not listed. */
		l->out->flags |= ARCHLIST_F_TRUNCATED;
		drain(l, a);
		free(buf);
		return;
	}
	name = xstrdup(m->name);
	if (list_level(l, buf, len, name, depth + 1, (int)idx, &fmt) == 0) {
		m = &l->out->v[idx];	/* the array may have moved */
		m->is_archive = true;
		m->format = fmt;
		l->out->flags |= ARCHLIST_F_NESTED;
	}
	free(name);
	free(buf);
}

/* One member: its facts, then its data (type, nested archive). */
static void
member(struct lister *l, struct archive *a, struct archive_entry *e,
    const char *rawname, int depth, int parent)
{
	struct archlist_member	*m;
	unsigned char		*head;
	size_t			 idx;
	ssize_t			 n;

	idx = add_member(l->out);
	m = &l->out->v[idx];
	m->depth = depth;
	m->parent = parent;
	m->name = rawname != NULL ? raw_member_name(rawname) : member_name(e);
	m->size = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
	m->is_dir = archive_entry_filetype(e) == AE_IFDIR;
	m->encrypted = archive_entry_is_encrypted(e) != 0;
	if (m->encrypted)
		l->out->flags |= ARCHLIST_F_ENCRYPTED;
	if (m->is_dir || m->encrypted ||
	    archive_entry_filetype(e) != AE_IFREG)
		return;

	head = xmalloc(ARCHLIST_SNIFF_BYTES);
	if ((n = read_data(l, a, head, ARCHLIST_SNIFF_BYTES)) < 0) {
		/* Unsupported method or a password we do not have. */
		if (archive_read_has_encrypted_entries(a) > 0) {
			l->out->v[idx].encrypted = true;
			l->out->flags |= ARCHLIST_F_ENCRYPTED;
		}
		free(head);
		return;
	}
	m->type = archlist_sniff(head, (size_t)n);
	if ((size_t)n == ARCHLIST_SNIFF_BYTES && !l->budget_hit) {
		if ((archlist_type_is_archive(m->type) ||
		    archlist_name_is_archive(m->name)) &&
		    depth < l->lim->max_depth)
			descend(l, a, idx, head, (size_t)n, depth);
		else {
			if (archlist_type_is_archive(m->type))
				l->out->flags |= ARCHLIST_F_DEEP;
			drain(l, a);
		}
	} else if (n > 0 && (archlist_type_is_archive(m->type) ||
	    archlist_name_is_archive(m->name))) {
		if (depth < l->lim->max_depth)
			descend(l, a, idx, head, (size_t)n, depth);
		else
			l->out->flags |= ARCHLIST_F_DEEP;
	}
	free(head);
}

/*
 * List one archive level; members go to l->out with depth and parent.
 * 0 (and *fmt, caller frees), or -1 when data is not an archive.
 */
static int
list_level(struct lister *l, const void *data, size_t len, const char *name,
    int depth, int parent, char **fmt)
{
	struct archive		*a;
	struct archive_entry	*e;
	bool			 raw;
	int			 r;

	*fmt = NULL;
	if (len == 0 || (a = reader_open(data, len)) == NULL)
		return -1;
	r = archive_read_next_header(a, &e);
	if (r != ARCHIVE_OK && r != ARCHIVE_WARN && r != ARCHIVE_EOF) {
		/* A known format we cannot read on: 7z with encrypted
		 * headers, a damaged zip. Unknown data is no archive. */
		if (archive_format(a) == 0 || base_format(a) == NULL ||
		    (*fmt = format_name(a)) == NULL) {
			archive_read_free(a);
			return -1;
		}
		l->out->flags |= archive_read_has_encrypted_entries(a) > 0 ?
		    ARCHLIST_F_ENCRYPTED : ARCHLIST_F_DAMAGED;
		archive_read_free(a);
		return 0;
	}
	/* The raw reader takes anything: only a compressed file counts. */
	if ((*fmt = format_name(a)) == NULL) {
		archive_read_free(a);
		return -1;
	}
	raw = base_format(a) == NULL;
	while (r == ARCHIVE_OK || r == ARCHIVE_WARN) {
		if (l->out->n >= l->lim->max_members) {
			l->out->flags |= ARCHLIST_F_TRUNCATED;
			break;
		}
		member(l, a, e, raw ? (name != NULL ? name : "") : NULL,
		    depth, parent);
		if (l->budget_hit) {
			l->out->flags |= ARCHLIST_F_TRUNCATED;
			break;
		}
		r = archive_read_next_header(a, &e);
	}
	if (r == ARCHIVE_FATAL || r == ARCHIVE_FAILED) {
		if (archive_read_has_encrypted_entries(a) > 0)
			l->out->flags |= ARCHLIST_F_ENCRYPTED;
		else
			l->out->flags |= ARCHLIST_F_DAMAGED;
	}
	archive_read_free(a);
	return 0;
}

int
archlist_list(const void *data, size_t len, const char *name,
    const struct archlist_limits *lim, struct archlist *out)
{
	struct archlist_limits	def;
	struct lister		l;

	memset(out, 0, sizeof *out);
	if (lim == NULL) {
		archlist_limits_default(&def);
		lim = &def;
	}
	l.lim = lim;
	l.out = out;
	l.budget_hit = false;
	if (list_level(&l, data, len, name, 1, -1, &out->format) == -1) {
		archlist_free(out);
		return -1;
	}
	return 0;
}

void
archlist_free(struct archlist *l)
{
	size_t	i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].type);
		free(l->v[i].format);
	}
	free(l->v);
	free(l->format);
	memset(l, 0, sizeof *l);
}
