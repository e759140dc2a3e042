/*
 * Logging to syslog and, in the foreground, to stderr.
 * Any thread: syslog(3) and stdio locking make each line atomic.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "log.h"

static bool		 log_stderr = true;
static bool		 log_syslog;
static enum log_level	 log_max = LOG_LEVEL_INFO;
static const char	*log_ident = "moat";

static const char *const level_names[] = { "err", "warning", "info", "debug" };
static const int level_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

void
log_init(const char *ident, bool to_stderr, bool to_syslog)
{
	log_ident = ident;
	log_stderr = to_stderr;
	log_syslog = to_syslog;
	if (to_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_set_level(enum log_level level)
{
	log_max = level;
}

int
log_level_parse(const char *s, enum log_level *out)
{
	size_t	i;

	for (i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
		if (strcmp(s, level_names[i]) == 0 ||
		    (i == LOG_LEVEL_WARN && strcmp(s, "warn") == 0) ||
		    (i == LOG_LEVEL_ERR && strcmp(s, "error") == 0)) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

static void
log_vwrite(enum log_level level, const char *errstr, const char *fmt,
    va_list ap)
{
	char		 msg[2048];
	struct timespec	 ts;
	struct tm	 tm;
	char		 when[32];

	if (level > log_max)
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (log_syslog) {
		if (errstr != NULL)
			syslog(level_prio[level], "%s: %s", msg, errstr);
		else
			syslog(level_prio[level], "%s", msg);
	}
	if (log_stderr) {
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof when, "%H:%M:%S", &tm);
		flockfile(stderr);
		fprintf(stderr, "%s.%03ld %s %s: %s%s%s\n", when,
		    ts.tv_nsec / 1000000, log_ident, level_names[level], msg,
		    errstr != NULL ? ": " : "", errstr != NULL ? errstr : "");
		funlockfile(stderr);
	}
}

void
log_warn(const char *fmt, ...)
{
	char	 ebuf[128];
	int	 saved = errno;
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_WARN, strerror_r(saved, ebuf, sizeof ebuf), fmt,
	    ap);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_WARN, NULL, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_INFO, NULL, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_DEBUG, NULL, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	char	 ebuf[128];
	int	 saved = errno;
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERR, strerror_r(saved, ebuf, sizeof ebuf), fmt,
	    ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
