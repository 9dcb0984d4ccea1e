#!/usr/bin/env bash
# Builds the DocC documentation of the library: the catalog (Sources/SwiftVMM/SwiftVMM.docc)
# and every layer's target, combined into one archive, so the articles' links reach the
# symbols of the layers SwiftVMM re-exports (written ``/SwiftVMMKVM/KVM``).
#   scripts/docs.sh [extra swift-docc-plugin options, e.g. --warnings-as-errors]
set -euo pipefail
cd "$(dirname "$0")/.."
targets=()
for target in SwiftVMMSupport SwiftVMMPlatform SwiftVMMMemory SwiftVMMKVM SwiftVMMDevices SwiftVMMBoot SwiftVMMDebug SwiftVMM; do
    targets+=(--target "$target")
done
swift package --disable-sandbox generate-documentation --enable-experimental-combined-documentation "${targets[@]}" "$@"
