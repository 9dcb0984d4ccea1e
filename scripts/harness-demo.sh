#!/usr/bin/env bash
# Runs the project's guest suite (guests/suite.json) and a 50-case manifest through
# `swiftvmm test`: in parallel, with JUnit XML, serial logs, and as shards that together
# run every case once. Prints each command's summary line and wall time.
#
#   scripts/harness-demo.sh [-j JOBS] [-c debug|release]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc) configuration=debug
while getopts "j:c:" option; do
    case $option in
        j) jobs=$OPTARG ;;
        c) configuration=$OPTARG ;;
        *) echo "usage: $0 [-j JOBS] [-c debug|release]" >&2; exit 2 ;;
    esac
done

swift build -c "$configuration" --product swiftvmm >/dev/null
swift build -c "$configuration" --product swiftvmm-test >/dev/null
swiftvmm=".build/$configuration/swiftvmm"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
kernels=$(grep -o '"kernel": "[^"]*"' guests/suite.json | sed 's/.*: "\(.*\)\.elf"/\1/' | sort -u)
# shellcheck disable=SC2086
guests/build.sh -o "$work/kernels" $kernels >/dev/null

timed() {
    local started=$EPOCHREALTIME status=0
    "$@" >"$work/out.txt" 2>/dev/null || status=$?
    printf "%s\n    exit %d, %.2f s: %s\n" "${*:2}" "$status" \
        "$(echo "$EPOCHREALTIME - $started" | bc)" "$(tail -n 1 "$work/out.txt")"
    [ "$status" -eq 0 ] || { cat "$work/out.txt"; exit "$status"; }
}

echo "guests/suite.json:"
timed "$swiftvmm" test guests/suite.json --kernel-dir "$work/kernels" --jobs "$jobs" \
    --junit "$work/suite.xml" --output "$work/suite-logs"

# 50 cases: ten quick kinds of boot, five of each.
kinds=(
    '"kernel": "hello.elf", "expect": ["^Hello, world!$"]'
    '"kernel": "hello-mb2.elf", "expect": ["^Hello from multiboot 2!$"]'
    '"kernel": "mbinfo.elf", "cmdline": "n", "expect": ["^cmdline=\\[n\\]$", "^done$"]'
    '"kernel": "power.elf", "cmdline": "acpi", "outcome": "powered-off"'
    '"kernel": "fault.elf", "expect": ["^about to fault$"], "outcome": "guest-fault"'
    '"kernel": "halt.elf", "cpus": 2, "outcome": "deadlock"'
    '"kernel": "msr-table.elf", "expect": ["^done$"]'
    '"kernel": "elf64entry.elf", "expect": ["^lma=1$", "^done$"]'
    '"kernel": "demo.elf", "cpus": 2, "expect": ["2 of 2 CPUs online"]'
    '"kernel": "power.elf", "cmdline": "kbd", "outcome": "reset"'
)
{
    printf '{"kernelDirectory": "kernels", "cases": [\n'
    for i in $(seq 0 49); do
        printf '  {"name": "case-%02d", %s, "timeout": 30}%s\n' "$i" "${kinds[$((i % 10))]}" "$([ "$i" -lt 49 ] && echo ,)"
    done
    printf ']}\n'
} >"$work/fifty.json"

echo "50-case manifest:"
timed "$swiftvmm" test "$work/fifty.json" --jobs "$jobs" --junit "$work/fifty.xml" --output "$work/fifty-logs"
timed "$swiftvmm" test "$work/fifty.json" --jobs 1
for shard in 1 2 3; do
    timed "$swiftvmm" test "$work/fifty.json" --jobs "$jobs" --shard "$shard/3" --junit "$work/shard$shard.xml"
done
echo "JUnit test cases: all $(grep -c '<testcase ' "$work/fifty.xml"), shards" \
    "$(cat "$work"/shard{1,2,3}.xml | grep -c '<testcase ')"
