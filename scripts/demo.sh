#!/usr/bin/env bash
# The main job on the embedded example: build examples/hello-rust into a WASI P2 component,
# show what it imports and exports, and run it. Installs the wasm targets it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh >/dev/null
cargo build --release --locked --bin qyv
qyv="${CARGO_TARGET_DIR:-target}/release/qyv"

echo "==> qyv build examples/hello-rust"
"$qyv" build examples/hello-rust
echo "==> qyv validate examples/hello-rust"
"$qyv" validate examples/hello-rust
echo "==> qyv inspect examples/hello-rust/target/qyv/hello-rust.wasm"
"$qyv" inspect examples/hello-rust/target/qyv/hello-rust.wasm
echo "==> GREETING=Hola qyv run examples/hello-rust -- a b"
GREETING=Hola "$qyv" run examples/hello-rust -- a b
