"""{{name}}: a WASI command built with `qyv build` (componentize-py) and run with `qyv run`."""

import os
import sys

import wit_world


class Run(wit_world.WitWorld):
    def run(self) -> None:
        # GREETING is a host variable the manifest grants (permissions.env); unset, it falls back.
        greeting = os.environ.get("GREETING", "Hello")
        print(f"{greeting} from {{name}}!")
        print("args: " + " ".join(sys.argv[1:]))
