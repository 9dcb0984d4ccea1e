#!/bin/sh
# A test kernel's run script as it is written for QEMU: boot KERNEL with QEMU's flags and
# report PASS when the kernel writes 0 to isa-debug-exit (QEMU's exit status 1).
# Nothing in it knows about SwiftVMM; to run it on SwiftVMM, put swiftvmm in QEMU's place:
#
#   QEMU=qemu-system-x86_64 scripts/examples/run-qemu-style.sh /tmp/guests-work/fwcfg32.elf
#   ln -sf "$PWD/.build/debug/swiftvmm" /tmp/qemu-system-x86_64
#   QEMU=/tmp/qemu-system-x86_64 scripts/examples/run-qemu-style.sh /tmp/guests-work/fwcfg32.elf
#
# (guests/build.sh fwcfg makes fwcfg32.elf, the ELF32 copy QEMU's -kernel wants; the fwcfg
# guest checks -smp, -m and the command line through fw_cfg.) "-cpu host,-arch-capabilities"
# is what Debian's QEMU 7.2 needs on the kvm_pvm development host (shared/PLATFORM-NOTES.md).
QEMU=${QEMU:-qemu-system-x86_64}
kernel=${1:?usage: QEMU=... $0 KERNEL}

"$QEMU" -machine pc,accel=kvm -enable-kvm -cpu host,-arch-capabilities -smp 2 -m 256M \
    -nographic -serial mon:stdio -no-reboot -nodefaults -no-user-config \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
    -fw_cfg name=opt/run-script,string=qemu-style \
    -kernel "$kernel" -append "cpus=2 mem=256" </dev/null
status=$?
if [ "$status" -eq 1 ]; then
    echo "run-qemu-style: PASS"
    exit 0
fi
echo "run-qemu-style: FAIL (exit status $status)"
exit 1
