#!/bin/sh
# Anti-virus and attachment-facts cost per message on a corpus:
#   sh tests/quality/av_cost.sh [-s SIGS] [-y SYSTEM_DB] [-T TMPDIR] [-t THREADS]
#       [-n MAX_FILES] CORPUS...
# SIGS defaults to rules.d/clamav (our own signatures); -y adds a ClamAV
# database folder (e.g. /var/lib/clamav) to measure with the full set.
# Builds build/av_cost from the release objects of the modules it needs,
# then runs it.
set -eu
cd "$(dirname "$0")/../.."

objs=""
for c in daemon/av.c daemon/archlist.c daemon/attach.c daemon/cfg.c \
    daemon/filter_attachments.c daemon/filter_clamav.c daemon/finding.c \
    daemon/mime*.c daemon/msg.c daemon/psl.c shared/*.c; do
	objs="$objs build/obj/${c%.c}.o"
done
# shellcheck disable=SC2086
make -s $objs >&2

pkgs=$(sed -n 's/^PKGS[[:space:]]*=[[:space:]]*//p' Makefile)
mkdir -p build/obj/tests/quality
# shellcheck disable=SC2086
cc -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Ishared -Idaemon \
    $(pkg-config --cflags $pkgs) -pthread \
    -c -o build/obj/tests/quality/av_cost.o tests/quality/av_cost.c
# shellcheck disable=SC2086
cc -pthread -o build/av_cost build/obj/tests/quality/av_cost.o $objs \
    $(pkg-config --libs $pkgs) -lm

exec build/av_cost "$@"
