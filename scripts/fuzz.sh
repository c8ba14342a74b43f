#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ (cargo-fuzz, libFuzzer, nightly), or the TARGETs named, for
# SECONDS each (default 60), starting from the checked-in seeds (fuzz/seeds/TARGET) plus what
# earlier runs found (fuzz/corpus/TARGET, not checked in). Prints one line per target with its
# executions and exits 1 if any target crashed; the crashing input is in fuzz/artifacts/TARGET/:
# copy it to crates/maple-cli/tests/fuzz_regressions/TARGET/ so `cargo test` keeps checking it
# (`FUZZ_TARGET=T FUZZ_INPUT=FILE cargo test -p maple-cli --test fuzz_regressions describe --
# --ignored --nocapture` prints the operations a structured target's input decodes to).
# The targets: replay_script and maps (parsers on arbitrary bytes), owned_tree, shared_tree and
# dup_tree (the tree against a reference model), address_space (maple-mm's invariants); what
# each checks is in crates/maple-cli/src/fuzz_checks/.
# Usage: scripts/fuzz.sh [SECONDS [TARGET...]]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
[[ $secs =~ ^[1-9][0-9]*$ ]] || { echo "usage: scripts/fuzz.sh [SECONDS [TARGET...]]" >&2; exit 2; }
shift || true

# Any nightly will do; an installed one is kept as it is.
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
# cargo-fuzz is a cargo subcommand; install it once (pinned, from its lock file).
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.2 --locked

# Build every target once, then run the binaries directly so the time limit is the fuzzing
# time alone.
cargo +nightly fuzz build --fuzz-dir fuzz -O
mkdir -p fuzz/logs
failed=()
all=$(cargo +nightly fuzz list --fuzz-dir fuzz)
targets=("$@")
((${#targets[@]})) || read -r -a targets <<<"$(echo $all)"
for t in "${targets[@]}"; do
  grep -qx "$t" <<<"$all" || { echo "fuzz: no target $t (targets: $(echo $all))" >&2; exit 2; }
done
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  log="fuzz/logs/$t.log"
  if cargo +nightly fuzz run --fuzz-dir fuzz -O "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
      -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
      >"$log" 2>&1; then
    status=ok
  else
    status=CRASHED
    failed+=("$t")
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  echo "fuzz $t: ${execs:-?} executions in ${secs} s, corpus $(ls "fuzz/corpus/$t" | wc -l) inputs: $status"
  if [[ $status != ok ]]; then
    grep -E "panicked|ERROR|SUMMARY|Test unit written" "$log" | head -20 || tail -30 "$log"
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: crashes in ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
