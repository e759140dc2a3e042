/*
 * Archive member listing with libarchive, and file type sniffing with
 * libmagic. An archive in memory becomes a flat list of its members (names,
 * sizes, sniffed types, encryption), archives inside it listed after the
 * member that holds them, to a depth limit, within a decompression budget.
 * Any thread (libmagic handles are per thread); nothing is written to disk.
 * (Not "archive.h": under -Idaemon that name hides libarchive's own.)
 */
#ifndef MOAT_ARCHLIST_H
#define MOAT_ARCHLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARCHLIST_DEPTH_DEFAULT	4	/* archive levels listed */
#define ARCHLIST_DEPTH_LIMIT	16	/* the most a setting may ask */
#define ARCHLIST_MEMBERS_DEFAULT	1000	/* members listed per call */
#define ARCHLIST_NESTED_READ_MAX	(32 * 1024 * 1024) /* an inner archive
					 * is read into memory up to this */
#define ARCHLIST_UNPACK_DEFAULT	(128 * 1024 * 1024) /* bytes decompressed
					 * per call (zip bombs stop here) */
#define ARCHLIST_SNIFF_BYTES	(64 * 1024)	/* read to sniff a member */
#define ARCHLIST_SNIFF_MAX	(1024 * 1024)	/* libmagic looks at most */
#define ARCHLIST_NAME_MAX	1024	/* bytes of a member name kept */
#define ARCHLIST_TYPE_MAX	128

struct archlist_limits {
	int		 max_depth;	/* 1: the outer archive only */
	size_t		 max_members;
	size_t		 nested_read_max;
	size_t		 unpack_max;
};

struct archlist_member {
	char		*name;		/* path inside its archive: UTF-8,
					 * control characters removed */
	char		*type;		/* libmagic MIME type, or NULL when
					 * not read (encrypted, directory) */
	int64_t		 size;		/* declared, -1 unknown */
	int		 depth;		/* 1: in the outer archive */
	int		 parent;	/* the member (index) it is inside, or
					 * -1 for the outer archive */
	bool		 is_dir;
	bool		 encrypted;
	bool		 is_archive;	/* an archive: its members follow */
	char		*format;	/* is_archive: e.g. "zip", "tar.gz" */
};

/* archlist.flags */
#define ARCHLIST_F_ENCRYPTED	0x01	/* a member or the headers are */
#define ARCHLIST_F_NESTED	0x02	/* an archive inside the archive */
#define ARCHLIST_F_TRUNCATED	0x04	/* a limit stopped the listing */
#define ARCHLIST_F_DAMAGED	0x08	/* libarchive could not read on */
#define ARCHLIST_F_DEEP		0x10	/* archives deeper than max_depth */

struct archlist {
	struct archlist_member	*v;	/* owned */
	size_t			 n;
	size_t			 cap;
	char			*format;	/* outer: "zip", "tar.gz" */
	unsigned		 flags;
	size_t			 unpacked;	/* bytes decompressed */
};

void	archlist_limits_default(struct archlist_limits *);
/*
 * List data as an archive. name (may be NULL) names the data; a lone
 * compressed file (x.pdf.gz) gets it without the compression suffix as its
 * member's name. 0 and *out filled (free with archlist_free), or -1
 * when data is no archive libarchive reads (*out empty).
 */
int	archlist_list(const void *data, size_t len, const char *name,
	    const struct archlist_limits *, struct archlist *out);
void	archlist_free(struct archlist *);	/* accepts NULL */

/* libmagic MIME type of data ("application/zip"), looking at no more than
 * ARCHLIST_SNIFF_MAX bytes; caller frees; NULL when libmagic failed. */
char	*archlist_sniff(const void *data, size_t len);
/* Whether a MIME type or a file name says "an archive we can list". */
bool	archlist_type_is_archive(const char *mime);
bool	archlist_name_is_archive(const char *name);

#endif
