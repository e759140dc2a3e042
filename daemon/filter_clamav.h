/*
 * The ClamAV scan filter: scans the raw message (libclamav's own mail
 * parser then walks its parts and archives) and every decoded attachment
 * of struct msg, with the engine of av.h. init/free on the loop thread, run
 * on any worker. Put libclamav's temporary files (tmpdir) on a tmpfs: each
 * scan makes a folder there, and on a disk that is most of the cost.
 *
 * Findings: VIRUS (findings->virus = the signature name), ENCRYPTED_ARCHIVE
 * or ENCRYPTED_DOCUMENT, AV_UNSCANNABLE (a limit stopped the scan),
 * AV_HEURISTIC (other Heuristics.* alerts), and AV_FAILED with
 * findings->av_failed = true when the scanner could not scan (the policy
 * answers 451: never a silent pass).
 */
#ifndef MOAT_FILTER_CLAMAV_H
#define MOAT_FILTER_CLAMAV_H

#include <stdbool.h>

#include "scan.h"

#define FILTER_CLAMAV_SIG_DIR		"clamav"	/* under rules.dir */
#define FILTER_CLAMAV_SYSTEM_DB		"/var/lib/clamav"
#define FILTER_CLAMAV_VIRUS_SCORE	0.0	/* policy acts on the virus */
#define FILTER_CLAMAV_ENCRYPTED_SCORE	1.0	/* as Proxmox */
#define FILTER_CLAMAV_UNSCANNABLE_SCORE	1.0
#define FILTER_CLAMAV_HEURISTIC_SCORE	3.0	/* Proxmox's default */

struct av;

extern const struct scan_filter	filter_clamav;

struct filter_clamav_state {
	struct av	*av;		/* reference */
	bool		 scan_parts;	/* also each decoded attachment */
	double		 virus_score;
	double		 encrypted_score;
	double		 unscannable_score;
	double		 heuristic_score;
};

#endif
