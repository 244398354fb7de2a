#!/usr/bin/env bash
# Installs what building and testing qyv needs. Idempotent: safe to run again.
set -euo pipefail

need_targets=(wasm32-wasip1 wasm32-wasip2)
installed=$(rustup target list --installed)
for t in "${need_targets[@]}"; do
  grep -qx "$t" <<<"$installed" || rustup target add "$t"
done

# Nightly is needed only by cargo-fuzz (libFuzzer instrumentation).
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
