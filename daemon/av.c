/*
 * libclamav engines (see av.h). A compiled cl_engine is read-only and
 * thread-safe for scanning; we never change one after cl_engine_compile,
 * and free it only when the last scan holding it is done (refcount).
 * Builds run on the watcher thread or, when quick, on the caller's.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <clamav.h>

#include "av.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

struct av_engine {
	int			 refs;		/* atomic */
	struct cl_engine	*cl;
	uint64_t		 fp;		/* signature files it was built
						 * from */
	struct av_info		 info;
};

struct av {
	int			 refs;		/* under reg_lock */
	struct av_conf		 conf;		/* owned copy */
	pthread_mutex_t		 lock;		/* cur, stop, want */
	pthread_cond_t		 cond;
	pthread_mutex_t		 build_lock;	/* one build at a time */
	struct av_engine	*cur;		/* reference */
	uint64_t		 generation;	/* under build_lock */
	uint64_t		 failed_fp;	/* under build_lock: files that
						 * failed, not retried */
	bool			 stop;
	bool			 want;		/* a check was asked for */
	pthread_t		 thread;
};

/* The latest scanner: av_open shares it when the configuration is the same,
 * so a reload does not recompile unchanged signatures. Not a reference. */
static pthread_mutex_t	 reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct av	*reg_last;

static pthread_once_t	 init_once = PTHREAD_ONCE_INIT;
static cl_error_t	 init_rc;

/* The last error libclamav reported on this thread (for causes). */
static _Thread_local char last_error[256];

/* ClamAV database file extensions (libclamav's CLI_DBEXT). */
static const char *const db_exts[] = {
	"db", "hdb", "hdu", "hsb", "hsu", "mdb", "mdu", "msb", "msu", "ndb",
	"ndu", "ldb", "ldu", "sdb", "zmd", "rmd", "pdb", "gdb", "wdb", "cbc",
	"ftm", "cfg", "cvd", "cld", "cud", "cdb", "cat", "crb", "idb", "ioc",
	"yar", "yara", "pwdb", "ign", "ign2", "imp", "fp", "sfp", "info",
};

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

static void
av_msg(enum cl_msg severity, const char *full, const char *msg, void *ctx)
{
	size_t	len;

	(void)full;
	(void)ctx;
	if (msg == NULL)
		return;
	len = strcspn(msg, "\r\n");
	if (severity == CL_MSG_ERROR)
		snprintf(last_error, sizeof last_error, "%.*s", (int)len, msg);
	/* Mail content can provoke these: never above debug. */
	if (severity != CL_MSG_INFO_VERBOSE)
		log_debug("libclamav: %.*s", (int)len, msg);
}

static void
init_run(void)
{
	cl_set_clcb_msg(av_msg);
	init_rc = cl_init(CL_INIT_DEFAULT);
}

int
av_global_init(char **cause)
{
	pthread_once(&init_once, init_run);
	if (init_rc != CL_SUCCESS) {
		xasprintf(cause, "clamav: cl_init: %s", cl_strerror(init_rc));
		return -1;
	}
	return 0;
}

const char *
av_status_name(enum av_status s)
{
	static const char *const names[] = {
		"clean", "virus", "encrypted", "limits", "heuristic", "error",
	};

	if ((size_t)s >= NITEMS(names))
		return "?";
	return names[s];
}

/* --- configuration -------------------------------------------------------- */

static void
conf_copy(struct av_conf *to, const struct av_conf *from)
{
	size_t	i;

	*to = *from;
	to->sigs = xcalloc(from->nsigs + 1, sizeof *to->sigs);
	for (i = 0; i < from->nsigs; i++)
		to->sigs[i] = xstrdup(from->sigs[i]);
	to->system_db = from->system_db != NULL ?
	    xstrdup(from->system_db) : NULL;
	to->tmpdir = from->tmpdir != NULL ? xstrdup(from->tmpdir) : NULL;
}

void
av_conf_free(struct av_conf *c)
{
	size_t	i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nsigs; i++)
		free(c->sigs[i]);
	free(c->sigs);
	free(c->system_db);
	free(c->tmpdir);
	memset(c, 0, sizeof *c);
}

static bool
str_same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool
conf_same(const struct av_conf *a, const struct av_conf *b)
{
	size_t	i;

	if (a->nsigs != b->nsigs || !str_same(a->system_db, b->system_db) ||
	    !str_same(a->tmpdir, b->tmpdir) ||
	    a->max_scan_size != b->max_scan_size ||
	    a->max_file_size != b->max_file_size ||
	    a->max_recursion != b->max_recursion ||
	    a->max_files != b->max_files ||
	    a->max_scan_time_ms != b->max_scan_time_ms ||
	    a->check_interval != b->check_interval)
		return false;
	for (i = 0; i < a->nsigs; i++)
		if (strcmp(a->sigs[i], b->sigs[i]) != 0)
			return false;
	return true;
}

/* --- signature files ------------------------------------------------------ */

static bool
is_db_file(const char *name)
{
	const char	*ext = strrchr(name, '.');
	size_t		 i;

	if (name[0] == '.' || ext == NULL)
		return false;
	for (i = 0; i < NITEMS(db_exts); i++)
		if (strcmp(ext + 1, db_exts[i]) == 0)
			return true;
	return false;
}

static uint64_t
fnv(uint64_t h, const void *p, size_t len)
{
	const unsigned char	*s = p;
	size_t			 i;

	for (i = 0; i < len; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* One file's identity: name, size, change time, inode. */
static uint64_t
file_hash(const char *dir, const char *name, const struct stat *st)
{
	uint64_t	h = 0xcbf29ce484222325ULL;
	int64_t		v[5];

	h = fnv(h, dir, strlen(dir) + 1);
	h = fnv(h, name, strlen(name) + 1);
	v[0] = (int64_t)st->st_size;
	v[1] = (int64_t)st->st_mtim.tv_sec;
	v[2] = (int64_t)st->st_mtim.tv_nsec;
	v[3] = (int64_t)st->st_ino;
	v[4] = (int64_t)st->st_ctim.tv_nsec;
	return fnv(h, v, sizeof v);
}

/* Adds the database files of path (a file or a folder) to *sum, order-
 * independently; returns how many there are. */
static size_t
fp_path(const char *path, uint64_t *sum)
{
	struct stat	 st;
	struct dirent	*d;
	DIR		*dir;
	size_t		 n = 0;

	if (stat(path, &st) == -1) {
		*sum += fnv(0xcbf29ce484222325ULL, path, strlen(path)) ^
		    (uint64_t)errno;
		return 0;
	}
	if (!S_ISDIR(st.st_mode)) {
		*sum += file_hash(path, "", &st);
		return 1;
	}
	if ((dir = opendir(path)) == NULL)
		return 0;
	while ((d = readdir(dir)) != NULL && n < AV_DB_FILES_MAX) {
		if (!is_db_file(d->d_name) ||
		    fstatat(dirfd(dir), d->d_name, &st, 0) == -1 ||
		    !S_ISREG(st.st_mode))
			continue;
		*sum += file_hash(path, d->d_name, &st);
		n++;
	}
	closedir(dir);
	return n;
}

/* The state of every signature file an engine for c reads. *system: the
 * system database folder holds database files. */
static uint64_t
fingerprint(const struct av_conf *c, bool *system)
{
	uint64_t	sum = 0, n = 0, sys = 0;
	size_t		i;

	for (i = 0; i < c->nsigs; i++)
		n += fp_path(c->sigs[i], &sum);
	if (c->system_db != NULL)
		sys = fp_path(c->system_db, &sum);
	if (system != NULL)
		*system = sys > 0;
	n += sys;
	return fnv(sum, &n, sizeof n);
}

/* --- engines -------------------------------------------------------------- */

static int
load(struct cl_engine *cl, const char *path, unsigned *sigs, char **cause)
{
	unsigned	n = 0;
	cl_error_t	rc;

	last_error[0] = '\0';
	rc = cl_load(path, cl, &n, CL_DB_STDOPT);
	if (rc != CL_SUCCESS) {
		xasprintf(cause, "clamav: %s: %s%s%s", path, cl_strerror(rc),
		    last_error[0] != '\0' ? ": " : "", last_error);
		return -1;
	}
	*sigs += n;
	return 0;
}

/* What a scan reported through the callback. libclamav 1.4 returns no
 * name for some heuristic alerts (Heuristics.Limits.Exceeded.*) unless a
 * callback is set; it also tells a signature from a heuristic here. */
struct scan_note {
	char	name[AV_NAME_MAX];
	bool	have;
	bool	signature;	/* a non-heuristic name was seen */
};

static void
virus_found(int fd, const char *name, void *arg)
{
	struct scan_note	*n = arg;
	bool			 sig;

	(void)fd;
	if (n == NULL || name == NULL)
		return;
	sig = strncmp(name, "Heuristics.", 11) != 0;
	if (!n->have || (sig && !n->signature)) {
		snprintf(n->name, sizeof n->name, "%s", name);
		n->have = true;
		n->signature = sig;
	}
}

static int
set_limits(struct cl_engine *cl, const struct av_conf *c, char **cause)
{
	const struct {
		enum cl_engine_field	 f;
		long long		 v;
		const char		*name;
	} nums[] = {
		{ CL_ENGINE_MAX_SCANSIZE, (long long)c->max_scan_size,
		    "max_scan_size" },
		{ CL_ENGINE_MAX_FILESIZE, (long long)c->max_file_size,
		    "max_file_size" },
		{ CL_ENGINE_MAX_RECURSION, c->max_recursion, "max_recursion" },
		{ CL_ENGINE_MAX_FILES, c->max_files, "max_files" },
		{ CL_ENGINE_MAX_SCANTIME, c->max_scan_time_ms,
		    "max_scan_time" },
	};
	size_t		i;
	cl_error_t	rc;

	for (i = 0; i < NITEMS(nums); i++) {
		if ((rc = cl_engine_set_num(cl, nums[i].f, nums[i].v)) !=
		    CL_SUCCESS) {
			xasprintf(cause, "clamav: %s: %s", nums[i].name,
			    cl_strerror(rc));
			return -1;
		}
	}
	if (c->tmpdir != NULL && (rc = cl_engine_set_str(cl, CL_ENGINE_TMPDIR,
	    c->tmpdir)) != CL_SUCCESS) {
		xasprintf(cause, "clamav: tmpdir: %s", cl_strerror(rc));
		return -1;
	}
	return 0;
}

static struct av_engine *
engine_build(const struct av_conf *c, char **cause)
{
	struct av_engine	*e;
	struct cl_engine	*cl;
	uint64_t		 start = util_mono_ms(), fp;
	unsigned		 sigs = 0;
	size_t			 i;
	bool			 system;
	cl_error_t		 rc;

	/* Taken first: a file changed during the load is seen next time. */
	fp = fingerprint(c, &system);
	if ((cl = cl_engine_new()) == NULL) {
		xasprintf(cause, "clamav: cl_engine_new failed");
		return NULL;
	}
	if (set_limits(cl, c, cause) == -1)
		goto fail;
	cl_engine_set_clcb_virus_found(cl, virus_found);
	for (i = 0; i < c->nsigs; i++)
		if (load(cl, c->sigs[i], &sigs, cause) == -1)
			goto fail;
	if (system && load(cl, c->system_db, &sigs, cause) == -1)
		goto fail;
	if (sigs == 0) {
		xasprintf(cause, "clamav: no signatures in %s%s%s; add "
		    "some or set filters.clamav.enabled = false",
		    c->nsigs > 0 ? c->sigs[0] : "",
		    c->nsigs > 0 && c->system_db != NULL ? " or " : "",
		    c->system_db != NULL ? c->system_db : c->nsigs > 0 ? "" :
		    "no folder");
		goto fail;
	}
	last_error[0] = '\0';
	if ((rc = cl_engine_compile(cl)) != CL_SUCCESS) {
		xasprintf(cause, "clamav: compiling the engine: %s%s%s",
		    cl_strerror(rc), last_error[0] != '\0' ? ": " : "",
		    last_error);
		goto fail;
	}
	e = xcalloc(1, sizeof *e);
	e->refs = 1;
	e->cl = cl;
	e->fp = fp;
	e->info.sigs = sigs;
	e->info.system_db = system;
	e->info.build_ms = (uint32_t)(util_mono_ms() - start);
	return e;
fail:
	cl_engine_free(cl);
	return NULL;
}

struct av_engine *
av_acquire(struct av *a)
{
	struct av_engine	*e;

	if (a == NULL)
		return NULL;
	pthread_mutex_lock(&a->lock);
	if ((e = a->cur) != NULL)
		__atomic_add_fetch(&e->refs, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&a->lock);
	return e;
}

void
av_release(struct av_engine *e)
{
	if (e == NULL || __atomic_sub_fetch(&e->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	cl_engine_free(e->cl);
	free(e);
}

void
av_engine_info(const struct av_engine *e, struct av_info *info)
{
	*info = e->info;
}

static void
swap(struct av *a, struct av_engine *e)
{
	struct av_engine	*old;

	pthread_mutex_lock(&a->lock);
	old = a->cur;
	a->cur = e;
	pthread_mutex_unlock(&a->lock);
	av_release(old);	/* freed when its last scan ends */
}

/* Rebuild when the files changed: 1 swapped, 0 unchanged, -1 *cause. */
static int
rebuild(struct av *a, char **cause)
{
	struct av_engine	*e, *cur;
	struct av_info		 info;
	uint64_t		 fp;
	bool			 same;

	pthread_mutex_lock(&a->build_lock);
	fp = fingerprint(&a->conf, NULL);
	cur = av_acquire(a);
	same = cur != NULL && cur->fp == fp;
	av_release(cur);
	if (same) {
		pthread_mutex_unlock(&a->build_lock);
		return 0;
	}
	if ((e = engine_build(&a->conf, cause)) == NULL) {
		a->failed_fp = fp;
		pthread_mutex_unlock(&a->build_lock);
		return -1;
	}
	e->info.generation = ++a->generation;
	info = e->info;		/* e may be gone once the lock is let go */
	swap(a, e);
	pthread_mutex_unlock(&a->build_lock);
	log_info("clamav: signatures changed: engine %llu, %u signatures "
	    "in %u ms", (unsigned long long)info.generation, info.sigs,
	    info.build_ms);
	return 1;
}

/* Parse our own signature files without compiling: catches their errors
 * at reload before the slow full build runs in the background. */
static int
validate_own(const struct av_conf *c, char **cause)
{
	struct cl_engine	*cl;
	unsigned		 sigs = 0;
	size_t			 i;
	int			 rc = 0;

	if ((cl = cl_engine_new()) == NULL) {
		xasprintf(cause, "clamav: cl_engine_new failed");
		return -1;
	}
	for (i = 0; i < c->nsigs && rc == 0; i++)
		rc = load(cl, c->sigs[i], &sigs, cause);
	cl_engine_free(cl);
	return rc;
}

static void *
watch(void *arg)
{
	struct av	*a = arg;
	struct timespec	 deadline;
	char		*cause;
	uint64_t	 fp;
	bool		 failed_before;

	pthread_mutex_lock(&a->lock);
	while (!a->stop) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += a->conf.check_interval;
		while (!a->stop && !a->want) {
			if (a->conf.check_interval <= 0)
				pthread_cond_wait(&a->cond, &a->lock);
			else if (pthread_cond_timedwait(&a->cond, &a->lock,
			    &deadline) == ETIMEDOUT)
				break;
		}
		if (a->stop)
			break;
		a->want = false;
		pthread_mutex_unlock(&a->lock);

		/* A broken set of files is reported once, not every turn. */
		pthread_mutex_lock(&a->build_lock);
		fp = fingerprint(&a->conf, NULL);
		failed_before = a->failed_fp != 0 && a->failed_fp == fp;
		pthread_mutex_unlock(&a->build_lock);
		cause = NULL;
		if (!failed_before && rebuild(a, &cause) == -1)
			log_warnx("clamav: signature files changed but the new "
			    "engine failed; keeping the running one: %s",
			    cause);
		free(cause);
		pthread_mutex_lock(&a->lock);
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

int
av_check(struct av *a, bool wait, char **cause)
{
	if (wait)
		return rebuild(a, cause);
	pthread_mutex_lock(&a->lock);
	a->want = true;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->lock);
	return 0;
}

/* A shared scanner at reload: pick up changed signature files. */
static int
refresh(struct av *a, char **cause)
{
	struct av_engine	*e;
	uint64_t		 fp;
	uint32_t		 build_ms = 0;
	bool			 same;

	fp = fingerprint(&a->conf, NULL);
	e = av_acquire(a);
	same = e != NULL && e->fp == fp;
	if (e != NULL)
		build_ms = e->info.build_ms;
	av_release(e);
	if (same)
		return 0;
	if (build_ms <= AV_SYNC_BUILD_MS)
		return rebuild(a, cause) == -1 ? -1 : 0;
	if (validate_own(&a->conf, cause) == -1)
		return -1;
	log_info("clamav: signature files changed: building the new engine "
	    "in the background");
	return av_check(a, false, cause);
}

static void
av_destroy(struct av *a)
{
	pthread_mutex_lock(&a->lock);
	a->stop = true;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->lock);
	pthread_join(a->thread, NULL);	/* waits for a build in progress */
	av_release(a->cur);
	pthread_mutex_destroy(&a->lock);
	pthread_mutex_destroy(&a->build_lock);
	pthread_cond_destroy(&a->cond);
	av_conf_free(&a->conf);
	free(a);
}

struct av *
av_open(const struct av_conf *conf, char **cause)
{
	struct av		*a = NULL;
	struct av_engine	*e;
	pthread_condattr_t	 ca;
	int			 rc;

	if (av_global_init(cause) == -1)
		return NULL;
	pthread_mutex_lock(&reg_lock);
	if (reg_last != NULL && conf_same(&reg_last->conf, conf)) {
		a = reg_last;
		a->refs++;
	}
	pthread_mutex_unlock(&reg_lock);
	if (a != NULL) {
		if (refresh(a, cause) == -1) {
			av_close(a);
			return NULL;
		}
		return a;
	}

	if ((e = engine_build(conf, cause)) == NULL)
		return NULL;
	a = xcalloc(1, sizeof *a);
	conf_copy(&a->conf, conf);
	pthread_mutex_init(&a->lock, NULL);
	pthread_mutex_init(&a->build_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->cond, &ca);
	pthread_condattr_destroy(&ca);
	a->generation = e->info.generation = 1;
	a->cur = e;
	if ((rc = pthread_create(&a->thread, NULL, watch, a)) != 0) {
		xasprintf(cause, "clamav: pthread_create: %s", strerror(rc));
		av_release(a->cur);
		av_conf_free(&a->conf);
		free(a);
		return NULL;
	}
	pthread_mutex_lock(&reg_lock);
	a->refs = 1;
	reg_last = a;
	pthread_mutex_unlock(&reg_lock);
	log_info("clamav: libclamav %s, %u signatures (%s), built in %u ms",
	    cl_retver(), e->info.sigs, e->info.system_db ?
	    "own and system database" : "own signatures only",
	    e->info.build_ms);
	return a;
}

void
av_close(struct av *a)
{
	bool	last;

	if (a == NULL)
		return;
	pthread_mutex_lock(&reg_lock);
	last = --a->refs == 0;
	if (last && reg_last == a)
		reg_last = NULL;
	pthread_mutex_unlock(&reg_lock);
	if (last)
		av_destroy(a);
}

/* --- scanning ------------------------------------------------------------- */

static enum av_status
classify(const char *name)
{
	if (strncmp(name, "Heuristics.Encrypted.", 21) == 0)
		return AV_ENCRYPTED;
	if (strncmp(name, "Heuristics.Limits.Exceeded", 26) == 0)
		return AV_LIMITS;
	if (strncmp(name, "Heuristics.", 11) == 0)
		return AV_HEURISTIC;
	return AV_VIRUS;
}

void
av_scan(struct av_engine *e, const void *data, size_t len, const char *name,
    struct av_result *r)
{
	struct cl_scan_options	 o;
	struct scan_note	 note;
	cl_fmap_t		*map;
	const char		*vir = NULL;
	cl_error_t		 rc;

	memset(r, 0, sizeof *r);
	memset(&note, 0, sizeof note);
	if (e == NULL) {
		r->status = AV_ERROR;
		snprintf(r->name, sizeof r->name, "no engine loaded");
		return;
	}
	if (len == 0)
		return;
	memset(&o, 0, sizeof o);
	o.general = CL_SCAN_GENERAL_HEURISTICS;
	o.parse = ~(uint32_t)0;
	o.heuristic = CL_SCAN_HEURISTIC_ENCRYPTED_ARCHIVE |
	    CL_SCAN_HEURISTIC_ENCRYPTED_DOC | CL_SCAN_HEURISTIC_EXCEEDS_MAX;
	if ((map = cl_fmap_open_memory(data, len)) == NULL) {
		r->status = AV_ERROR;
		snprintf(r->name, sizeof r->name, "cl_fmap_open_memory failed");
		return;
	}
	rc = cl_scanmap_callback(map, name, &vir, &r->scanned, e->cl, &o,
	    &note);
	if (rc == CL_VIRUS)
		snprintf(r->name, sizeof r->name, "%s", note.have ? note.name :
		    vir != NULL ? vir : "unnamed");
	cl_fmap_close(map);
	switch (rc) {
	case CL_CLEAN:
		break;
	case CL_VIRUS:
		r->status = classify(r->name);
		break;
	case CL_EMAXREC:
	case CL_EMAXSIZE:
	case CL_EMAXFILES:
		r->status = AV_LIMITS;
		snprintf(r->name, sizeof r->name, "%s", cl_strerror(rc));
		break;
	default:
		r->status = AV_ERROR;
		snprintf(r->name, sizeof r->name, "%s", cl_strerror(rc));
		break;
	}
}
