#!/bin/sh
# Runs the tests: every build/asan/unit/test_* binary (cmocka), then the
# end-to-end suite (pytest on tests/e2e with Debian's /usr/bin/python3).
#   run-tests.sh [unit|e2e|all]      (default all; build first: make build-test)
# Exits non-zero when anything fails. Ends with one line
# "total: N passed, N failed[, N skipped]" counting unit test cases and e2e
# tests; a unit binary that crashes or is missing counts as one failure.
# Extra pytest arguments: MOAT_PYTEST_ARGS (e.g. "-k smuggling -x").
set -u

mode=${1:-all}
case "$mode" in
unit|e2e|all) ;;
*)	echo "usage: $0 [unit|e2e|all]" >&2; exit 2 ;;
esac

cd "$(dirname "$0")/../.." || exit 2

# Unit tests: stop at the first error, report leaks as failures.
ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:abort_on_error=0:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS UBSAN_OPTIONS

out=$(mktemp)
trap 'rm -f "$out"' EXIT INT TERM

unit_pass=0 unit_fail=0 unit_failed=""
e2e_pass=0 e2e_fail=0 e2e_skip=0
status=0

count()		# count PATTERN FILE: the number in the cmocka summary line
{
	n=$(grep -E "$1" "$2" | tail -n 1 | sed -E 's/[^0-9]*([0-9]+).*/\1/')
	echo "${n:-0}"
}

run_unit()
{
	for src in tests/unit/test_*.c; do
		[ -e "$src" ] || continue
		name=$(basename "$src" .c)
		bin=build/asan/unit/$name
		if [ ! -x "$bin" ]; then
			echo "unit: $bin missing (run make build-test)"
			unit_fail=$((unit_fail + 1))
			unit_failed="$unit_failed $name"
			continue
		fi
		echo "unit: $bin"
		"$bin" >"$out" 2>&1
		rc=$?
		cat "$out"
		p=$(count '^\[  PASSED  \] [0-9]+ test' "$out")
		f=$(count '^\[  FAILED  \] [0-9]+ test' "$out")
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			f=1	# crashed, sanitizer, or leak at exit
		fi
		unit_pass=$((unit_pass + p))
		unit_fail=$((unit_fail + f))
		if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ]; then
			unit_failed="$unit_failed $name"
		fi
	done
	echo "unit: $unit_pass passed, $unit_fail failed${unit_failed:+ (failed:$unit_failed)}"
	[ "$unit_fail" -eq 0 ] || status=1
}

run_e2e()
{
	# The daemon's own sanitizer options are set by tests/e2e/conftest.py.
	rcfile=$(mktemp)
	# shellcheck disable=SC2086
	{ /usr/bin/python3 -m pytest -q -rfEs -p no:cacheprovider \
	    ${MOAT_PYTEST_ARGS:-} tests/e2e 2>&1; echo $? >"$rcfile"; } |
	    tee "$out"
	rc=$(cat "$rcfile")
	rm -f "$rcfile"
	summary=$(grep -E '^(=+ )?[0-9]+ (passed|failed|errors?|skipped|deselected)|no tests ran' "$out" | tail -n 1)
	e2e_pass=$(echo "$summary" | grep -Eo '[0-9]+ passed' | grep -Eo '[0-9]+')
	e2e_fail=$(echo "$summary" | grep -Eo '[0-9]+ failed' | grep -Eo '[0-9]+')
	e2e_err=$(echo "$summary" | grep -Eo '[0-9]+ errors?' | grep -Eo '[0-9]+')
	e2e_skip=$(echo "$summary" | grep -Eo '[0-9]+ skipped' | grep -Eo '[0-9]+')
	e2e_pass=${e2e_pass:-0}
	e2e_fail=$(( ${e2e_fail:-0} + ${e2e_err:-0} ))
	e2e_skip=${e2e_skip:-0}
	if [ "$rc" -eq 5 ] || [ "$e2e_pass" -eq 0 ]; then
		echo "e2e: no test ran (pytest exit $rc)"
		e2e_fail=$((e2e_fail + 1))
	elif [ "$rc" -ne 0 ] && [ "$e2e_fail" -eq 0 ]; then
		echo "e2e: pytest exit $rc"
		e2e_fail=1
	fi
	echo "e2e: $e2e_pass passed, $e2e_fail failed, $e2e_skip skipped"
	[ "$e2e_fail" -eq 0 ] || status=1
}

case "$mode" in
unit)	run_unit ;;
e2e)	run_e2e ;;
all)	run_unit; run_e2e ;;
esac

pass=$((unit_pass + e2e_pass))
fail=$((unit_fail + e2e_fail))
if [ "$e2e_skip" -gt 0 ]; then
	echo "total: $pass passed, $fail failed, $e2e_skip skipped"
else
	echo "total: $pass passed, $fail failed"
fi
exit "$status"
