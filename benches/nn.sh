#!/usr/bin/env bash
# wasi-nn in qyv run: MNIST inference (examples/mnist-rust, the guest's own loop) against the
# same model run natively by tract (qyv-floor tract, the version qyv's backend uses) and by
# onnxruntime's Python package (a reference row). Per call: the time of 1,001 inferences minus
# that of 1, over 1,000, so that process start, model load and (for qyv) the guest's start
# cancel out. Warm: qyv's compile cache is filled first.
source "$(dirname "$0")/lib.sh"
need_hyperfine
build_qyv_and_floor
python3 -c 'import onnxruntime' 2>/dev/null || pip install -q onnxruntime==1.32.0
python3 -c 'import numpy' 2>/dev/null || pip install -q numpy

app="$BENCH_DIR/mnist-rust"
rm -rf "$app" && mkdir -p "$app"
cp -r "$ROOT"/examples/mnist-rust/{Cargo.toml,Cargo.lock,mnist-rust.qyv,src,wit,models,assets} "$app/"
"$QYV" build -q "$app" >/dev/null
export QYV_CACHE_DIR="$BENCH_DIR/qyv-cache"
# The app as users ship it: a bundle (`qyv run DIR` would check the build first, like cargo run).
bundle="$BENCH_DIR/mnist.qyvbin"
"$QYV" pack -q --unsigned "$app" -o "$bundle" >/dev/null
# Fill the compile cache (a first run would leave the optimized compile to the background).
"$QYV" cache warm "$bundle" 2>/dev/null
"$QYV" run -q --allow-unsigned "$bundle" >/dev/null
model="$app/models/mnist.onnx"
image="$app/assets/two.pgm"
ort="$BENCH_DIR/ort_mnist.py"
cat >"$ort" <<'PY'
import sys
import numpy as np
import onnxruntime as ort
model, image, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
pixels = np.frombuffer(open(image, "rb").read()[-784:], dtype=np.uint8).astype(np.float32)
x = pixels.reshape(1, 1, 28, 28)
for _ in range(n):
    logits = session.run(None, {"Input3": x})[0]
print(int(np.argmax(logits)))
PY
for n in 1 1001; do
  [ "$("$QYV" run -q --allow-unsigned "$bundle" -- /data/two.pgm mnist $n)" = 2 ] || { echo "qyv: not 2"; exit 1; }
  [ "$("$FLOOR" tract "$model" "$image" $n)" = 2 ] || { echo "tract: not 2"; exit 1; }
  [ "$(python3 "$ort" "$model" "$image" $n)" = 2 ] || { echo "onnxruntime: not 2"; exit 1; }
  HYPERFINE_OPTS=-N bench "qyv-nn-$n" "$QYV run -q --allow-unsigned $bundle -- /data/two.pgm mnist $n"
  HYPERFINE_OPTS=-N bench "tract-nn-$n" "$FLOOR tract $model $image $n"
  HYPERFINE_OPTS=-N bench "ort-nn-$n" "python3 $ort $model $image $n"
done

python3 - "$BENCH_DIR" <<'PY'
import json, sys
d = sys.argv[1]
m = lambda name: json.load(open(f"{d}/{name}.json"))["results"][0]["median"]
per = {t: (m(f"{t}-nn-1001") - m(f"{t}-nn-1")) / 1000 * 1e6 for t in ("qyv", "tract", "ort")}
print("| benchmark | qyv run | other | ratio | goal |")
print("|---|---|---|---|---|")
print(f"| MNIST inference per call (guest loop of 1,000) vs native tract | {per['qyv']:.1f} us | {per['tract']:.1f} us | {per['qyv'] / per['tract']:.2f}x | <= 1.3x |")
print(f"| the same vs onnxruntime (Python, CPU) | {per['qyv']:.1f} us | {per['ort']:.1f} us | {per['qyv'] / per['ort']:.2f}x | reference |")
print(f"| one run of the bundle, 1 inference (start, model load, guest) vs native tract | {m('qyv-nn-1') * 1e3:.1f} ms | {m('tract-nn-1') * 1e3:.1f} ms | {m('qyv-nn-1') / m('tract-nn-1'):.2f}x | report |")
PY
