/*
 * Anti-virus with libclamav: one compiled engine built from our signature
 * files (rules.d/clamav) and the system database, shared read-only by every
 * worker, rebuilt in the background when the signature files change and
 * swapped; an engine is freed when its last scan finishes.
 *
 * Threads: av_open/av_close on the loop thread; av_acquire, av_release,
 * av_scan on any thread; the rebuilds on av's own watcher thread (or on the
 * caller's for av_check(wait)).
 */
#ifndef MOAT_AV_H
#define MOAT_AV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AV_SIG_PATHS_MAX	32	/* signature files or folders */
#define AV_DB_FILES_MAX		4096	/* files looked at in one folder */
#define AV_NAME_MAX		128	/* signature name kept */
#define AV_CAUSE_MAX		512
#define AV_SYNC_BUILD_MS	2000	/* at reload, rebuild inline when the
					 * last build was this quick */

/* Defaults (Proxmox/clamd-like). */
#define AV_MAX_SCAN_SIZE	(100ULL * 1024 * 1024)
#define AV_MAX_FILE_SIZE	(25ULL * 1024 * 1024)
#define AV_MAX_RECURSION	16
#define AV_MAX_FILES		10000
#define AV_MAX_SCAN_TIME_MS	120000
#define AV_CHECK_INTERVAL	300	/* seconds between signature checks */

struct av_conf {
	char		**sigs;		/* absolute files or folders */
	size_t		  nsigs;
	char		 *system_db;	/* folder, or NULL: ours only */
	char		 *tmpdir;	/* NULL: libclamav's default */
	uint64_t	  max_scan_size;
	uint64_t	  max_file_size;
	uint32_t	  max_recursion;
	uint32_t	  max_files;
	uint32_t	  max_scan_time_ms;
	int		  check_interval;	/* seconds, 0: only at reload */
};

enum av_status {
	AV_CLEAN = 0,
	AV_VIRUS,		/* a signature matched */
	AV_ENCRYPTED,		/* Heuristics.Encrypted.*: could not look in */
	AV_LIMITS,		/* a limit stopped the scan: not fully seen */
	AV_HEURISTIC,		/* another Heuristics.* alert */
	AV_ERROR,		/* the scanner failed */
};

struct av_result {
	enum av_status	status;
	char		name[AV_NAME_MAX];	/* signature, or error text */
	unsigned long	scanned;		/* libclamav's count */
};

struct av;		/* a scanner: configuration, engine, watcher */
struct av_engine;	/* one compiled engine, reference-counted */

struct av_info {
	unsigned	 sigs;		/* signatures loaded */
	uint64_t	 generation;	/* 1, 2, ... per build of this av */
	uint32_t	 build_ms;	/* load + compile time */
	bool		 system_db;	/* the system database was loaded */
};

/* Once per process (idempotent, any thread): cl_init and logging. */
int		 av_global_init(char **cause);
/* Copies; the conf given to av_open is borrowed for the call only. */
void		 av_conf_free(struct av_conf *);
/*
 * A scanner for conf. When the running scanner has the same conf it is
 * shared (a reload does not recompile): if its signature files changed,
 * they are rebuilt (inline when quick, else our own files are checked here
 * and the full build happens on the watcher thread). NULL with *cause.
 */
struct av	*av_open(const struct av_conf *, char **cause);
void		 av_close(struct av *);		/* accepts NULL */
/* The current engine (a reference), or NULL when there is none. */
struct av_engine *av_acquire(struct av *);
void		 av_release(struct av_engine *);	/* accepts NULL */
void		 av_engine_info(const struct av_engine *, struct av_info *);
/*
 * Compare the signature files with the running engine's and rebuild when
 * they changed. wait: build on this thread and return 1 when swapped, 0
 * when unchanged, -1 with *cause; else ask the watcher and return 0.
 */
int		 av_check(struct av *, bool wait, char **cause);
/* Scan len bytes at data (a whole file or message); name is for logs.
 * Never fails: errors are AV_ERROR with the reason in r->name. */
void		 av_scan(struct av_engine *, const void *data, size_t len,
		     const char *name, struct av_result *r);
const char	*av_status_name(enum av_status);

#endif
