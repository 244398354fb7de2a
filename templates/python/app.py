"""{{name}}: a Python program that `qyv build` makes a WASI component and `qyv run` runs, as
`python app.py` would: sys.argv, os.environ (the granted variables), stdin/stdout/stderr,
files under the granted directories, sys.exit. Dependencies go in pyproject.toml.

To export WIT interfaces of your own instead, write `class Run(wit_world.WitWorld)` against
componentize-py's bindings (see qyv's README).
"""

import os
import sys


def main() -> None:
    # GREETING is a host variable the manifest grants (permissions.env); unset, it falls back.
    greeting = os.environ.get("GREETING", "Hello")
    print(f"{greeting} from {{name}}!")
    print("args: " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
