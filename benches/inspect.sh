#!/usr/bin/env bash
# qyv inspect against wasm-tools (from PyPI) on the 18 MB componentize-py hello: printing the
# WIT world, and qyv's full report (validation, world, modules, proposals, sizes) against
# `wasm-tools component wit` alone. "first" is a file qyv has not seen (its validation is not
# remembered yet); "again" is the usual case of inspecting a file a second time. Prints
# medians and ratios.
source "$(dirname "$0")/lib.sh"
need_hyperfine
need_wasm_tools
build_qyv

py="$(py_hello)"
export QYV_CACHE_DIR="$BENCH_DIR/inspect-cache"
bench qyv-wit "$QYV inspect --wit $py"
bench wasm-tools-wit "$WASM_TOOLS component wit $py"
bench qyv-inspect-first --prepare "rm -rf $QYV_CACHE_DIR" "$QYV inspect $py"
bench qyv-inspect "$QYV inspect $py"
bench qyv-inspect-json "$QYV inspect --json $py"
bench wasm-tools-validate "$WASM_TOOLS validate --features all $py"

echo "| benchmark | qyv | wasm-tools | ratio | goal |"
echo "|---|---|---|---|---|"
ratio_row "WIT world of the 18 MB component (inspect --wit vs component wit)" qyv-wit wasm-tools-wit "<= 1.0x"
ratio_row "full report, again, vs component wit alone" qyv-inspect wasm-tools-wit "<= 1.0x"
ratio_row "full report --json, again, vs component wit alone" qyv-inspect-json wasm-tools-wit "<= 1.0x"
ratio_row "full report, first time (validates), vs wasm-tools validate" qyv-inspect-first wasm-tools-validate "~1x (prints more)"
