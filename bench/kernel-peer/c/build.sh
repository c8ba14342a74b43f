#!/usr/bin/env bash
# Builds the C driver against an extracted linux-6.12 source tree.
#   build.sh KERNEL_DIR OUT_DIR
# Produces OUT_DIR/kernel-peer-driver. Nothing is written into KERNEL_DIR: the
# headers the radix-tree Makefile would generate go to OUT_DIR/generated.
set -euo pipefail
K=$(cd "$1" && pwd)
OUT=$2
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CC=${CC:-gcc}

for f in lib/maple_tree.c include/linux/maple_tree.h tools/testing/shared/shared.h \
         tools/testing/shared/autoconf.h tools/include/linux/slab.h; do
  [ -f "$K/$f" ] || { echo "build.sh: $K/$f is missing (not a linux-6.12 tree?)" >&2; exit 1; }
done

mkdir -p "$OUT/generated"
# What tools/testing/shared/shared.mk generates for a 64-bit build.
echo '#define XA_CHUNK_SHIFT 3' > "$OUT/generated/map-shift.h"
echo '#define CONFIG_64BIT 1' > "$OUT/generated/bit-length.h"
cp "$K/tools/testing/shared/autoconf.h" "$OUT/generated/autoconf.h"

# -DCONFIG_64BIT=1: without it include/linux/maple_tree.h silently picks 32-slot
# leaves and 512-byte nodes (the driver also refuses to build or run unless a
# node is 256 bytes). CONFIG_DEBUG_MAPLE_TREE is left off, as in a production
# kernel. -fno-strict-aliasing as the kernel itself is built.
CFLAGS=(-O2 -g -fno-strict-aliasing -D_LGPL_SOURCE -DCONFIG_64BIT=1
        -I"$OUT" -I"$K/tools/testing/shared" -I"$K/tools/include" -I"$K/lib"
        -Wno-unused-function -Wno-unused-variable -Wno-unused-but-set-variable
        -Wno-address-of-packed-member -Wno-cpp)
"$CC" "${CFLAGS[@]}" -c "$HERE/driver.c" -o "$OUT/driver.o" 2> "$OUT/driver.log" || {
  cat "$OUT/driver.log" >&2; exit 1; }
"$CC" "${CFLAGS[@]}" -c "$HERE/kmem_shim.c" -o "$OUT/kmem_shim.o"
"$CC" -o "$OUT/kernel-peer-driver" "$OUT/driver.o" "$OUT/kmem_shim.o" -lurcu -lpthread
echo "built $OUT/kernel-peer-driver ($(grep -c warning "$OUT/driver.log" || true) warnings in driver.log)"
