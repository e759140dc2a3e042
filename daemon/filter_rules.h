/*
 * The "rules" scan filter: SpamAssassin-syntax rules (daemon/sarule.h)
 * from rules.d/spam and, when asked, the system's SpamAssassin rules.
 * Each hit becomes a finding named after the rule, scored by the rule.
 * init/free on the loop thread; run on any worker thread.
 *
 * filters = { rules = { enabled = true;
 *     dirs = [ "rules.d/spam" ];     # default: <rules.dir>/spam
 *     system_rules = false;          # also load system_dir when present
 *     system_dir = "/usr/share/spamassassin";
 *     score_set = -1;                # SpamAssassin score set; -1: from
 *                                    # the filters on (bayes +2, dnsbl or
 *                                    # surbl +1)
 *     hyperscan = true;              # literal prefilter
 *     allow_broken = false; }; };    # broken rules in dirs fail the load
 */
#ifndef MOAT_FILTER_RULES_H
#define MOAT_FILTER_RULES_H

#include "scan.h"

#define FILTER_RULES_SYSTEM_DIR	"/usr/share/spamassassin"
#define FILTER_RULES_LOG_MAX	20	/* problem lines of each kind logged */

extern const struct scan_filter	filter_rules;

#endif
