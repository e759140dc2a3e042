/*
 * SMTP syntax without I/O: command lines, paths and their parameters, and
 * the DATA scanner that un-stuffs dots and finds the end of data while
 * flagging what closes SMTP smuggling (bare LF, bare CR, NUL, long lines).
 * Pure functions; any thread.
 */
#ifndef MOAT_SMTP_PARSE_H
#define MOAT_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#define SMTP_CMD_LINE_MAX	2048	/* a command line, CRLF included */
#define SMTP_DATA_LINE_MAX	998	/* RFC 5321 4.5.3.1.6, CRLF excluded */
#define SMTP_PATH_MAX		256	/* RFC 5321 4.5.3.1.3 */
#define SMTP_LOCAL_MAX		64
#define SMTP_DOMAIN_MAX		255
#define SMTP_PARAM_MAX		500	/* an ORCPT or ENVID value */

enum smtp_verb {
	SMTP_UNKNOWN = 0,
	SMTP_HELO, SMTP_EHLO, SMTP_LHLO, SMTP_MAIL, SMTP_RCPT, SMTP_DATA,
	SMTP_RSET, SMTP_NOOP, SMTP_QUIT, SMTP_HELP, SMTP_VRFY, SMTP_EXPN,
	SMTP_XFORWARD, SMTP_STARTTLS, SMTP_AUTH, SMTP_BDAT,
};

/* Split a command line (CRLF removed) into verb and argument (points into
 * line, leading spaces skipped; "" when none). */
enum smtp_verb	smtp_parse_verb(const char *line, const char **arg);

enum smtp_body_type {
	SMTP_BODY_NONE = 0,	/* not given */
	SMTP_BODY_7BIT,
	SMTP_BODY_8BITMIME,
};

struct smtp_mail_args {
	char		 addr[SMTP_PATH_MAX + 1];	/* "" for <> */
	bool		 have_size;
	unsigned long long size;
	enum smtp_body_type body;
	bool		 smtputf8;
	char		 ret[8];			/* FULL, HDRS or "" */
	char		 envid[SMTP_PARAM_MAX + 1];
};

struct smtp_rcpt_args {
	char		 addr[SMTP_PATH_MAX + 1];
	char		 notify[64];			/* "" when absent */
	char		 orcpt[SMTP_PARAM_MAX + 1];
};

/* Parse "FROM:<addr> params" / "TO:<addr> params". On error return -1 and
 * a complete SMTP reply (code, enhanced code, text) in reply. */
int	smtp_parse_mail(const char *arg, struct smtp_mail_args *,
	    char *reply, size_t replylen);
int	smtp_parse_rcpt(const char *arg, struct smtp_rcpt_args *,
	    char *reply, size_t replylen);

/* XFORWARD attributes, values xtext-decoded. */
struct smtp_xforward {
	char	name[256];
	char	addr[64];
	char	port[8];
	char	proto[16];
	char	helo[256];
	char	ident[128];
	char	source[16];
};
int	smtp_parse_xforward(const char *arg, struct smtp_xforward *,
	    char *reply, size_t replylen);

/* The DATA scanner. */
#define SMTP_DATA_BARE_LF	0x01
#define SMTP_DATA_BARE_CR	0x02
#define SMTP_DATA_NUL		0x04
#define SMTP_DATA_LONG_LINE	0x08
#define SMTP_DATA_TOO_BIG	0x10
#define SMTP_DATA_LOCAL_ERR	0x20	/* emit failed: 451, not 5xx */

struct smtp_data {
	int		 state;
	size_t		 line_len;	/* octets on the wire, this line */
	size_t		 size;		/* octets of message kept so far */
	size_t		 max_size;
	unsigned	 flags;
	bool		 done;		/* <CRLF>.<CRLF> seen */
	bool		 eight_bit;	/* a byte over 127 seen */
};

void	smtp_data_init(struct smtp_data *, size_t max_size);
/* Feed wire bytes. Message bytes are passed to emit(arg, p, n) while the
 * data is acceptable (after an error nothing more is emitted); returns the
 * number of bytes consumed, which stops just after the end of data. */
size_t	smtp_data_feed(struct smtp_data *, const char *p, size_t n,
	    int (*emit)(void *, const char *, size_t), void *arg);
/* The 5xx reply for the flags, or NULL when the data is acceptable. */
const char *smtp_data_reply(const struct smtp_data *);

/* Address checks: true when addr needs SMTPUTF8 (a byte over 127). */
bool	smtp_addr_is_utf8(const char *addr);

#endif
