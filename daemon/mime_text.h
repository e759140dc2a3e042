/*
 * The text side of MIME analysis, for daemon/mime.c only: charsets to
 * UTF-8, transfer decoding, HTML reduced to visible text with its links,
 * URLs found in text. Bounded, linear scans over buffers; any thread.
 */
#ifndef MOAT_MIME_TEXT_H
#define MOAT_MIME_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "msg.h"

/* Collects a message's URLs into m->urls, once per distinct URL and link
 * text, up to MSG_URLS_MAX (then MSG_TRUNCATED). */
struct mime_urls {
	struct msg	*m;		/* borrowed */
	void		*seen_url;	/* GHashTable of url strings */
	void		*seen_pair;	/* GHashTable of url \1 text */
	size_t		 cap;
};

void	 mime_text_init(void);	/* once, before any other call */
void	 mime_urls_free(struct mime_urls *);

void	 mime_lower_ascii(char *);
/* Append data in charset (lower case, NULL: none declared) to out as
 * UTF-8; unknown charsets and invalid bytes fall back to windows-1252.
 * -1 when out is full. */
int	 mime_text_append(struct buf *out, const char *charset,
	    const unsigned char *, size_t);
/* In place: CRLF -> LF, NUL -> space. Returns the new length. */
size_t	 mime_text_normalise(char *, size_t);
/* len cut back to a UTF-8 boundary at or below max. */
size_t	 mime_utf8_cut(const char *, size_t len, size_t max);
/* A valid UTF-8 copy of a string (windows-1252 for invalid bytes). */
char	*mime_utf8_dup(const char *);

/* Decoders write at most len bytes (base64: len / 4 * 3 + 3) to out and
 * return how many; *bad is set on invalid input, which is skipped. */
size_t	 mime_decode_base64(const unsigned char *, size_t len,
	    unsigned char *out, bool *bad);
size_t	 mime_decode_qp(const unsigned char *, size_t len,
	    unsigned char *out, bool *bad);
size_t	 mime_decode_uu(const unsigned char *, size_t len,
	    unsigned char *out);

/* Visible text of an HTML document (UTF-8 in, UTF-8 out, at most len or
 * MSG_TEXT_MAX bytes); its links go to u as part's. Caller frees. */
char	*mime_html_to_text(struct mime_urls *u, int part, const char *,
	    size_t len, size_t *outlen);
/* The charset a <meta> names near the start, lower case, or NULL.
 * Caller frees. */
char	*mime_html_meta_charset(const unsigned char *, size_t);
/* http://, https://, ftp:// and www. URLs written in text. */
void	 mime_urls_from_text(struct mime_urls *u, int part, const char *,
	    size_t len);

#endif
