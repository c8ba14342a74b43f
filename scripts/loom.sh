#!/usr/bin/env bash
# Loom model checking: the shared tree (one writer, one or two lock-free readers, through
# splits, rebalances, spanning stores, root growth and shrink, reuse of reclaimed node frames)
# and the per-VMA lock protocol.
# Built with --cfg loom in its own target directory, so it does not disturb normal builds.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="--cfg loom"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/loom"
cargo test --release -p maple-tree --test loom_tree
cargo test --release -p maple-mm --test loom_lock
