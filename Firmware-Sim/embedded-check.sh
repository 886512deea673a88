#!/usr/bin/env bash
# Compiles the engine modules with Embedded Swift for Cortex-M (armv7em) and RV32, in dependency
# order, from the same sources as the host build: the guard that they stay Embedded-Swift-clean
# (no Foundation, no existentials, no untyped throws). Objects go to a temporary folder.
#   bash Firmware-Sim/embedded-check.sh [armv7em-none-none-eabi|riscv32-none-none-eabi ...]
set -euo pipefail
cd "$(dirname "$0")/.."
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(armv7em-none-none-eabi riscv32-none-none-eabi)
modules=(CLEFArch CLEFKernels CLEFFloat CLEFBlob CLEFQuant CLEFEngine CLEFSignal CLEFStream)
for t in "${targets[@]}"; do
  out=$(mktemp -d)
  for m in "${modules[@]}"; do
    swiftc -enable-experimental-feature Embedded -wmo -parse-as-library -Osize -target "$t" -I "$out" -I Sources/CLEFDSP/include \
      -module-name "$m" -emit-module -emit-module-path "$out/$m.swiftmodule" -c Sources/"$m"/*.swift -o "$out/$m.o"
  done
  printf '%s: %s\n' "$t" "$(cd "$out" && for m in "${modules[@]}"; do printf '%s %s B, ' "$m" "$(stat -c %s "$m.o")"; done)"
  rm -rf "$out"
done
echo "embedded build ok"
