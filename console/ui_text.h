/*
 * Text for the terminal: every string from moatd is cleaned here (escape
 * sequences, controls, bidirectional overrides, invalid UTF-8) and fitted
 * to a number of columns by display width (wide and combining characters),
 * plus the number, size, time and sparkline formats the views share.
 * Console thread; returned strings are owned by the caller where noted.
 */
#ifndef MOAT_UI_TEXT_H
#define MOAT_UI_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UI_TEXT_MAX		4096	/* bytes of one value ever shown */
/* Bytes ui_text_fit may need for w columns (4-byte characters, a few
 * combining marks, the marker and the NUL). */
#define UI_FIT_SIZE(w)		((size_t)(w) * 8 + 16)

/* Whether the terminal shows UTF-8; otherwise non-ASCII becomes '?'. */
void	 ui_text_set_utf8(bool);
bool	 ui_text_utf8(void);

/* s (NULL: "") without escape sequences (CSI, OSC, DCS and the rest, 7-
 * and 8-bit), control characters, bidirectional controls or invalid
 * UTF-8; tabs and line ends become one space. At most UI_TEXT_MAX bytes
 * of s are read. Caller frees. */
char	*ui_text_clean(const char *s);
/* Columns a cleaned string takes. */
int	 ui_text_width(const char *clean);

#define UI_FIT_PAD	0x1	/* fill up to width with spaces */
#define UI_FIT_RIGHT	0x2	/* align right (implies PAD) */
#define UI_FIT_RAW	0x4	/* s is already clean (our own text) */

/* Fit s into width columns: cut with a marker ("…" or "~") when longer.
 * out (outsz >= UI_FIT_SIZE(width)) is always NUL-terminated. Returns the
 * columns used. */
int	 ui_text_fit(const char *s, int width, int flags, char *out,
	    size_t outsz);
/* Byte length of the longest prefix of clean that fits width columns
 * (at least one character when clean is not empty), for wrapping. */
size_t	 ui_text_prefix(const char *clean, int width);

/* "999", "1.2k", "12k", "3.4M" */
void	 ui_text_count(int64_t, char *, size_t);
/* "1,234,567" */
void	 ui_text_grouped(int64_t, char *, size_t);
/* "512", "1.2K", "3.4M", "1.0G" (bytes) */
void	 ui_text_size(int64_t, char *, size_t);
/* "45s", "12m 03s", "3h 04m", "5d 03h" */
void	 ui_text_duration(int64_t seconds, char *, size_t);
/* Local time: "12:00:03" on now's day, "11-24 12:00" otherwise, "-" for
 * 0 or less. */
void	 ui_text_time(int64_t ms, int64_t now_ms, char *, size_t);
/* Local "2025-11-24 12:00:03". */
void	 ui_text_datetime(int64_t ms, char *, size_t);

/* One cell per value, scaled to the largest (0 is the lowest bar, any
 * other value at least the second): "▁▂▃▄▅▆▇█", or "_.:-=+*#" without
 * UTF-8. Returns the cells written (n, fewer if out is short). */
size_t	 ui_text_sparkline(const int64_t *v, size_t n, char *out,
	    size_t outsz);

/*
 * A time a person typed: "now", "-30s", "-15m", "-2h", "-7d" (before
 * now), "HH:MM" (today), "YYYY-MM-DD", "YYYY-MM-DD HH:MM[:SS]" (local).
 * 0 or -1 with *cause (caller frees).
 */
int	 ui_text_parse_time(const char *, int64_t now_ms, int64_t *ms,
	    char **cause);
/* "FROM..TO", "FROM" (to now) or "" (the last hour). */
int	 ui_text_parse_range(const char *, int64_t now_ms, int64_t *from_ms,
	    int64_t *to_ms, char **cause);

#endif
