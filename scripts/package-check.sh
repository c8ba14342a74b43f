#!/usr/bin/env bash
# The published `maple-tree` crate, checked as a user gets it: `cargo package`, unpack it alone,
# run its own tests with every feature, and build it with the declared minimum Rust version
# (with and without default features).
set -euo pipefail
cd "$(dirname "$0")/.."

msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
# Outside the checkout: inside it, cargo would take the unpacked crate for a workspace member.
work=$(mktemp -d "${TMPDIR:-/tmp}/maple-package-check.XXXXXX")
trap 'rm -rf "$work"' EXIT

cargo package -p maple-tree --no-verify ${PACKAGE_ALLOW_DIRTY:+--allow-dirty}
crate=$(ls -t target/package/maple-tree-*.crate | head -1)
tar xzf "$crate" -C "$work"
dir=$(ls -d "$work"/maple-tree-*/)
# Nothing outside the crate: an unpacked crate has no workspace around it.
if grep -rn --include='*.rs' -e 'include_str!("\.\./\.\.' -e 'CARGO_MANIFEST_DIR")).join("\.\.' "$dir"; then
    echo "package-check: the crate reaches outside itself" >&2
    exit 1
fi

echo "== the unpacked crate's tests (--all-features)"
(cd "$dir" && CARGO_TARGET_DIR=../target cargo test --release --all-features -q)

echo "== Rust $msrv (the declared minimum)"
rustup toolchain install "$msrv" --profile minimal >/dev/null
(cd "$dir" && CARGO_TARGET_DIR=../target-msrv cargo "+$msrv" check -q)
(cd "$dir" && CARGO_TARGET_DIR=../target-msrv cargo "+$msrv" check -q --no-default-features)
echo "package-check: ok (tests pass alone, builds with Rust $msrv)"
