#!/usr/bin/env bash
# Builds the firmware image: the engine modules and App/main.swift with Embedded Swift (the same
# sources as the host build), the start-up code with the cross gcc, the weight blob and test
# signal linked into flash.
#   bash Firmware-Sim/build.sh m4|m7|rv32 BLOB.clefw SIGNAL.sig OUT_DIR
#   bash Firmware-Sim/build.sh m4|m7|rv32 --kernel-check OUT_DIR     (App/kernel_check.c: the CLEFDSP
#                                                                      kernels against plain loops)
# Writes OUT_DIR/fw.elf and OUT_DIR/fw.map (Swift objects are reused while the sources are unchanged). Needs gcc-arm-none-eabi + libnewlib-arm-none-eabi
# (m4, m7) or gcc-riscv64-unknown-elf + picolibc-riscv64-unknown-elf (rv32).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"; root="$(dirname "$here")"
target=$1
if [ "$2" = --kernel-check ]; then check=1; out=$(mkdir -p "$3" && realpath "$3")
else check=0; blob=$(realpath "$2"); signal=$(realpath "$3"); out=$(mkdir -p "$4" && realpath "$4"); fi
case $target in
  m4) triple=armv7em-none-none-eabi; swiftcpu=(-target-cpu cortex-m4 -Xcc -mfloat-abi=hard -Xcc -mfpu=fpv4-sp-d16)
      cc=arm-none-eabi-gcc; ccflags=(-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -fshort-enums)
      ld=(--specs=nano.specs --specs=nosys.specs -T "$here/support/mps2.ld"
          -Wl,--defsym=__aeabi_h2f=__gnu_h2f_ieee -Wl,--defsym=__aeabi_f2h=__gnu_f2h_ieee); start=cortexm.c ;;
  m7) triple=armv7em-none-none-eabi; swiftcpu=(-target-cpu cortex-m7 -Xcc -mfloat-abi=hard -Xcc -mfpu=fpv5-d16)
      cc=arm-none-eabi-gcc; ccflags=(-mcpu=cortex-m7 -mthumb -mfloat-abi=hard -mfpu=fpv5-d16 -fshort-enums)
      ld=(--specs=nano.specs --specs=nosys.specs -T "$here/support/mps2.ld" -Wl,--defsym=__psram_base=0x60000000
          -Wl,--defsym=__aeabi_h2f=__gnu_h2f_ieee -Wl,--defsym=__aeabi_f2h=__gnu_f2h_ieee); start=cortexm.c ;;
  rv32) triple=riscv32-none-none-eabi; swiftcpu=(-Xcc -march=rv32imac_zicsr -Xcc -mabi=ilp32)
      cc=riscv64-unknown-elf-gcc; ccflags=(-march=rv32imac -mabi=ilp32 -mcmodel=medany --specs=picolibc.specs)
      ld=(-T "$here/support/virt.ld"); start=riscv.c ;;
  *) echo "build.sh: target must be m4, m7 or rv32" >&2; exit 2 ;;
esac
if [ $check = 1 ]; then
  # The kernel check: C only (start-up, support, CLEFDSP, App/kernel_check.c), no blob or signal.
  for f in "$here/support/common.c" "$root/Sources/CLEFDSP/dsp.c" "$root/Sources/CLEFDSP/stage.c" "$here/support/$start" "$here/App/kernel_check.c"; do
    $cc "${ccflags[@]}" -O2 -ffunction-sections -I "$here/support/include" -I "$root/Sources/CLEFDSP/include" \
      -c "$f" -o "$out/$(basename "$f" .c).o"
  done
  $cc "${ccflags[@]}" -nostartfiles -Wl,--gc-sections -Wl,-Map="$out/fw.map" "${ld[@]}" \
    "$out/${start%.c}.o" "$out/common.o" "$out/dsp.o" "$out/stage.o" "$out/kernel_check.o" -lm -o "$out/fw.elf"
  echo "$out/fw.elf"
  exit 0
fi
modules=(CLEFArch CLEFKernels CLEFFloat CLEFBlob CLEFQuant CLEFEngine CLEFSignal CLEFStream)
objs=(); for m in "${modules[@]}"; do objs+=("$out/$m.o"); done
# The Swift objects depend on the sources only: rebuilt when a source is newer than the stamp
# (so one target's code links with several blobs and signals).
stamp="$out/.swift-$target"
if [ ! -f "$stamp" ] || [ "$here/build.sh" -nt "$stamp" ] \
   || [ -n "$(find "$root/Sources" "$here/App" "$here/support/include" -newer "$stamp" \( -name '*.swift' -o -name '*.h' \) | head -1)" ]; then
  for m in "${modules[@]}"; do
    # The same optimisation as the host's release build (Package.swift: -Ounchecked for the
    # engine modules, -O for CLEFArch): the kernels' index arithmetic carries no overflow traps.
    opt=-Ounchecked; [ "$m" = CLEFArch ] && opt=-O
    swiftc -enable-experimental-feature Embedded -wmo -parse-as-library $opt -target $triple "${swiftcpu[@]}" \
      -Xcc -fno-pic -Xfrontend -disable-stack-protector -Xfrontend -function-sections -I "$out" \
      -I "$root/Sources/CLEFDSP/include" -module-name "$m" -emit-module -emit-module-path "$out/$m.swiftmodule" -c "$root"/Sources/"$m"/*.swift -o "$out/$m.o"
  done
  swiftc -enable-experimental-feature Embedded -wmo -parse-as-library -O -target $triple "${swiftcpu[@]}" \
    -Xcc -fno-pic -Xfrontend -disable-stack-protector -Xfrontend -function-sections -I "$out" -I "$here/support/include" \
    -I "$root/Sources/CLEFDSP/include" \
    -module-name Firmware -c "$here/App/main.swift" -o "$out/Firmware.o"
  touch "$stamp"
fi
cat > "$out/payload.S" <<ASM
  .section .fw_payload, "a"
  .balign 16
  .global fw_blob_start, fw_blob_end, fw_signal_start, fw_signal_end
fw_blob_start: .incbin "$blob"
fw_blob_end:
  .balign 16
fw_signal_start: .incbin "$signal"
fw_signal_end:
ASM
$cc "${ccflags[@]}" -O2 -ffunction-sections -c "$here/support/common.c" -o "$out/common.o"
for f in dsp stage tables; do
  $cc "${ccflags[@]}" -O2 -ffunction-sections -I "$root/Sources/CLEFDSP/include" -c "$root/Sources/CLEFDSP/$f.c" -o "$out/$f.o"
done
$cc "${ccflags[@]}" -O2 -ffunction-sections -c "$here/support/$start" -o "$out/start.o"
$cc "${ccflags[@]}" -c "$out/payload.S" -o "$out/payload.o"
extra=()
if [ $target = rv32 ]; then
  $cc "${ccflags[@]}" -O2 -c "$here/support/half.c" -o "$out/half.o"; extra+=("$out/half.o")
fi
$cc "${ccflags[@]}" -nostartfiles -Wl,--gc-sections -Wl,-Map="$out/fw.map" "${ld[@]}" \
  "$out/start.o" "$out/common.o" "$out/dsp.o" "$out/stage.o" "$out/tables.o" "$out/Firmware.o" "${objs[@]}" "$out/payload.o" "${extra[@]}" \
  -lm -o "$out/fw.elf"
echo "$out/fw.elf"
