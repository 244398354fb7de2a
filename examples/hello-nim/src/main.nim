# hello-nim: a WASI command built with `qyv build` (nim + clang) and run with `qyv run`.
import std/os

# GREETING is a host variable the manifest grants (permissions.env); unset, it falls back.
let greeting = getEnv("GREETING", "Hello")
echo greeting, " from hello-nim!"
stdout.write "args:"
for arg in commandLineParams():
  stdout.write " ", arg
stdout.write "\n"
