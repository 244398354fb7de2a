#!/usr/bin/env bash
# Installs what building and testing qyv needs. Idempotent: safe to run again.
#   bash scripts/setup.sh          # the wasm targets qyv builds for
#   bash scripts/setup.sh --fuzz   # also nightly and cargo-fuzz, for the fuzz smoke runs
set -euo pipefail

installed=$(rustup target list --installed)
for t in wasm32-wasip1 wasm32-wasip2; do
  grep -qx "$t" <<<"$installed" || rustup target add "$t"
done

if [ "${1:-}" = "--fuzz" ]; then
  # Nightly is needed only by cargo-fuzz (libFuzzer instrumentation).
  rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
  if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
  fi
fi
