#!/usr/bin/env bash
# Boots one test guest N times in a row and counts the runs that pass: debug-exit 0
# (status 1) or ACPI power-off (status 0, guests that shut down like hihalf-smp).
# For flaky-boot hunting: developers run 200, CI's test suite runs 5.
#
#   scripts/repeat-boot.sh [-n COUNT] [-g GUEST] [-- swiftvmm boot options...]
#   scripts/repeat-boot.sh -n 200 -g smp-timer -- --cpus 4
#   scripts/repeat-boot.sh -n 200 -g smp-timer -- --cpus 8 --irqchip kernel
#   scripts/repeat-boot.sh -n 200 -g hihalf-smp -- --cpus 4
set -euo pipefail
cd "$(dirname "$0")/.."
count=200 guest=smp-timer
while getopts "n:g:" option; do
    case $option in
        n) count=$OPTARG ;;
        g) guest=$OPTARG ;;
        *) echo "usage: $0 [-n COUNT] [-g GUEST] [-- swiftvmm boot options]" >&2; exit 2 ;;
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
    if [ "$status" -eq 1 ] || [ "$status" -eq 0 ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "run $run: exit status $status" >&2
        cp "$work/run.log" "failed-run-$run.log"
    fi
done
echo "$guest $*: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
