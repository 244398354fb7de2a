#!/usr/bin/env bash
# qyv pack against tar | zstd on a bundle holding the 18 MB componentize-py component and a
# 50 MB model-like file (random-ish floats: partly compressible), and qyv verify throughput.
# Prints medians, sizes and ratios. Installs what it needs (hyperfine, zstd, componentize-py).
source "$(dirname "$0")/lib.sh"
need_hyperfine
command -v zstd >/dev/null || { apt-get update -qq && apt-get install -y -qq zstd; }
build_qyv

py="$(py_hello)"
proj="$BENCH_DIR/pack-demo"
if [ ! -f "$proj/models/model.bin" ]; then
  mkdir -p "$proj/models"
  # 50 MB of float32 weights: a smooth signal plus noise, like real model files.
  python3 - "$proj/models/model.bin" <<'PY'
import array, math, random, sys
random.seed(7)
n = 50 * 1024 * 1024 // 4
a = array.array("f", (math.sin(i / 500.0) + random.gauss(0, 0.05) for i in range(n)))
open(sys.argv[1], "wb").write(a.tobytes())
PY
fi
cp "$py" "$proj/app.wasm"
printf 'name: pack-demo\nentrypoint: app.wasm\nmodels: [models/*.bin]\n' >"$proj/pack-demo.qyv"
export SOURCE_DATE_EPOCH=0

# Alternating runs: on a shared machine, drift in its load then hits both alike. Both write over
# their previous output, as a rebuild in CI or on a laptop does.
interleaved 15 qyv-pack-3 "$QYV pack -q --unsigned $proj -o $BENCH_DIR/p3.qyvbin" \
  tar-zstd-3 "bash -c 'tar -C $proj -c app.wasm pack-demo.qyv models | zstd -3 -T0 -q -f -o $BENCH_DIR/t3.tar.zst'"
hyperfine --style none --runs 3 --export-json "$BENCH_DIR/qyv-pack-19.json" \
  "$QYV pack -q --unsigned --level 19 $proj -o $BENCH_DIR/p19.qyvbin" >/dev/null
hyperfine --style none --runs 3 --export-json "$BENCH_DIR/tar-zstd-19.json" \
  "tar -C $proj -c app.wasm pack-demo.qyv models | zstd -19 -T0 -q -f -o $BENCH_DIR/t19.tar.zst" >/dev/null
# verify exits 3 on an unsigned bundle; `zstd -t` (decompress and check zstd's checksum, no
# digests, no tar) is the floor for reading the archive at all.
interleaved 11 qyv-verify "bash -c '$QYV verify $BENCH_DIR/p3.qyvbin 2>/dev/null; test \$? = 3'" \
  zstd-test "zstd -qt $BENCH_DIR/p3.qyvbin"

size() { stat -c %s "$1"; }
echo "| benchmark | qyv | tar + zstd | ratio | goal |"
echo "|---|---|---|---|---|"
ratio_row "pack time, level 3 (vs tar -c \| zstd -3 -T0)" qyv-pack-3 tar-zstd-3 "<= 1.1x"
ratio_row "pack time, level 19 (vs zstd -19 -T0)" qyv-pack-19 tar-zstd-19 "report"
python3 - "$(size "$BENCH_DIR/p3.qyvbin")" "$(size "$BENCH_DIR/t3.tar.zst")" "$(size "$BENCH_DIR/p19.qyvbin")" "$(size "$BENCH_DIR/t19.tar.zst")" <<'PY'
import sys
p3, t3, p19, t19 = map(int, sys.argv[1:5])
print(f"| size, level 3 | {p3/1e6:.2f} MB | {t3/1e6:.2f} MB | {p3/t3:.3f}x | <= 1.0x (+ header) |")
print(f"| size, level 19 | {p19/1e6:.2f} MB | {t19/1e6:.2f} MB | {p19/t19:.3f}x | <= 1.0x (+ header) |")
PY
python3 - "$BENCH_DIR/qyv-verify.json" "$proj" <<'PY'
import json, os, sys
med = json.load(open(sys.argv[1]))["results"][0]["median"]
total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(sys.argv[2]) for f in fs)
print(f"| verify (digests + signature check) | {med*1000:.1f} ms | | {total/1e6/med:.0f} MB/s | report |")
PY
ratio_row "verify time (vs zstd -t, decompression alone)" qyv-verify zstd-test "report"
