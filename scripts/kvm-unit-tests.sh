#!/usr/bin/env bash
# Runs kvm-unit-tests' x86_64 default set through its own runner (run_tests.sh) with
# swiftvmm standing in for qemu-system-x86_64, and, where QEMU is installed, with QEMU+KVM
# in the same run; writes the table to CONFORMANCE.md (or $OUT).
#
#   scripts/kvm-unit-tests.sh KUT_DIR [TEST...]
#
# KUT_DIR is a kvm-unit-tests checkout built for x86_64 (./configure && make); the project
# does not vendor it. TEST names entries of x86/unittests.cfg (default: the whole default
# set, `run_tests.sh -l`). Environment: TIMEOUT (per test, default 600s), QEMU_BIN (the
# QEMU to compare with, default qemu-system-x86_64 on PATH; QEMU_BIN=none skips it), OUT,
# QEMU_MAX_CPU (what the QEMU column runs where a test asks for `-cpu max`, default
# `host,-arch-capabilities`: Debian's QEMU 7.2 aborts with `-cpu max` on kvm_pvm hosts;
# empty keeps `max`).
# Not run in CI (the suite is not in the repository); rerun when the APIC, MSR, I/O APIC,
# PIT or CPUID code changes, and commit the table. The host causes of failures that are
# not SwiftVMM's (scripts/kvm-unit-tests-notes.md) are appended to it.
set -euo pipefail

usage() { echo "usage: $0 KUT_DIR [TEST...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
kut=$(cd "$1" && pwd) || usage
shift
[ -x "$kut/run_tests.sh" ] && [ -f "$kut/config.mak" ] || {
    echo "$0: $kut is not a built kvm-unit-tests checkout (run ./configure && make there)" >&2; exit 2; }
project=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$project/CONFORMANCE.md}
timeout=${TIMEOUT:-600s}
qemu=${QEMU_BIN:-$(command -v qemu-system-x86_64 || true)}
[ "$qemu" = none ] && qemu=""

swift build -c release --product swiftvmm --package-path "$project" >&2
bin=$(mktemp -d)
results=$(mktemp -d)
trap 'rm -rf "$bin" "$results"' EXIT
# kvm-unit-tests finds QEMU by asking `$QEMU --help` for "QEMU"; swiftvmm speaks QEMU's
# command line when its program name is qemu-system-x86_64.
ln -s "$project/.build/release/swiftvmm" "$bin/qemu-system-x86_64"
max_cpu=${QEMU_MAX_CPU-host,-arch-capabilities}
if [ -n "$qemu" ] && [ -n "$max_cpu" ]; then
    # The QEMU column: `-cpu max[,…]` becomes `-cpu $max_cpu[,…]`, everything else as given.
    mkdir "$bin/qemu"
    cat > "$bin/qemu/qemu-system-x86_64" <<WRAPPER
#!/usr/bin/env bash
args=()
previous=
for arg in "\$@"; do
    if [ "\$previous" = -cpu ]; then
        case "\$arg" in max) arg='$max_cpu' ;; max,*) arg='$max_cpu',"\${arg#max,}" ;; esac
    fi
    args+=("\$arg")
    previous=\$arg
done
exec '$qemu' "\${args[@]}"
WRAPPER
    chmod +x "$bin/qemu/qemu-system-x86_64"
    qemu_run=$bin/qemu/qemu-system-x86_64
else
    qemu_run=$qemu
fi

cd "$kut"
if [ $# -gt 0 ]; then tests=("$@"); else mapfile -t tests < <(./run_tests.sh -l); fi

# run VMM TEST: one line "RESULT SECONDS DETAIL" in $results/VMM.TEST, the log beside it.
run() {
    local vmm=$1 test=$2 binary start line
    binary=$([ "$vmm" = swiftvmm ] && echo "$bin/qemu-system-x86_64" || echo "$qemu_run")
    start=$(date +%s.%N)
    line=$(QEMU=$binary ACCEL=kvm TIMEOUT=$timeout ./run_tests.sh "$test" 2>&1 | sed 's/\x1b\[[0-9;]*m//g' | tail -1)
    printf '%s %s %s\n' "${line%% *}" "$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')" \
        "${line#* }" > "$results/$vmm.$test"
    cp "logs/$test.log" "$results/$vmm.$test.log" 2>/dev/null || : > "$results/$vmm.$test.log"
    echo "$vmm $test: $(cat "$results/$vmm.$test")" >&2
}

for test in "${tests[@]}"; do
    run swiftvmm "$test"
    [ -n "$qemu" ] && run qemu "$test"
done

cell() { [ -f "$results/$1.$2" ] && awk '{print $1 " | " $2 " s"}' "$results/$1.$2" || echo "— | —"; }
# The sub-tests that failed or were skipped, indented under the runner's line (none: nothing).
failures() { grep -aE '^(FAIL|SKIP)' "$results/$1.$2.log" 2>/dev/null | sed 's/^/    - /' | head -40 || true; }

{
    echo "# Conformance: kvm-unit-tests"
    echo
    echo "Written by \`scripts/kvm-unit-tests.sh\` on $(date -u +%Y-%m-%d): kvm-unit-tests $(git -C "$kut" rev-parse --short HEAD 2>/dev/null || echo '(not a git checkout)')"
    echo "run by its own \`run_tests.sh\` (TIMEOUT=$timeout) with SwiftVMM $(git -C "$project" rev-parse --short HEAD) as"
    echo "qemu-system-x86_64${qemu:+, then with $("$qemu" --version | head -1) (KVM, in-kernel irqchip${max_cpu:+; \`-cpu $max_cpu\` where a test asks for \`-cpu max\`}), test by test}."
    echo
    echo "Host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs, Linux $(uname -r),"
    echo "KVM modules: $(ls /sys/module | grep -E '^kvm' | paste -sd, - || true)."
    echo
    echo "| test | SwiftVMM | time | QEMU+KVM | time |"
    echo "|---|---|---|---|---|"
    for test in "${tests[@]}"; do
        echo "| $test | $(cell swiftvmm "$test") | $(cell qemu "$test") |"
    done
    echo
    echo "## Runner lines and failing sub-tests"
    for test in "${tests[@]}"; do
        echo
        echo "### $test"
        for vmm in swiftvmm qemu; do
            [ -f "$results/$vmm.$test" ] || continue
            echo
            echo "- $vmm: $(cut -d' ' -f1,3- "$results/$vmm.$test")"
            failures "$vmm" "$test"
        done
    done
    if [ -f "$project/scripts/kvm-unit-tests-notes.md" ]; then
        echo
        cat "$project/scripts/kvm-unit-tests-notes.md"
    fi
} > "$out"
echo "wrote $out" >&2
