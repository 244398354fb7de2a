"""Written by qyv: the modules a Python program can import, found by reading its code (and its
dependencies') with modulefinder, not by running it. Run by the host's python3 (-I -S), so
that componentize-py's snapshot holds the modules, not the analysis. Prints JSON:
{"preload": [module names], "notes": [lines for the user]}.

argv: the project's source root, the dependencies' site directory or "", the source root's
path in the project as files are shown ("" or "src/").
"""

import importlib.util
import json
import modulefinder
import os
import sys

SKIP_DIRS = {"__pycache__", "target", "node_modules", "site-packages", "build", "dist"}

# How far into the standard library the modules' imports are followed: what the program and
# its dependencies import, and what those import (lazily too). Importing them at build time
# brings the rest of what they import when loaded; the whole closure of the standard library's
# function-level imports would double the component's size.
STDLIB_DEPTH = 2


class Finder(modulefinder.ModuleFinder):
    """A ModuleFinder that remembers who imports what."""

    def __init__(self, path):
        super().__init__(path=path)
        self.edges = {}

    def import_hook(self, name, caller=None, fromlist=None, level=-1):
        module = super().import_hook(name, caller, fromlist, level)
        if caller is not None and module is not None:
            targets = self.edges.setdefault(caller.__name__, set())
            targets.add(module.__name__)
            for sub in fromlist or ():
                if f"{module.__name__}.{sub}" in self.modules:
                    targets.add(f"{module.__name__}.{sub}")
        return module


def modules_below(root, skip_dirs):
    """Module names of the .py files below root, with their paths."""
    names = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        parts = [] if rel == "." else rel.split(os.sep)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d.isidentifier()
            and d not in skip_dirs
            and not os.path.exists(os.path.join(dirpath, d, "pyvenv.cfg"))
        )
        for fn in sorted(filenames):
            stem = fn[:-3]
            if fn.endswith(".py") and stem.isidentifier():
                name = ".".join(parts if stem == "__init__" else parts + [stem])
                if name:
                    names[name] = os.path.join(*(parts + [fn]))
    return names


def main():
    root, site, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
    own = modules_below(root, SKIP_DIRS)
    deps = list(modules_below(site, {"__pycache__", "bin"})) if site else []
    sys.path[:0] = [root] + ([site] if site else [])
    finder = Finder(path=list(sys.path))
    for name in list(own) + deps:
        try:
            finder.import_hook(name)
        except BaseException:
            pass
    tops = {n.split(".")[0] for n in own}
    ours = set(own) | set(deps)
    reached = set(ours)
    frontier = ours
    for _ in range(STDLIB_DEPTH):
        frontier = {t for m in frontier for t in finder.edges.get(m, ())} - reached
        reached |= frontier
    preload = sorted(n for n in reached if n != "__main__" and n.split(".")[0] not in tops)
    missing = {}
    for name, importers in finder.badmodules.items():
        top = name.split(".")[0]
        users = sorted(prefix + own[i] for i in importers if i in own)
        if not users or not top or top in tops or top in missing:
            continue
        try:
            found = importlib.util.find_spec(top) is not None
        except BaseException:
            found = False
        if not found:
            missing[top] = users
    notes = [
        f"{', '.join(users)} imports `{top}`, which is neither installed nor in the standard "
        "library: add it to [project] dependencies (if it is optional, ignore this)"
        for top, users in sorted(missing.items())
    ]
    json.dump({"preload": preload, "notes": notes}, sys.stdout)


main()
