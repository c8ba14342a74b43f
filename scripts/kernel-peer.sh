#!/usr/bin/env bash
# The kernel's own maple tree as a peer (bench/kernel-peer/README.md).
#
#   scripts/kernel-peer.sh [--quick] [--out DIR] [other kernel-peer options]
#
# 1. installs linux-source-6.12, liburcu-dev and gcc with apt-get if missing (needs root);
# 2. extracts the parts of the kernel source the build reads into
#    target/kernel-peer/linux-<version>/ unless already there (the source is used at run
#    time only and never enters the repository);
# 3. builds the C driver with gcc -O2 (bench/kernel-peer/c/build.sh) unless it is up to date;
# 4. builds and runs the orchestrator, which alternates C and Rust rounds, checks that both
#    sides return the same checksums and writes a table and CSV files to --out
#    (default target/kernel-peer/results).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Paths given on the command line stay relative to where the script was called from.
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
[ "${TARGET#/}" = "$TARGET" ] && TARGET=$PWD/$TARGET
KP=$TARGET/kernel-peer

need=()
[ -f /usr/src/linux-source-6.12.tar.xz ] || need+=(linux-source-6.12)
[ -f /usr/include/x86_64-linux-gnu/urcu.h ] || [ -f /usr/include/urcu.h ] || need+=(liburcu-dev)
command -v gcc >/dev/null || need+=(gcc)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "kernel-peer: need ${need[*]}: run as root or install them (apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "kernel-peer: installing ${need[*]}" >&2
  # linux-source-6.12 comes from bookworm-security (or bookworm-backports) on Debian 12.
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
fi

VERSION=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null | sed 's/-.*//')
[ -n "$VERSION" ] || VERSION=6.12
KDIR=$KP/linux-$VERSION
if [ ! -f "$KDIR/lib/maple_tree.c" ] || [ ! -f "$KDIR/.extracted" ]; then
  echo "kernel-peer: extracting linux-source-6.12 ($VERSION) into $KDIR" >&2
  rm -rf "$KDIR"
  mkdir -p "$KP"
  # Only what lib/maple_tree.c and the tools/testing shims include.
  tar -xJf /usr/src/linux-source-6.12.tar.xz -C "$KP" \
    --transform "s,^linux-source-6.12,linux-$VERSION," --wildcards \
    'linux-source-6.12/include/*' \
    'linux-source-6.12/lib/maple_tree.c' \
    'linux-source-6.12/tools/include/*' \
    'linux-source-6.12/tools/arch/x86/include/*' \
    'linux-source-6.12/tools/testing/shared/*' \
    'linux-source-6.12/tools/testing/radix-tree/*'
  touch "$KDIR/.extracted"
fi

DRIVER=$KP/build/kernel-peer-driver
if [ ! -x "$DRIVER" ] || [ -n "$(find "$ROOT/bench/kernel-peer/c" -newer "$DRIVER" -type f)" ]; then
  bash "$ROOT/bench/kernel-peer/c/build.sh" "$KDIR" "$KP/build" >&2
fi

cargo build --release -q -p kernel-peer --manifest-path "$ROOT/Cargo.toml"
exec "$TARGET/release/kernel-peer" --driver "$DRIVER" --kernel "$KDIR" "$@"
