/*
 * A parsed message: what every analyser reads. Built once per message by
 * mime_parse() (GMime) on a worker thread, read-only afterwards, freed with
 * msg_free(). All strings are NUL-terminated UTF-8 owned by the msg unless
 * marked borrowed; decoded binary data is owned too.
 */
#ifndef MOAT_MSG_H
#define MOAT_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds: a message past them is analysed as far as they allow and gets
 * MSG_TRUNCATED. */
#define MSG_DEPTH_MAX		16	/* MIME nesting */
#define MSG_PARTS_MAX		500	/* leaf parts kept */
#define MSG_HEADERS_MAX		1000	/* header fields kept */
#define MSG_URLS_MAX		2000	/* URLs kept */
#define MSG_TEXT_MAX		(4 * 1024 * 1024) /* decoded text kept */
#define MSG_PART_DATA_MAX	(64 * 1024 * 1024) /* decoded part kept */

/* msg.flags */
#define MSG_MALFORMED		0x01	/* syntax errors GMime recovered from */
#define MSG_TRUNCATED		0x02	/* a bound above was hit */
#define MSG_NO_HEADERS		0x04

/* msg.mime_warnings: what was wrong, for rules to score. The structural ones
 * (MSG_W_MALFORMED_MASK) also set MSG_MALFORMED. */
#define MSG_W_BAD_BASE64	0x0001	/* invalid characters or length */
#define MSG_W_BAD_QP		0x0002	/* '=' not followed by hex or EOL */
#define MSG_W_TRUNCATED		0x0004	/* multipart without end boundary */
#define MSG_W_NO_BOUNDARY	0x0008	/* multipart without boundary */
#define MSG_W_BAD_CONTENT_TYPE	0x0010	/* Content-Type without "/" */
#define MSG_W_BAD_HEADER	0x0020	/* header line that is no field */
#define MSG_W_NESTING		0x0040	/* parts deeper than MSG_DEPTH_MAX */
#define MSG_W_NO_MESSAGE	0x0080	/* no header at all: one text part */
#define MSG_W_CUT		0x0100	/* input cut before parsing: absurd
					 * numbers of parts, header lines
					 * or boundaries */
#define MSG_W_8BIT_HEADER	0x1000	/* header bytes that are not UTF-8 */
#define MSG_W_BAD_RFC2047	0x2000	/* encoded-word left undecoded */
#define MSG_W_DUP_HEADER	0x4000	/* single-use header repeated */
#define MSG_W_CONFLICT		0x8000	/* ... with a different value */
#define MSG_W_BAD_ADDRESS	0x10000	/* From/To/Reply-To not parsable */
#define MSG_W_MALFORMED_MASK	0x0fff

struct msg_header {
	char		*name;		/* as written */
	char		*value;		/* unfolded, RFC 2047 decoded, UTF-8 */
	char		*raw;		/* unfolded, undecoded */
};

struct msg_url {
	char		*url;		/* as found (normalised scheme/host case) */
	char		*host;		/* lower case; IDN as punycode "xn--" */
	char		*text;		/* link text from HTML <a>, or NULL */
	bool		 from_html;	/* href/src attribute */
	int		 part;		/* index into parts */
};

struct msg_part {
	int		 index;
	int		 depth;
	int		 parent;	/* index of the enclosing part, -1 root */
	char		*content_type;	/* lower case "type/subtype" */
	char		*charset;	/* declared, lower case, or NULL */
	char		*disposition;	/* "attachment", "inline" or NULL */
	char		*filename;	/* decoded (RFC 2231 / 2047), or NULL */
	char		*transfer_encoding; /* lower case as declared, or NULL */
	char		*sniffed_type;	/* libmagic MIME type of data, or NULL */
	bool		 is_text;	/* text/plain or text/html body text */
	bool		 is_html;
	bool		 is_attachment;	/* has a file name or is not text */
	unsigned char	*data;		/* decoded content (transfer encoding
					 * undone), len bytes */
	size_t		 len;
	char		*text;		/* text parts: UTF-8; HTML reduced to
					 * visible text; else NULL */
	size_t		 text_len;
	size_t		 raw_offset;	/* where the part starts in raw */
	size_t		 raw_len;
};

struct msg {
	/* The raw message (borrowed from the job's body for the msg's life). */
	const char		*raw;
	size_t			 raw_len;
	size_t			 header_len;	/* bytes up to the blank line */
	size_t			 parsed_len;	/* bytes GMime parsed: raw_len
						 * unless MSG_W_CUT */

	struct msg_header	*headers;
	size_t			 nheaders;

	/* Convenience copies of common fields (decoded), or NULL. */
	char			*subject;
	char			*from_addr;	/* lower case */
	char			*from_name;
	char			*reply_to_addr;
	char			*to_addrs;	/* comma separated, lower case */
	char			*message_id;
	char			*date;
	int64_t			 date_time;	/* Date: in seconds since the
						 * epoch, or -1 */

	struct msg_part		*parts;		/* leaves and containers, in
						 * document order */
	size_t			 nparts;

	char			*body_text;	/* every text part's text joined
						 * with "\n", subject first, as
						 * SpamAssassin's body rules see */
	size_t			 body_text_len;

	struct msg_url		*urls;
	size_t			 nurls;

	unsigned		 flags;
	unsigned		 mime_warnings;	/* MSG_W_* */
};

/* The first header called name (case-insensitive), or NULL. */
const struct msg_header *msg_header(const struct msg *, const char *name);
void	msg_free(struct msg *);	/* accepts NULL */

#endif
