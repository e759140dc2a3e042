#!/bin/sh
# Cross-validate the Bayes filter (and the rules, when the rule engine is
# in the tree) on a corpus folder holding ham/ and spam/:
#   sh tests/quality/bayes_cv.sh [options] CORPUS
# Options: -k folds (5), -t threshold (5.0), -r rules (file or folder,
# repeatable; default rules.d/spam when it exists), -s (parameter sweep),
# -v (list misses and false positives).
# Builds build/bayes_cv from the daemon's release objects, then runs it.
set -eu
cd "$(dirname "$0")/../.."

objs=""
for c in daemon/*.c shared/*.c; do
	case "$c" in daemon/moatd.c) continue ;; esac
	objs="$objs build/obj/${c%.c}.o"
done
# The daemon's objects in an archive: the link takes the ones the harness
# needs (MIME, Bayes, the rule engine), so a module that does not build
# right now only matters when it is one of them.
# shellcheck disable=SC2086
make -s -k $objs >&2 || echo "bayes_cv: some daemon objects did not build" >&2
have=""
for o in $objs; do
	[ -f "$o" ] && have="$have $o"
done
rm -f build/obj/libmoat-quality.a
# shellcheck disable=SC2086
ar rcs build/obj/libmoat-quality.a $have

defs=""
rules=""
if [ -f daemon/sarule.h ]; then
	defs="-DHAVE_SARULE"
	ls rules.d/spam/*.cf >/dev/null 2>&1 && rules="-r rules.d/spam"
fi
for a in "$@"; do
	[ "$a" = "-r" ] && rules=""
done
pkgs=$(sed -n 's/^PKGS[[:space:]]*=[[:space:]]*//p' Makefile)
mkdir -p build/obj/tests/quality
# shellcheck disable=SC2086
cc -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Ishared -Idaemon \
    $(pkg-config --cflags $pkgs) $defs -pthread \
    -c -o build/obj/tests/quality/bayes_cv.o tests/quality/bayes_cv.c
# shellcheck disable=SC2086
cc -pthread -o build/bayes_cv build/obj/tests/quality/bayes_cv.o \
    build/obj/libmoat-quality.a $(pkg-config --libs $pkgs) -lm

# shellcheck disable=SC2086
exec build/bayes_cv $rules "$@"
