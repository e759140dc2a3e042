/*
 * Attachment facts: for each attachment of a parsed message its declared
 * and sniffed types, file name, size and what they say together (program,
 * double extension, type mismatch), and for archives their members, nested
 * archives listed too (archlist.h). filter_attachments turns them into
 * findings; the policy's What objects (content type, file name, archive
 * member type and name) match them.
 *
 * Built on a worker by attach_facts_build, read-only afterwards (any
 * thread), freed with attach_facts_free. Every string is owned by the
 * facts: they do not borrow from the msg.
 */
#ifndef MOAT_ATTACH_H
#define MOAT_ATTACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "archlist.h"

struct msg;

#define ATTACH_MEMBERS_MAX	5000	/* members kept per message */
#define ATTACH_UNPACK_MAX	(256 * 1024 * 1024) /* bytes decompressed
					 * per message, all archives */

/* Flags of a part, a member, and (OR of all) the facts. */
#define ATTACH_EXECUTABLE	0x0001	/* a program or script: by its bytes
					 * (PE, ELF, Mach-O, MSI, LNK, JAR)
					 * or its name (.exe, .js, .vbs ...) */
#define ATTACH_DOUBLE_EXT	0x0002	/* "invoice.pdf.exe" */
#define ATTACH_TYPE_MISMATCH	0x0004	/* the bytes are a program (or an
					 * archive) while the name or the
					 * declared type says a document */
#define ATTACH_BIDI_NAME	0x0008	/* bidi controls in the name (U+202E
					 * "invoice\u202Efdp.exe") */
#define ATTACH_ARCHIVE		0x0010	/* listed: members follow */
#define ATTACH_ENCRYPTED	0x0020	/* encrypted archive or member */
#define ATTACH_NESTED		0x0040	/* an archive inside an archive */
#define ATTACH_HAS_EXECUTABLE	0x0080	/* an archive holding a program */
#define ATTACH_UNLISTED		0x0100	/* a limit stopped the listing, or
					 * archives deeper than max_depth */
#define ATTACH_DAMAGED		0x0200	/* an archive libarchive could not
					 * read to the end */

struct attach_member {
	/* The three fields policy_member has, same names and meaning. */
	int		 part;		/* msg part index of the attachment */
	char		*name;		/* path inside its archive, UTF-8 */
	char		*type;		/* sniffed MIME type, or NULL (not
					 * read: encrypted, directory) */
	int64_t		 size;		/* declared, -1 unknown */
	int		 depth;		/* 1: in the attachment, 2: in an
					 * archive inside it ... */
	int		 parent;	/* index in members of the archive
					 * member it is inside, -1 */
	char		*format;	/* an archive itself: "zip", "tar.gz" */
	unsigned	 flags;		/* ATTACH_* */
};

struct attach_part {
	int		 part;		/* index into msg->parts */
	char		*declared;	/* Content-Type, lower case */
	char		*sniffed;	/* libmagic MIME type, or NULL */
	char		*name;		/* decoded file name, or NULL */
	char		*ext;		/* last extension of name, lower case,
					 * without the dot, or NULL */
	size_t		 size;		/* decoded bytes */
	char		*format;	/* an archive: "zip", "7z", "tar.gz" */
	unsigned	 flags;		/* ATTACH_*, members' folded in as
					 * ATTACH_HAS_EXECUTABLE etc. */
	size_t		 first_member;	/* its members are members[first ..
					 * first + nmembers) */
	size_t		 nmembers;
};

struct attach_facts {
	struct attach_part	*parts;		/* attachment parts, in msg
						 * part order */
	size_t			 nparts;
	struct attach_member	*members;	/* every part's members */
	size_t			 nmembers;
	unsigned		 flags;		/* OR of all flags */
	size_t			 unpacked;	/* bytes decompressed */
};

/*
 * Facts of every attachment part of m: leaves that have a file name, are
 * not text, or are marked attachment (msg_part.is_attachment), with data.
 * lim (NULL: defaults) bounds each archive; the whole message is further
 * bounded by ATTACH_MEMBERS_MAX and ATTACH_UNPACK_MAX. Never fails.
 */
struct attach_facts *attach_facts_build(const struct msg *m,
		    const struct archlist_limits *lim);
void		 attach_facts_free(struct attach_facts *);	/* NULL ok */
/* [{"part":..,"name":..,"declared":..,"sniffed":..,"size":..,
 *   "flags":[..],"format":..,"members":[{"name","type","size","depth",
 *   "flags"}]}]; new reference. */
json_t		*attach_facts_to_json(const struct attach_facts *);
/* "executable double_ext ..." words of flags into buf. */
const char	*attach_flags_str(unsigned flags, char *buf, size_t len);

/* The rules behind the flags, for tests and the policy. */
bool		 attach_name_is_executable(const char *name);
bool		 attach_type_is_executable(const char *mime);
bool		 attach_name_is_double_ext(const char *name);
bool		 attach_name_has_bidi(const char *name);

#endif
