#!/usr/bin/env python3
"""snapshot-flat: turns a SwiftVMM snapshot directory into the flat file bench/fork-floor.c
reads, so the C floor needs no JSON parser.
    bench/snapshot-flat.py SNAPDIR OUT

SNAPDIR holds `snapshot.json` and `ram` (`swiftvmm boot ... --snapshot-on RE --save SNAPDIR`).
Only `snapshot.json` (format version 3) is read here; fork-floor maps `ram` itself. In
`snapshot.json` each KVM structure is the struct's raw bytes as one lowercase hex string
(HexBytes.swift): the registers, the XSAVE area, the MSRs as struct kvm_msr_entry[] and each
vCPU's CPUID as struct kvm_cpuid_entry2[] (KVMState+Codable.swift, MachineSnapshot+File.swift).

Flat file format (all integers little-endian, the byte order of x86 and of the KVM structs):

    header:  8 bytes  magic "SVMFLAT1"
             u32      vCPU count N
             u32      0 (padding)
             u64      guest RAM size in bytes
    then N vCPU records, vCPU 0 first, each nine blobs in this order. A blob is
             u32      length in bytes
             bytes    the payload
    1. CPUID       struct kvm_cpuid_entry2[] (40 bytes each), this vCPU's leaves
    2. sregs       struct kvm_sregs (312 bytes)
    3. regs        struct kvm_regs (144 bytes)
    4. fpu state   struct kvm_xsave (4096 bytes) when the snapshot has an XSAVE area,
                   else struct kvm_fpu (416 bytes): the length says which
    5. xcrs        struct kvm_xcrs (392 bytes), or empty when the host had no KVM_CAP_XCRS
    6. debugregs   struct kvm_debugregs (128 bytes)
    7. MSRs        struct kvm_msr_entry[] (16 bytes each: u32 index, u32 0, u64 value),
                   in the snapshot's order (the TSC first, IA32_TSC_DEADLINE last)
    8. events      struct kvm_vcpu_events (64 bytes)
    9. mp_state    struct kvm_mp_state (4 bytes)

Left out on purpose: the TSC rate (SwiftVMM only reads it with KVM_GET_TSC_KHZ, to refuse
a snapshot from a host with another rate; it never sets it) and the XSAVE area's twin
kvm_fpu (the XSAVE area holds the same x87/SSE state). Snapshots taken with KVM's
in-kernel irqchip (a kvm_lapic_state per vCPU, irqchip and PIT state) are refused: the
floor builds a VM with SwiftVMM's userspace irqchip only. Python 3 standard library only.
"""
import json
import os
import struct
import sys

MAGIC = b"SVMFLAT1"
SIZES = {  # sizeof(struct) on x86-64, as <linux/kvm.h> and <asm/kvm.h> define them
    "specialRegisters": 312,
    "registers": 144,
    "fpu": 416,
    "extendedControlRegisters": 392,
    "debugRegisters": 128,
    "events": 64,
}
XSAVE_BYTES = 4096  # struct kvm_xsave { __u32 region[1024]; }


def fail(message):
    sys.exit(f"snapshot-flat: {message}")


def blob(payload):
    return struct.pack("<I", len(payload)) + payload


def struct_bytes(state, key):
    """The raw bytes of one hex-encoded KVM struct, checked against its size."""
    data = bytes.fromhex(state[key])
    if len(data) != SIZES[key]:
        fail(f"{key} is {len(data)} bytes, not {SIZES[key]}")
    return data


def cpuid_entries(leaves):
    # Already struct kvm_cpuid_entry2 { u32 function, index, flags, eax, ebx, ecx, edx, padding[3]; }[]
    data = bytes.fromhex(leaves)
    if len(data) % 40:
        fail(f"CPUID of {len(data)} bytes, not a whole number of 40-byte entries")
    return data


def vcpu_record(state, leaves):
    if state.get("localAPIC") is not None:
        fail("this snapshot has KVM's local APIC (--irqchip kernel); the floor reproduces the userspace irqchip only")
    xsave = state.get("xsave")
    if xsave is not None:
        fpu = bytes.fromhex(xsave)
        if len(fpu) != XSAVE_BYTES:
            fail(f"an XSAVE area of {len(fpu)} bytes, not {XSAVE_BYTES}")
    else:
        fpu = struct_bytes(state, "fpu")
    xcrs = struct_bytes(state, "extendedControlRegisters") if state.get("extendedControlRegisters") else b""
    msrs = bytes.fromhex(state["msrs"])  # already struct kvm_msr_entry[]
    if len(msrs) % 16:
        fail(f"MSRs of {len(msrs)} bytes, not a whole number of 16-byte entries")
    return b"".join([
        blob(cpuid_entries(leaves)),
        blob(struct_bytes(state, "specialRegisters")),
        blob(struct_bytes(state, "registers")),
        blob(fpu),
        blob(xcrs),
        blob(struct_bytes(state, "debugRegisters")),
        blob(msrs),
        blob(struct_bytes(state, "events")),
        blob(struct.pack("<I", state["multiprocessingState"])),
    ])


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: snapshot-flat.py SNAPDIR OUT")
    snapdir, out = sys.argv[1:]
    with open(os.path.join(snapdir, "snapshot.json"), "rb") as f:
        snapshot = json.load(f)
    if snapshot.get("format") != "swiftvmm-snapshot" or snapshot.get("version") != 3:
        fail(f"{snapdir} is not a SwiftVMM snapshot of format version 3")
    if snapshot["devices"].get("kernelIRQChip") is not None:
        fail("this snapshot has KVM's in-kernel irqchip; the floor reproduces the userspace irqchip only")
    vcpus, cpuid = snapshot["vcpus"], snapshot["cpuid"]
    if len(vcpus) != len(cpuid) or len(vcpus) != snapshot["shape"]["cpus"]:
        fail("its vCPUs and CPUID tables do not match its machine")
    data = MAGIC + struct.pack("<IIQ", len(vcpus), 0, snapshot["shape"]["memorySize"])
    data += b"".join(vcpu_record(v["state"], leaves) for v, leaves in zip(vcpus, cpuid))
    with open(out, "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
