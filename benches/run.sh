#!/usr/bin/env bash
# qyv run against wasmtime run (the wasmtime 49 CLI from PyPI) and against the floor (a minimal
# host at qyv's wasmtime version that maps precompiled code and runs it, benches/floor) on a
# Rust hello, a Go hello (a 2.5 MB preview1 core module) and the 18 MB componentize-py hello:
# warm (compile caches filled), right after `qyv build`, and cold (no cache); peak memory.
# Prints medians and ratios.
source "$(dirname "$0")/lib.sh"
need_hyperfine
need_wasmtime
build_qyv_and_floor

rust="$(rust_hello)"
go="$(go_hello)"
py="$(py_hello)"
export QYV_CACHE_DIR="$BENCH_DIR/qyv-cache"
# Every command here is a plain program call: measure it without a shell in between.
export HYPERFINE_OPTS=-N

for app in rust go py; do
  wasm="${!app}"
  # Fill qyv's cache (a first run would leave the optimized compile to the background).
  "$QYV" cache warm "$wasm" 2>/dev/null
  "$QYV" run -q "$wasm" >/dev/null
  "$WASMTIME" run "$wasm" >/dev/null # fill wasmtime's cache
  "$FLOOR" precompile "$wasm" "$BENCH_DIR/$app.cwasm"
  bench "qyv-run-$app-warm" "$QYV run -q $wasm"
  bench "wasmtime-run-$app-warm" "$WASMTIME run $wasm"
  bench "floor-run-$app-warm" "$FLOOR run $BENCH_DIR/$app.cwasm"
done
bench qyv-version "$QYV --version"
bench floor-version "$FLOOR --version"
# The same 18 MB component from a signed bundle: every start reads the index and checks the
# signature; the first one also decompresses and checks every digest, later ones take the
# verified component from the cache while the file is unchanged (README, Bundles).
bundle_dir="$BENCH_DIR/py-bundle"
mkdir -p "$bundle_dir"
cp "$py" "$bundle_dir/app.wasm"
printf 'name: py-bundle\nentrypoint: app.wasm\n' >"$bundle_dir/py-bundle.qyv"
[ -f "$bundle_dir/bench.key" ] || "$QYV" keygen bench --dir "$bundle_dir" >/dev/null 2>&1
"$QYV" pack -q "$bundle_dir" --sign "$bundle_dir/bench.key" -o "$bundle_dir/app.qyvbin" >/dev/null
"$QYV" cache warm "$bundle_dir/app.qyvbin" 2>/dev/null
"$QYV" run -q --key "$bundle_dir/bench.pub" "$bundle_dir/app.qyvbin" >/dev/null
bench qyv-run-py-bundle-warm "$QYV run -q --key $bundle_dir/bench.pub $bundle_dir/app.qyvbin"
# A signed bundle with a 50 MB model against the same bundle without it, warm: the model is
# taken from the store of verified files and mounted at /models, not read (README, Fast start).
for kind in model plain; do
  dir="$BENCH_DIR/$kind-bundle"
  mkdir -p "$dir/models"
  cp "$rust" "$dir/app.wasm"
  printf 'name: %s-bundle\nentrypoint: app.wasm\n' "$kind" >"$dir/$kind-bundle.qyv"
done
model="$BENCH_DIR/model-bundle/models/model.bin"
# Incompressible, as weights are.
[ -s "$model" ] || head -c 50000000 /dev/urandom >"$model"
printf 'models: [models/model.bin]\n' >>"$BENCH_DIR/model-bundle/model-bundle.qyv"
for kind in model plain; do
  dir="$BENCH_DIR/$kind-bundle"
  "$QYV" pack -q "$dir" --sign "$bundle_dir/bench.key" -o "$dir/app.qyvbin" >/dev/null
  run="$QYV run -q --key $bundle_dir/bench.pub $dir/app.qyvbin"
  $run >/dev/null
  bench "qyv-run-$kind-bundle-warm" "$run"
  # shellcheck disable=SC2086
  peak_rss "qyv-run-$kind-bundle-warm" 5 $run
done

# Peak memory of a warm run of the 18 MB component.
peak_rss qyv-run-py-warm 5 "$QYV" run -q "$py"
peak_rss wasmtime-run-py-warm 5 "$WASMTIME" run "$py"

# The first run right after `qyv build` of a project (the Rust hello), once the background
# compile that the build started has finished, as when a user types the next command, against
# later runs of it. `qyv run PROJECT` checks that the build is up to date first (a no-op
# `cargo build`, like `cargo run`), in both.
proj="$BENCH_DIR/first-run"
rm -rf "$proj"
(cd "$BENCH_DIR" && "$QYV" new --lang rust first-run >/dev/null 2>&1)
first_runs=()
for i in 1 2 3 4 5; do
  rm -rf "$BENCH_DIR/first-cache"
  touch "$proj/src/main.rs"
  QYV_CACHE_DIR="$BENCH_DIR/first-cache" "$QYV" build -q "$proj" >/dev/null
  for _ in $(seq 300); do
    ls "$BENCH_DIR/first-cache/compiled/"*.xxh3 >/dev/null 2>&1 && break
    sleep 0.1
  done
  first_runs+=("$(python3 -c '
import subprocess, sys, time
t = time.perf_counter()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
print(time.perf_counter() - t)' env QYV_CACHE_DIR="$BENCH_DIR/first-cache" "$QYV" run -q "$proj/first-run.qyv")")
done
python3 -c '
import json, statistics, sys
json.dump({"results": [{"median": statistics.median(map(float, sys.argv[2:]))}]}, open(sys.argv[1], "w"))' \
  "$BENCH_DIR/qyv-run-rust-first.json" "${first_runs[@]}"
QYV_CACHE_DIR="$BENCH_DIR/first-cache" bench qyv-run-rust-project-warm "$QYV run -q $proj/first-run.qyv"

# Cold: nothing cached (a bundle copied to a new machine). qyv runs baseline (Winch) code and
# compiles the optimized code in the background for the next run; wasmtime compiles with
# Cranelift. Runs alternate between the two tools.
for app in rust go py; do
  wasm="${!app}"
  runs=15; [ "$app" = go ] && runs=8; [ "$app" = py ] && runs=5
  cold "$runs" "qyv-run-$app-cold" "$QYV run -q $wasm" \
    "wasmtime-run-$app-cold" "$WASMTIME run -C cache=n $wasm"
done

echo "| benchmark | qyv run | wasmtime run | ratio | goal |"
echo "|---|---|---|---|---|"
ratio_row "Rust hello, warm" qyv-run-rust-warm wasmtime-run-rust-warm "<= 0.5x"
ratio_row "Go hello (2.5 MB core module), warm" qyv-run-go-warm wasmtime-run-go-warm "<= 0.2x"
ratio_row "componentize-py hello (18 MB), warm" qyv-run-py-warm wasmtime-run-py-warm "<= 0.1x"
ratio_row "componentize-py hello from a signed .qyvbin, warm" qyv-run-py-bundle-warm wasmtime-run-py-warm "<= 0.1x"
ratio_row "Rust hello, cold" qyv-run-rust-cold wasmtime-run-rust-cold "<= 1.05x"
ratio_row "Go hello, cold" qyv-run-go-cold wasmtime-run-go-cold "<= 1.05x"
ratio_row "componentize-py hello, cold" qyv-run-py-cold wasmtime-run-py-cold "<= 0.5x"

echo
echo "| benchmark | first run | later runs | ratio | goal |"
echo "|---|---|---|---|---|"
ratio_row "Rust hello project: first qyv run after qyv build" qyv-run-rust-first qyv-run-rust-project-warm "warm: <= 1.1x"

echo
echo "| peak RSS | qyv run | wasmtime run | ratio | goal |"
echo "|---|---|---|---|---|"
rss_row "componentize-py hello, warm" qyv-run-py-warm wasmtime-run-py-warm "<= 0.7x"

echo
echo "| benchmark | qyv run | the floor host | ratio | goal |"
echo "|---|---|---|---|---|"
ratio_row "Rust hello, warm" qyv-run-rust-warm floor-run-rust-warm "<= 1.3x"
ratio_row "Go hello, warm" qyv-run-go-warm floor-run-go-warm "<= 1.3x"
ratio_row "componentize-py hello, warm" qyv-run-py-warm floor-run-py-warm "<= 1.3x"
ratio_row "componentize-py hello from a signed .qyvbin, warm" qyv-run-py-bundle-warm floor-run-py-warm "<= 1.3x"
ratio_row "process start: qyv --version / qyv-floor --version" qyv-version floor-version "qyv <= 2 ms"

echo
echo "| benchmark | with a 50 MB model | without | ratio | goal |"
echo "|---|---|---|---|---|"
ratio_row "signed bundle with a 50 MB model, warm: time" qyv-run-model-bundle-warm qyv-run-plain-bundle-warm "<= 1.5x"
rss_row "signed bundle with a 50 MB model, warm: peak RSS" qyv-run-model-bundle-warm qyv-run-plain-bundle-warm "<= 1.5x"
