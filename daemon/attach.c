/*
 * Attachment facts (see attach.h): the parts of a msg, their names and
 * types classified, archives listed with archlist. Worker threads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "archlist.h"
#include "attach.h"
#include "msg.h"
#include "xmalloc.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
#define EXT_MAX		16

/* Programs and scripts Windows (or a browser, Java, Office) runs when
 * opened: Outlook's blocked list, trimmed to what mail carries. */
static const char *const exec_exts[] = {
	"ade", "adp", "app", "appx", "appxbundle", "application", "apk",
	"bas", "bat", "cab", "chm", "cmd", "com", "cpl", "crt", "dll",
	"exe", "gadget", "hlp", "hta", "inf", "ins", "isp", "jar", "js",
	"jse", "lnk", "mde", "msc", "msh", "msi", "msix", "msixbundle",
	"msp", "mst", "ocx", "pcd", "pif", "ps1", "ps1xml", "ps2", "psc1",
	"psd1", "psm1", "reg", "scf", "scr", "sct", "shb", "shs", "sys",
	"url", "vb", "vbe", "vbs", "vxd", "wsc", "wsf", "wsh", "xll",
};

/* Types libmagic gives to programs. */
static const char *const exec_types[] = {
	"application/x-dosexec",
	"application/vnd.microsoft.portable-executable",
	"application/x-msdownload", "application/x-ms-dos-executable",
	"application/x-executable", "application/x-pie-executable",
	"application/x-sharedlib", "application/x-mach-binary",
	"application/x-msi", "application/x-ms-installer",
	"application/x-ms-shortcut", "application/java-archive",
	"application/x-java-archive", "application/x-java-applet",
	"application/hta", "application/x-msdos-program",
	"application/vnd.android.package-archive",
};

/* Extensions a decoy name shows before the real one. */
static const char *const decoy_exts[] = {
	"pdf", "doc", "docx", "docm", "xls", "xlsx", "xlsm", "ppt", "pptx",
	"rtf", "txt", "csv", "odt", "ods", "odp", "jpg", "jpeg", "png", "gif",
	"bmp", "tif", "tiff", "mp3", "mp4", "avi", "mov", "wav", "htm",
	"html", "xml", "zip", "rar", "7z", "eml", "msg", "ics", "vcf",
};

/* Extensions that promise a document whose bytes are never an archive. */
static const char *const flat_exts[] = {
	"pdf", "jpg", "jpeg", "png", "gif", "bmp", "tif", "tiff", "txt",
	"rtf", "csv", "htm", "html", "doc", "xls", "ppt", "mp3", "mp4",
	"wav", "avi", "mov",
};

static bool
in_list(const char *s, const char *const *list, size_t n)
{
	size_t	i;

	if (s == NULL)
		return false;
	for (i = 0; i < n; i++)
		if (strcasecmp(s, list[i]) == 0)
			return true;
	return false;
}

/* Windows ignores trailing dots and spaces: "x.exe. " runs x.exe. */
static size_t
trimmed_len(const char *name, size_t len)
{
	while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '.' ||
	    name[len - 1] == '\t'))
		len--;
	return len;
}

/* The extension ending at name[len], lower case into buf; false when
 * there is none. *dot: where its dot is. */
static bool
ext_at(const char *name, size_t len, char *buf, size_t *dot)
{
	size_t	i, n;

	len = trimmed_len(name, len);
	for (i = len; i > 0 && name[i - 1] != '.' && name[i - 1] != '/' &&
	    name[i - 1] != '\\'; i--)
		;
	if (i == 0 || name[i - 1] != '.' || i == len)
		return false;
	n = len - i;
	if (n >= EXT_MAX)
		return false;
	memcpy(buf, name + i, n);
	buf[n] = '\0';
	for (n = 0; buf[n] != '\0'; n++)
		if (buf[n] >= 'A' && buf[n] <= 'Z')
			buf[n] = (char)(buf[n] - 'A' + 'a');
	*dot = i - 1;
	return true;
}

static bool
last_ext(const char *name, char *buf)
{
	size_t	dot;

	return name != NULL && ext_at(name, strlen(name), buf, &dot);
}

bool
attach_name_is_executable(const char *name)
{
	char	ext[EXT_MAX];

	return last_ext(name, ext) && in_list(ext, exec_exts,
	    NITEMS(exec_exts));
}

bool
attach_name_is_double_ext(const char *name)
{
	char	ext[EXT_MAX], prev[EXT_MAX];
	size_t	dot, dot2;

	if (name == NULL || !ext_at(name, strlen(name), ext, &dot) ||
	    !in_list(ext, exec_exts, NITEMS(exec_exts)))
		return false;
	/* "invoice.pdf      .exe": the padding hides the real end. */
	return ext_at(name, dot, prev, &dot2) &&
	    in_list(prev, decoy_exts, NITEMS(decoy_exts));
}

bool
attach_name_has_bidi(const char *name)
{
	const unsigned char	*p;

	if (name == NULL)
		return false;
	for (p = (const unsigned char *)name; *p != '\0'; p++) {
		/* U+200E/F, U+202A-E, U+2066-9 (E2 80 xx / E2 81 xx) and
		 * U+061C (D8 9C). */
		if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0x8e ||
		    p[2] == 0x8f || (p[2] >= 0xaa && p[2] <= 0xae)))
			return true;
		if (p[0] == 0xe2 && p[1] == 0x81 && p[2] >= 0xa6 &&
		    p[2] <= 0xa9)
			return true;
		if (p[0] == 0xd8 && p[1] == 0x9c)
			return true;
	}
	return false;
}

bool
attach_type_is_executable(const char *mime)
{
	size_t	i, len;

	if (mime == NULL)
		return false;
	len = strcspn(mime, "; ");
	for (i = 0; i < NITEMS(exec_types); i++)
		if (strlen(exec_types[i]) == len &&
		    strncasecmp(mime, exec_types[i], len) == 0)
			return true;
	return false;
}

/* A declared type that promises something harmless to open. */
static bool
declared_is_document(const char *t)
{
	static const char *const prefixes[] = {
		"image/", "text/", "audio/", "video/", "application/pdf",
		"application/msword", "application/vnd.ms-",
		"application/vnd.openxmlformats", "application/rtf",
		"application/vnd.oasis.opendocument",
	};
	size_t	i;

	for (i = 0; t != NULL && i < NITEMS(prefixes); i++)
		if (strncasecmp(t, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

/* The flags a name, a declared type and a sniffed type give together. */
static unsigned
classify(const char *name, const char *declared, const char *sniffed)
{
	unsigned	f = 0;
	char		ext[EXT_MAX];
	bool		has_ext, exec_name, exec_bytes;

	has_ext = last_ext(name, ext);
	exec_name = has_ext && in_list(ext, exec_exts, NITEMS(exec_exts));
	exec_bytes = attach_type_is_executable(sniffed);
	if (exec_name || exec_bytes)
		f |= ATTACH_EXECUTABLE;
	if (attach_name_is_double_ext(name))
		f |= ATTACH_DOUBLE_EXT;
	if (attach_name_has_bidi(name))
		f |= ATTACH_BIDI_NAME;
	/* A program named or declared as something else ("x.pdf" that is
	 * a PE), or an archive named as a flat document. A jar named .zip
	 * is a zip to whoever opens it. */
	if (exec_bytes && !exec_name && ((has_ext &&
	    strcmp(ext, "zip") != 0) || (!has_ext &&
	    declared_is_document(declared))))
		f |= ATTACH_TYPE_MISMATCH;
	if (!exec_bytes && archlist_type_is_archive(sniffed) && has_ext &&
	    in_list(ext, flat_exts, NITEMS(flat_exts)))
		f |= ATTACH_TYPE_MISMATCH;
	return f;
}

/* --- building ------------------------------------------------------------- */

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

/* Moves l's members to f (room made by the caller). */
static void
add_members(struct attach_facts *f, struct attach_part *ap,
    struct archlist *l)
{
	struct archlist_member	*lm;
	struct attach_member	*m;
	size_t			 i, base = f->nmembers;

	ap->first_member = base;
	for (i = 0; i < l->n; i++) {
		lm = &l->v[i];
		m = &f->members[f->nmembers++];
		memset(m, 0, sizeof *m);
		m->part = ap->part;
		m->name = lm->name;
		m->type = lm->type;
		m->format = lm->format;
		lm->name = lm->type = lm->format = NULL;
		m->size = lm->size;
		m->depth = lm->depth;
		m->parent = lm->parent >= 0 ? (int)(base + (size_t)lm->parent) :
		    -1;
		m->flags = classify(m->name, NULL, m->type);
		if (lm->encrypted)
			m->flags |= ATTACH_ENCRYPTED;
		if (lm->is_archive)
			m->flags |= ATTACH_ARCHIVE;
		if (m->flags & ATTACH_EXECUTABLE)
			ap->flags |= ATTACH_HAS_EXECUTABLE;
		f->flags |= m->flags;
	}
	ap->nmembers = l->n;
}

static void
list_part(struct attach_facts *f, struct attach_part *ap,
    const struct msg_part *p, const struct archlist_limits *lim)
{
	struct archlist_limits	 l = *lim;
	struct archlist		 list;
	size_t			 left_members, left_bytes;

	left_members = ATTACH_MEMBERS_MAX - f->nmembers;
	left_bytes = ATTACH_UNPACK_MAX - f->unpacked;
	if (l.max_members > left_members)
		l.max_members = left_members;
	if (l.unpack_max > left_bytes)
		l.unpack_max = left_bytes;
	if (l.max_members == 0 || l.unpack_max == 0) {
		ap->flags |= ATTACH_UNLISTED;
		return;
	}
	if (archlist_list(p->data, p->len, p->filename, &l, &list) == -1)
		return;
	f->unpacked += list.unpacked;
	ap->flags |= ATTACH_ARCHIVE;
	ap->format = list.format;
	list.format = NULL;
	if (list.flags & ARCHLIST_F_ENCRYPTED)
		ap->flags |= ATTACH_ENCRYPTED;
	if (list.flags & ARCHLIST_F_NESTED)
		ap->flags |= ATTACH_NESTED;
	if (list.flags & (ARCHLIST_F_TRUNCATED | ARCHLIST_F_DEEP))
		ap->flags |= ATTACH_UNLISTED;
	if (list.flags & ARCHLIST_F_DAMAGED)
		ap->flags |= ATTACH_DAMAGED;
	if (list.n > 0) {
		f->members = xreallocarray(f->members, f->nmembers + list.n,
		    sizeof *f->members);
		add_members(f, ap, &list);
	}
	archlist_free(&list);
}

static bool
is_attachment(const struct msg_part *p)
{
	return p->is_attachment && p->data != NULL &&
	    strncmp(p->content_type, "multipart/", 10) != 0 &&
	    strncmp(p->content_type, "message/", 8) != 0;
}

struct attach_facts *
attach_facts_build(const struct msg *m, const struct archlist_limits *lim)
{
	struct attach_facts	*f;
	struct attach_part	*ap;
	const struct msg_part	*p;
	struct archlist_limits	 def;
	char			 ext[EXT_MAX];
	size_t			 i;

	if (lim == NULL) {
		archlist_limits_default(&def);
		lim = &def;
	}
	f = xcalloc(1, sizeof *f);
	for (i = 0; m != NULL && i < m->nparts; i++) {
		p = &m->parts[i];
		if (!is_attachment(p))
			continue;
		f->parts = xreallocarray(f->parts, f->nparts + 1,
		    sizeof *f->parts);
		ap = &f->parts[f->nparts++];
		memset(ap, 0, sizeof *ap);
		ap->part = p->index;
		ap->declared = dup_or_null(p->content_type);
		ap->name = dup_or_null(p->filename);
		ap->ext = last_ext(p->filename, ext) ? xstrdup(ext) : NULL;
		ap->size = p->len;
		if (p->sniffed_type != NULL)
			ap->sniffed = xstrdup(p->sniffed_type);
		else if (p->len > 0)
			ap->sniffed = archlist_sniff(p->data, p->len);
		ap->flags = classify(ap->name, ap->declared, ap->sniffed);
		if (p->len > 0 && (archlist_type_is_archive(ap->sniffed) ||
		    archlist_type_is_archive(ap->declared) ||
		    archlist_name_is_archive(ap->name)))
			list_part(f, ap, p, lim);
		f->flags |= ap->flags;
	}
	return f;
}

void
attach_facts_free(struct attach_facts *f)
{
	size_t	i;

	if (f == NULL)
		return;
	for (i = 0; i < f->nparts; i++) {
		free(f->parts[i].declared);
		free(f->parts[i].sniffed);
		free(f->parts[i].name);
		free(f->parts[i].ext);
		free(f->parts[i].format);
	}
	for (i = 0; i < f->nmembers; i++) {
		free(f->members[i].name);
		free(f->members[i].type);
		free(f->members[i].format);
	}
	free(f->parts);
	free(f->members);
	free(f);
}

/* --- output --------------------------------------------------------------- */

static const struct {
	unsigned	 flag;
	const char	*name;
} flag_names[] = {
	{ ATTACH_EXECUTABLE, "executable" },
	{ ATTACH_DOUBLE_EXT, "double_ext" },
	{ ATTACH_TYPE_MISMATCH, "type_mismatch" },
	{ ATTACH_BIDI_NAME, "bidi_name" },
	{ ATTACH_ARCHIVE, "archive" },
	{ ATTACH_ENCRYPTED, "encrypted" },
	{ ATTACH_NESTED, "nested" },
	{ ATTACH_HAS_EXECUTABLE, "has_executable" },
	{ ATTACH_UNLISTED, "unlisted" },
	{ ATTACH_DAMAGED, "damaged" },
};

const char *
attach_flags_str(unsigned flags, char *buf, size_t len)
{
	size_t	i, off = 0;
	int	n;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	for (i = 0; i < NITEMS(flag_names); i++) {
		if (!(flags & flag_names[i].flag))
			continue;
		n = snprintf(buf + off, len - off, "%s%s", off > 0 ? " " : "",
		    flag_names[i].name);
		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
	}
	return buf;
}

static json_t *
flags_json(unsigned flags)
{
	json_t	*a = json_array();
	size_t	 i;

	for (i = 0; i < NITEMS(flag_names); i++)
		if (flags & flag_names[i].flag)
			json_array_append_new(a,
			    json_string(flag_names[i].name));
	return a;
}

json_t *
attach_facts_to_json(const struct attach_facts *f)
{
	const struct attach_part	*ap;
	const struct attach_member	*m;
	json_t				*a = json_array(), *o, *ms;
	size_t				 i, j;

	for (i = 0; f != NULL && i < f->nparts; i++) {
		ap = &f->parts[i];
		ms = json_array();
		for (j = 0; j < ap->nmembers; j++) {
			m = &f->members[ap->first_member + j];
			json_array_append_new(ms, json_pack("{s:s, s:s?, s:I, "
			    "s:i, s:o}", "name", m->name, "type", m->type,
			    "size", (json_int_t)m->size, "depth", m->depth,
			    "flags", flags_json(m->flags)));
		}
		o = json_pack("{s:i, s:s?, s:s?, s:s?, s:I, s:o, s:s?, s:o}",
		    "part", ap->part, "name", ap->name, "declared",
		    ap->declared, "sniffed", ap->sniffed, "size",
		    (json_int_t)ap->size, "flags", flags_json(ap->flags),
		    "format", ap->format, "members", ms);
		if (o != NULL)
			json_array_append_new(a, o);
	}
	return a;
}
