#!/usr/bin/env bash
# qyv push and qyv pull against oras (PyPI's Python client; the oras CLI binary is not
# obtainable here) on the same loopback registry (Debian's docker-registry), with the 18 MB
# componentize-py component. qyv pushes the component as a wasm artifact and its signed
# bundle as a referrer, and a pull verifies the bundle; oras moves the component alone. Every
# push goes to a new repository so that no blob is skipped as present.
# Installs what it needs (hyperfine, componentize-py; the registry and oras come from
# scripts/install-toolchains.sh).
source "$(dirname "$0")/lib.sh"
need_hyperfine
command -v docker-registry >/dev/null || { echo "docker-registry missing: run scripts/install-toolchains.sh" >&2; exit 1; }
python3 -c 'import oras' 2>/dev/null || { echo "oras missing: run scripts/install-toolchains.sh" >&2; exit 1; }
# QYV may name a binary already built (a release build elsewhere).
[ -n "${QYV:-}" ] || build_qyv

py="$(py_hello)"
work="$BENCH_DIR/oci"
rm -rf "$work" && mkdir -p "$work/app" "$work/oras-in" "$work/config"
export QYV_CONFIG_DIR="$work/config" QYV_PRECOMPILE=0 SOURCE_DATE_EPOCH=0
cp "$py" "$work/app/app.wasm"
cp "$py" "$work/oras-in/app.wasm"
printf 'name: py\nentrypoint: app.wasm\n' >"$work/app/py.qyv"
(cd "$work" && "$QYV" keygen bench >/dev/null 2>&1 && "$QYV" trust add bench.pub >/dev/null 2>&1)
"$QYV" pack -q --sign "$work/bench.key" "$work/app" -o "$work/py.qyvbin" >/dev/null
python3 - "$work/oras-in" <<'PY'
import hashlib, json, os, sys
d = hashlib.sha256(open(os.path.join(sys.argv[1], "app.wasm"), "rb").read()).hexdigest()
json.dump({"created": "1970-01-01T00:00:00Z", "architecture": "wasm", "os": "wasip2",
           "layerDigests": ["sha256:" + d]}, open(os.path.join(sys.argv[1], "config.json"), "w"))
PY

cat >"$work/registry.yml" <<YML
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/storage
http:
  addr: 127.0.0.1:0
YML
docker-registry serve "$work/registry.yml" 2>"$work/registry.log" &
registry_pid=$!
trap 'kill $registry_pid 2>/dev/null; rm -rf "$work/storage"' EXIT
for _ in $(seq 100); do
  addr=$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$work/registry.log" | head -1)
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { echo "the registry did not start" >&2; exit 1; }

# Each push goes to a new repository; the scripts keep the command lines plain.
cat >"$work/oras-push.py" <<PY
import os, time
from oras.client import OrasClient
os.chdir("$work/oras-in")
OrasClient(insecure=True).push(target="$addr/oras/p%d:1" % time.time_ns(),
    files=["app.wasm:application/wasm"],
    manifest_config="config.json:application/vnd.wasm.config.v0+json", quiet=True)
PY
cat >"$work/oras-pull.py" <<PY
from oras.client import OrasClient
OrasClient(insecure=True).pull(target="$addr/oras/ref:1", outdir="$work/oras-out")
PY
printf '#!/bin/sh\nexec "%s" push -q "%s/qyv/p$(date +%%s%%N):1" "%s"\n' "$QYV" "$addr" "$work/py.qyvbin" >"$work/qyv-push.sh"
# The references pulled.
"$QYV" push -q "$addr/qyv/ref:1" "$work/py.qyvbin" >/dev/null
python3 - <<PY
import os
from oras.client import OrasClient
os.chdir("$work/oras-in")
OrasClient(insecure=True).push(target="$addr/oras/ref:1", files=["app.wasm:application/wasm"],
    manifest_config="config.json:application/vnd.wasm.config.v0+json", quiet=True)
PY

interleaved 11 qyv-push "sh $work/qyv-push.sh" oras-push "python3 $work/oras-push.py"
interleaved 11 qyv-pull "$QYV pull -q $addr/qyv/ref:1 -o $work/qyv-out" \
  oras-pull "python3 $work/oras-pull.py"

echo "| benchmark | qyv | oras (Python) | ratio | goal |"
echo "|---|---|---|---|---|"
ratio_row "push, 18 MB component (qyv: + its signed bundle)" qyv-push oras-push "<= 1.0x"
ratio_row "pull, 18 MB component (qyv: the bundle, verified)" qyv-pull oras-pull "<= 1.0x"
