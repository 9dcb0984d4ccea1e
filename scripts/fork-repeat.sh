#!/usr/bin/env bash
# Forks one snapshot of the snapshot-timers guest COUNT times, one fork at a time, through
# `swiftvmm test`, and prints the summary (the pass rate) and the wall time. The snapshot
# is taken where the guest writes the snapshot port right after READY, when each of the 4
# vCPUs has armed its timer (TSC-deadline or one-shot local APIC timer) and the boot CPU
# an HPET comparator; every fork must see each of those 5 timers fire exactly once, in
# deadline order, and find a scratch area that no earlier fork's writes reached (guests/README.md). Issue 22's "200/200 forked runs": developers
# run the default 200; the test suite's SnapshotIntegrationTests fork a few.
#
#   scripts/fork-repeat.sh [-n COUNT] [-c debug|release]
# (SwiftVMM's own irqchip: with --irqchip kernel the guest finds no I/O APIC input at 16 or
# above for HPET timer 2 and fails before READY.)
set -euo pipefail
cd "$(dirname "$0")/.."
count=200 configuration=release
while getopts "n:c:" option; do
    case $option in
        n) count=$OPTARG ;;
        c) configuration=$OPTARG ;;
        *) echo "usage: $0 [-n COUNT] [-c debug|release]" >&2; exit 2 ;;
    esac
done

swift build -c "$configuration" --product swiftvmm >/dev/null
swift build -c "$configuration" --product swiftvmm-test >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
guests/build.sh -o "$work" snapshot-timers >/dev/null
cat >"$work/forks.json" <<JSON
{ "kernelDirectory": "$work",
  "snapshot": { "kernel": "snapshot-timers.elf", "cpus": 4 },
  "cases": [ { "name": "timers", "input": "", "timeout": 20,
               "expect": ["^order( [0-9]+)+ ok$", "^fired 1 1 1 1 1 runs=1 scratch=clean$", "^snapshot-timers: PASS$"] } ] }
JSON
started=$EPOCHREALTIME
status=0
".build/$configuration/swiftvmm" test "$work/forks.json" --repeat "$count" --jobs 1 2>/dev/null || status=$?
printf "%d forks in %.1f s (exit %d)\n" "$count" "$(echo "$EPOCHREALTIME - $started" | bc)" "$status"
exit "$status"
