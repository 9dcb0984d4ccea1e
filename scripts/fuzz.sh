#!/usr/bin/env bash
# Builds SwiftVMM's libFuzzer targets (Fuzz/) with AddressSanitizer, beside the normal build,
# and runs each for a time budget from its committed seed corpus.
#
#   scripts/fuzz.sh [-t SECONDS_PER_TARGET] [TARGET...]      (default 60 s; FuzzLoaders FuzzDevices FuzzGRUBDisc)
#
# New inputs go to Fuzz/.work/corpus-TARGET (not committed); a crash leaves crash-* files in
# Fuzz/.work and makes the script exit 1. Prints executions and coverage per target.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=60
while getopts t: opt; do
  case $opt in
    t) seconds=$OPTARG ;;
    *) echo "usage: $0 [-t SECONDS] [TARGET...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(FuzzLoaders FuzzDevices FuzzGRUBDisc)

swift build --package-path Fuzz --scratch-path Fuzz/.build \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld 2>&1 | grep -E "error|warning: unre|Compiling|Build" | tail -3
bin=$(swift build --package-path Fuzz --scratch-path Fuzz/.build --show-bin-path)

# A Swift trap then prints its message (e.g. "Fatal error: ...") instead of the runtime's
# backtracer reading the stack, which AddressSanitizer reports as an error of its own.
export SWIFT_BACKTRACE=enable=no
status=0
mkdir -p Fuzz/.work
for target in "${targets[@]}"; do
  seeds=Fuzz/corpus/$(echo "$target" | sed 's/^Fuzz//' | tr 'A-Z' 'a-z')
  work=Fuzz/.work/corpus-$target
  mkdir -p "$work"
  echo "== $target: $seconds s from $seeds"
  (cd Fuzz/.work && "$bin/$target" -max_total_time="$seconds" -max_len=131072 -timeout=10 \
     -print_final_stats=1 "$PWD/../../$work" "$PWD/../../$seeds" 2>&1 \
     | grep -E "^#[0-9]+[[:space:]]+DONE|^stat::number_of_executed_units|^stat::peak_rss|ERROR|SUMMARY|Fatal error|Test unit written") || true
  if compgen -G "Fuzz/.work/crash-*" >/dev/null || compgen -G "Fuzz/.work/leak-*" >/dev/null \
     || compgen -G "Fuzz/.work/timeout-*" >/dev/null; then
    echo "$target: FOUND A PROBLEM (Fuzz/.work/crash-*, leak-*, timeout-*)"
    status=1
  fi
done
exit $status
