#!/usr/bin/env bash
# Runs test guests under QEMU itself and under swiftvmm invoked as qemu-system-x86_64 (a
# symlink), with the same QEMU command line, and prints pass/fail side by side. A guest
# passes when it writes 0 to isa-debug-exit (exit status 1). Exits 1 if any guest's
# pass/fail differs, 0 if all agree; skips (status 77, reason printed) without QEMU.
#
#   scripts/qemu-compare.sh [SWIFTVMM]      (default: .build/debug/swiftvmm, built if missing)
#   QEMU_EXTRA="-bios /usr/share/qemu/qboot.rom" scripts/qemu-compare.sh   (more flags for QEMU only)
#
# QEMU gets the ELF32 copies guests/build.sh makes (its -kernel refuses ELF64 multiboot)
# and the flags Debian's QEMU 7.2 needs on the kvm_pvm host (-cpu host,-arch-capabilities;
# shared/PLATFORM-NOTES.md); it boots through SeaBIOS (a few seconds per guest) unless
# QEMU_EXTRA names another firmware. Timing guests (pic-pit, hpet-*, smp-timer) are left
# out: under a loaded host they fail on either by chance.
# Every guest here switches to 64-bit mode; a kernel that runs with 32-bit paging cannot
# run on a kvm_pvm host under either (PLATFORM-NOTES) and is not in the list.
set -uo pipefail
cd "$(dirname "$0")/.."

qemu=$(command -v qemu-system-x86_64) || { echo "qemu-compare: SKIPPED: qemu-system-x86_64 is not installed"; exit 77; }
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "qemu-compare: SKIPPED: needs read/write /dev/kvm"; exit 77; }
swiftvmm=${1:-.build/debug/swiftvmm}
[ -x "$swiftvmm" ] || swift build --product swiftvmm >/dev/null || exit 2
[ -n "${QEMU_EXTRA:-}" ] && echo "qemu-compare: QEMU also gets: $QEMU_EXTRA"
[ -d /sys/module/kvm_pvm ] && echo "qemu-compare: kvm_pvm host: kernels using 32-bit paging cannot run here (none below do)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ln -s "$(realpath "$swiftvmm")" "$work/qemu-system-x86_64"
guests/build.sh -o "$work" hello mbinfo demo fwcfg smp-broadcast smp-ipi cpuid-topology fault >/dev/null || exit 2
printf 'module one\n' >"$work/mod1.txt"

# guest | QEMU arguments after the common ones, shell-quoted ($work is the build folder)
cases=(
    "hello|"
    "mbinfo|-append hello -initrd \"\$work/mod1.txt first\""
    "demo|-smp 4"
    "fwcfg|-smp 2 -m 256 -append 'cpus=2 mem=256'"
    "fwcfg|-smp 4 -m 1G -append 'cpus=4 mem=1024'"
    "smp-broadcast|-smp 4"
    "smp-ipi|-smp 2"
    "cpuid-topology|-smp 2"
    "fault|"
)
common=(-enable-kvm -cpu host,-arch-capabilities -nographic -no-reboot
        -device isa-debug-exit,iobase=0xf4,iosize=4)

verdict() { [ "$1" -eq 1 ] && echo pass || echo "fail($1)"; }
differ=0
printf '%-16s %-32s %-10s %-10s %s\n' guest arguments qemu swiftvmm same
for entry in "${cases[@]}"; do
    guest=${entry%%|*}
    args=${entry#*|}
    eval "extra=($args)"
    kernel="$work/${guest}32.elf"
    # shellcheck disable=SC2086 # QEMU_EXTRA is split into words on purpose
    timeout 120 "$qemu" "${common[@]}" ${QEMU_EXTRA:-} "${extra[@]}" -kernel "$kernel" </dev/null >"$work/qemu.log" 2>&1
    q=$?
    timeout 120 "$work/qemu-system-x86_64" "${common[@]}" "${extra[@]}" -kernel "$kernel" </dev/null >"$work/swiftvmm.log" 2>&1
    s=$?
    qv=$(verdict $q) sv=$(verdict $s)
    same=yes
    [ "${qv%%(*}" = "${sv%%(*}" ] || { same=NO; differ=1; }
    printf '%-16s %-32s %-10s %-10s %s\n' "$guest" "${args:0:32}" "$qv" "$sv" "$same"
    if [ $same = NO ]; then
        echo "  qemu:";     tail -n 5 "$work/qemu.log" | sed 's/^/    /'
        echo "  swiftvmm:"; tail -n 5 "$work/swiftvmm.log" | sed 's/^/    /'
    fi
done
exit $differ
