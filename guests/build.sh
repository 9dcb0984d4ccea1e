#!/usr/bin/env bash
# Builds test guests exactly as the SwiftPM GuestBuilder plugin does.
#   guests/build.sh [-o OUTDIR] NAME...      (default OUTDIR: /tmp/guests-work)
# A guest NAME = every top-level .c/.S in guests/common/ plus every top-level .c/.S in
# guests/NAME/, compiled with the extra flags in guests/NAME/cflags if present, linked with
# guests/NAME/guest.ld if present, else guests/common/guest.ld.
# Writes OUTDIR/NAME.elf (and OUTDIR/NAME32.elf, an ELF32 copy that QEMU's -kernel accepts
# for multiboot-1 guests).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out=/tmp/guests-work
if [[ "${1:-}" == "-o" ]]; then out="$2"; shift 2; fi
if [[ $# -eq 0 ]]; then
    echo "usage: $0 [-o OUTDIR] NAME..." >&2
    exit 2
fi

cflags=(--target=x86_64-unknown-none-elf -ffreestanding -fno-stack-protector -fno-pic
        -mno-red-zone -mgeneral-regs-only -nostdlib -O2 -Wall -Werror -std=c11)
common="$here/common"
mkdir -p "$out"

for name in "$@"; do
    own="$here/$name"
    [[ -d "$own" ]] || { echo "no guest folder $own" >&2; exit 1; }
    objdir="$out/obj-$name"
    rm -rf "$objdir"; mkdir -p "$objdir"
    objects=()
    own_flags=()
    if [[ -f "$own/cflags" ]]; then read -r -d '' -a own_flags < "$own/cflags" || true; fi
    shopt -s nullglob
    # The plugin names objects NAME-<file name>.o in one folder: a file name used in both
    # common/ and NAME/ would collide there, so refuse it here too.
    dups=$(for f in "$common"/*.c "$common"/*.S "$own"/*.c "$own"/*.S; do basename "$f"; done | sort | uniq -d)
    [[ -z "$dups" ]] || { echo "$name: file names in both common/ and $name/: $dups" >&2; exit 1; }
    for src in "$common"/*.c "$common"/*.S "$own"/*.c "$own"/*.S; do
        obj="$objdir/$name-$(basename "$src").o"
        clang "${cflags[@]}" "${own_flags[@]}" -I "$common" -I "$own" -c "$src" -o "$obj"
        objects+=("$obj")
    done
    shopt -u nullglob
    script="$common/guest.ld"
    [[ -f "$own/guest.ld" ]] && script="$own/guest.ld"
    ld.lld -T "$script" -nostdlib -z max-page-size=4096 --no-pie -o "$out/$name.elf" "${objects[@]}"
    llvm-objcopy -O elf32-i386 "$out/$name.elf" "$out/${name}32.elf"
    echo "built $out/$name.elf"
done
