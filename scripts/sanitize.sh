#!/usr/bin/env bash
# Runs the threaded suites (SMP, hostile guests, teardown, embedding, gdb stub, run loop) under a
# sanitizer and fails if it reports anything, even when every test passes. Too slow for
# CI's `swift test --no-parallel` (a TSan build and run take several minutes); run it after
# touching threads, locks, kicks or teardown.
#
#   scripts/sanitize.sh thread             # ThreadSanitizer: data races, lock misuse
#   scripts/sanitize.sh address            # AddressSanitizer and LeakSanitizer
#   scripts/sanitize.sh thread 'SMPIntegration'   # another --filter
#
# Each sanitizer builds in its own scratch path (.build-tsan, .build-asan). Locks are
# `AnnotatedMutex`, which tells TSan what Synchronization's uninstrumented slow path hides,
# so TSan needs no suppressions and gets none.
set -euo pipefail
cd "$(dirname "$0")/.."
sanitizer=${1:-}
filter=${2:-'AnnotatedMutex|HostileGuest|SMPIntegration|Teardown|Embedding|GDB|RunLoop'}
case $sanitizer in
    thread)
        scratch=.build-tsan
        report='WARNING: ThreadSanitizer'
        # A failed test's process keeps running; report every race, not only the first.
        export TSAN_OPTIONS="halt_on_error=0 ${TSAN_OPTIONS:-}"
        ;;
    address)
        scratch=.build-asan
        report='ERROR: (Address|Leak)Sanitizer'
        # LeakSanitizer on, less the leaks of the toolchain's libraries listed in
        # lsan-suppressions.txt (Foundation's Process.run leaks in build-guest, which the
        # GuestBuilder plugin runs during the build, and in the tests' subprocess helpers).
        export ASAN_OPTIONS="detect_leaks=1 ${ASAN_OPTIONS:-}"
        export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan-suppressions.txt ${LSAN_OPTIONS:-}"
        ;;
    *)
        echo "usage: $0 thread|address [TEST-FILTER]" >&2
        exit 2
        ;;
esac

mkdir -p "$scratch"
log="$scratch/sanitize-$sanitizer.log"
status=0
swift test --sanitize="$sanitizer" --scratch-path "$scratch" --no-parallel --filter "$filter" >"$log" 2>&1 || status=$?

reports=$(grep -cE "$report" "$log" || true)
summary=$(grep -E "Test run with [0-9]+ tests? .*(passed|failed)" "$log" | tail -1 || true)
echo "sanitizer: $sanitizer   filter: $filter   log: $log"
echo "tests: ${summary:-no Swift Testing summary (did the build fail?)}"
echo "sanitizer reports: $reports"
grep -E "^SUMMARY: (Thread|Address|Leak)Sanitizer" "$log" | sort | uniq -c | sort -rn | head -20 || true
if [ "$status" -ne 0 ] || [ "$reports" -ne 0 ] || [ -z "$summary" ]; then
    echo "FAILED (swift test exit status $status, $reports sanitizer reports)"
    exit 1
fi
echo "clean"
