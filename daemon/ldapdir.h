/*
 * LDAP / Active Directory directories.
 *
 * ldap = {
 *     profiles = ( {
 *         name = "corp";
 *         uri = "ldap://127.0.0.1:389";
 *         base = "dc=example,dc=com";
 *         bind_dn = "cn=svc,dc=example,dc=com"; bind_password = "...";
 *         user_filter = "(|(mail=%s)(proxyAddresses=smtp:%s))";
 *         login_filter = "(|(uid=%s)(sAMAccountName=%s)(mail=%s))";
 *         group_member_attr = "member";
 *         mail_attrs = [ "mail", "proxyAddresses" ];
 *         refresh = 300;        # seconds between directory loads
 *         max_stale = 900;      # seconds a snapshot serves after failed
 *                               # refreshes (default 3 * refresh)
 *         timeout_ms = 2000;
 *         page_size = 500;      # paged results (AD serves 1000 at most)
 *         admin_group = "cn=admins,..."; qmanager_group = "...";
 *         auditor_group = "...";
 *     } );
 *     verify_recipients = "corp";   # RCPT check on inbound sessions
 *     login = "corp";               # profile ldapdir_login binds against
 * };
 *
 * A background thread loads, per profile, every address (mail_attrs;
 * proxyAddresses only with an "smtp:" prefix) of every entry, and every
 * group's members (nested groups and AD memberOf resolved) into an
 * immutable snapshot. Lookups on the loop thread only read memory.
 */
#ifndef MOAT_LDAPDIR_H
#define MOAT_LDAPDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LDAPDIR_PROFILES_MAX	16
#define LDAPDIR_FILTER_MAX	2048	/* a built search filter */
#define LDAPDIR_ADDR_MAX	320
#define LDAPDIR_NEST_MAX	32	/* group nesting depth followed */
#define LDAPDIR_ROLE_MAX	16
#define LDAPDIR_PAGE_DEF	500	/* entries per paged search */

struct cfg;
struct event_base;
struct ldapdir_snap;

/* Check the ldap section (moatd -t, reload): 0 or -1 with *cause. */
int	ldapdir_conf_check(const struct cfg *, char **cause);
/* Start the refresh thread for the profiles of cfg (nothing when no
 * profile is configured). A reload does not change the profiles. */
int	ldapdir_start(const struct cfg *, char **cause);
void	ldapdir_stop(void);

/* Loop thread, RCPT: 1 known, 0 unknown, -1 directory unavailable (no
 * snapshot yet, or refreshes failing and the snapshot older than
 * max_stale), -2 no verification configured. */
int	ldapdir_rcpt_known(const char *addr);
/* Is addr a (nested) member of the group (DN or cn) in profile's
 * snapshot? false when unknown or no snapshot. */
bool	ldapdir_in_group(const char *profile, const char *group,
	    const char *addr);
/* Any thread (policy workers): is addr in profile's directory ("", "*"
 * or NULL: any profile)? Is it in the group "[profile:]group" (group a DN
 * or a cn; no profile: the first)? false without a fresh snapshot. */
bool	ldapdir_user_known(const char *profile, const char *addr);
bool	ldapdir_policy_group(const char *spec, const char *addr);
/*
 * Caller's thread (blocking, bounded by timeout_ms): find user with the
 * service account (login_filter), bind as the found DN with password.
 * 0 and role_out ("admin", "qmanager", "auditor" or "user") or -1 and
 * *cause. Empty passwords are refused.
 */
int	ldapdir_login(const char *user, const char *password, char *role_out,
	    size_t len, char **cause);

/* RFC 4515 value escaping: -1 when it does not fit. */
int	ldapdir_filter_escape(const char *in, char *out, size_t len);
/* tmpl with every %s replaced by the escaped value; -1 when too long. */
int	ldapdir_filter_build(const char *tmpl, const char *value, char *out,
	    size_t len);

/* Snapshot building, exposed for the tests. */
struct ldapdir_entry {
	char	 *dn;
	char	**addrs;	/* lower case, NULL-terminated */
	char	**members;	/* member DNs, NULL-terminated */
	char	**member_of;	/* memberOf DNs, NULL-terminated */
};
struct ldapdir_snap *ldapdir_snap_build(struct ldapdir_entry *, size_t n);
void	ldapdir_snap_free(struct ldapdir_snap *);
bool	ldapdir_snap_has(const struct ldapdir_snap *, const char *addr);
bool	ldapdir_snap_in_group(const struct ldapdir_snap *, const char *group,
	    const char *addr);
bool	ldapdir_snap_dn_in_group(const struct ldapdir_snap *,
	    const char *group, const char *dn);
size_t	ldapdir_snap_count(const struct ldapdir_snap *);
/* Tests: install a snapshot for a profile as loaded at loaded_ms (the
 * wall clock) and ok or failing refreshes; the clock; NULL resets. */
void	ldapdir_test_install(const char *profile, struct ldapdir_snap *,
	    int64_t loaded_ms, int64_t max_stale_ms);
void	ldapdir_set_clock(int64_t (*now_ms)(void));

#endif
