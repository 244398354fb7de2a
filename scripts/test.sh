#!/usr/bin/env bash
# Runs every test of qyv, installing what the tests need first (idempotent).
#   bash scripts/test.sh            # everything: set-up, fmt, clippy, tests, fuzz smoke runs
#   QYV_FUZZ_SECONDS=0 bash scripts/test.sh   # skip the fuzz smoke runs (local quick loop)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "set-up"
bash scripts/setup.sh --fuzz
bash scripts/install-toolchains.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

fuzz_seconds="${QYV_FUZZ_SECONDS:-60}"
if [ "$fuzz_seconds" != 0 ]; then
  step "fuzz smoke runs (${fuzz_seconds}s each)"
  fuzz_target_dir="${CARGO_TARGET_DIR:-$PWD/target}/fuzz"
  for target in $(cd fuzz && cargo +nightly fuzz list); do
    echo "--- fuzz target: $target"
    (cd fuzz && cargo +nightly fuzz run "$target" --target-dir "$fuzz_target_dir" -- \
      -max_total_time="$fuzz_seconds" -rss_limit_mb=4096 -print_final_stats=0 2>&1 | tail -n 20)
  done
fi

step "cargo test"
# The test runner goes last so that its summary closes the output.
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
