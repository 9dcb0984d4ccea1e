#!/usr/bin/env bash
# Boots one test guest N times in a row and counts the runs that pass (by default debug-exit
# 0, status 1; -s sets the passing status, e.g. 0 for guests that power off through ACPI).
# For flaky-boot hunting: developers run 200, CI's test suite runs 5.
#
#   scripts/repeat-boot.sh [-n COUNT] [-g GUEST] [-s STATUS] [-- swiftvmm boot options...]
#   scripts/repeat-boot.sh -n 200 -g smp-timer -- --cpus 4
#   scripts/repeat-boot.sh -n 200 -g smp-timer -- --cpus 8 --irqchip kernel
#   scripts/repeat-boot.sh -n 200 -g hihalf-smp -s 0 -- --cpus 4
set -euo pipefail
cd "$(dirname "$0")/.."
count=200 guest=smp-timer pass_status=1
while getopts "n:g:s:" option; do
    case $option in
        n) count=$OPTARG ;;
        g) guest=$OPTARG ;;
        s) pass_status=$OPTARG ;;
        *) echo "usage: $0 [-n COUNT] [-g GUEST] [-s STATUS] [-- swiftvmm boot options]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift

swift build -c release --product swiftvmm >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
guests/build.sh -o "$work" "$guest" >/dev/null
kernel="$work/$guest.elf"

passed=0 failed=0
for run in $(seq 1 "$count"); do
    status=0
    .build/release/swiftvmm boot "$kernel" --timeout 60 --log-level error "$@" >"$work/run.log" 2>&1 || status=$?
    if [ "$status" -eq "$pass_status" ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "run $run: exit status $status" >&2
        cp "$work/run.log" "failed-run-$run.log"
    fi
done
echo "$guest $*: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
