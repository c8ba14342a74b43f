#!/usr/bin/env bash
# Memory-safety checks: Miri over the reduced suite (the `miri_` tests of maple-tree), and
# the multi-threaded stress and failure-injection tests under valgrind.
# Usage: scripts/memcheck.sh [miri|valgrind|all]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}

if [[ $what == miri || $what == all ]]; then
  rustup toolchain install nightly --profile minimal --component miri,rust-src >/dev/null
  cargo +nightly miri setup >/dev/null
  # The owned tree under Miri's default model (Stacked Borrows), `Box` entries included: every
  # write path, every read path, dup, clone, dup_map, splitting stores, the collection API.
  cargo +nightly miri test -p maple-tree --lib miri_ -- --skip miri_shared
  # The shared tree uses crossbeam-epoch, whose intrusive list is known not to satisfy
  # Stacked Borrows but to satisfy Tree Borrows (crossbeam-rs/crossbeam#545, #996: crossbeam's
  # own CI runs Miri with -Zmiri-tree-borrows). Epoch garbage still queued at exit is not ours.
  # `Box` and `Arc` entries.
  MIRIFLAGS="-Zmiri-tree-borrows -Zmiri-ignore-leaks" cargo +nightly miri test -p maple-tree --lib miri_shared
fi

if [[ $what == valgrind || $what == all ]]; then
  command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind; }
  for t in rcu_stress fault_injection; do
    bin=$(cargo test --release -p maple-tree --test "$t" --no-run --message-format=json 2>/dev/null |
      python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m.get("executable") and m["target"]["name"]==sys.argv[1]: print(m["executable"])' "$t")
    valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
      --show-leak-kinds=definite -q "$bin" --test-threads=1
  done
fi
echo "memcheck ($what): clean"
