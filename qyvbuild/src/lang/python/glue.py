"""Written by qyv: runs a plain Python program (a script, `python -m pkg`, or a
`[project.scripts]` entry point) as `__main__` when the component runs.

componentize-py snapshots the interpreter after importing this module at build time, and the
component has no file system of its own at run time: whatever the program imports must be in
the snapshot. So, at build time, this module compiles the project's own modules (without
running them) and imports the standard-library modules and dependencies they can reach; at
run time, the project's modules are executed from the compiled code, as `python` would.
"""

import builtins
import importlib
import importlib.abc
import importlib.util
import json
import linecache
import os
import pkgutil
import sys
import traceback
import types

import wit_world
from wit_world.imports import environment
from wit_world.imports import exit as wasi_exit

_HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(_HERE, "qyv_entry.json"), encoding="utf-8") as _f:
    _CONFIG = json.load(_f)
# componentize-py mounts its -p directories in order: this one, the project's source root,
# then the installed dependencies, if any.
_AFTER = sys.path[sys.path.index(_HERE) + 1 :]
_ROOT = _AFTER[0]
_SITE = _AFTER[1] if _CONFIG.get("site") and len(_AFTER) > 1 else None
_SKIP_DIRS = {"__pycache__", "target", "node_modules", "site-packages", "build", "dist"}


def _error(text):
    """Tells qyv (which shows it instead of componentize-py's backtrace) what went wrong."""
    sys.stderr.write("--- qyv python error ---\n" + text + "--- end ---\n")
    sys.stderr.flush()


def _collect(root, prefix):
    """The project's own modules: name -> (file as shown, source, is package)."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        parts = [] if rel == "." else rel.split(os.sep)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d.isidentifier()
            and d not in _SKIP_DIRS
            and not os.path.exists(os.path.join(dirpath, d, "pyvenv.cfg"))
        )
        for fn in sorted(filenames):
            stem = fn[:-3]
            if not fn.endswith(".py") or not (stem.isidentifier()):
                continue
            is_pkg = stem == "__init__"
            name = ".".join(parts if is_pkg else parts + [stem])
            if not name:
                continue
            shown = prefix + os.path.join(*(parts + [fn]))
            with open(os.path.join(dirpath, fn), encoding="utf-8") as f:
                found[name] = (shown, f.read(), is_pkg)
    # Directories without __init__.py are namespace packages.
    for name in list(found):
        parts = name.split(".")
        for i in range(1, len(parts)):
            found.setdefault(".".join(parts[:i]), ("", "", True))
    return found


_MODULES = _collect(_ROOT, _CONFIG["prefix"])
_CODE = {}
try:
    for _name, (_shown, _source, _pkg) in _MODULES.items():
        if _shown:
            _CODE[_name] = compile(_source, _shown, "exec", dont_inherit=True)
            # Tracebacks at run time show the lines; there is no file to read them from.
            linecache.cache[_shown] = (len(_source), None, _source.splitlines(True), _shown)
except SyntaxError as _e:
    _error("".join(traceback.format_exception_only(type(_e), _e)))
    raise


class _Loader(importlib.abc.InspectLoader):
    """Executes the project's modules from the code compiled at build time."""

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        shown = _MODULES[module.__name__][0]
        if shown:
            module.__file__ = shown
            exec(_CODE[module.__name__], module.__dict__)

    def get_code(self, fullname):
        return _CODE.get(fullname)

    def get_source(self, fullname):
        return _MODULES[fullname][1]

    def is_package(self, fullname):
        return _MODULES[fullname][2]


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname not in _MODULES:
            return None
        shown, _, is_pkg = _MODULES[fullname]
        return importlib.util.spec_from_loader(
            fullname, _LOADER, origin=shown or None, is_package=is_pkg
        )


_LOADER = _Loader()


# The codecs `open(..., encoding=...)` finds by name at run time: the common ones (the CJK
# codecs' tables would double the component's size).
_CODECS = """aliases ascii latin_1 utf_8 utf_8_sig utf_16 utf_16_le utf_16_be utf_32 utf_32_le
utf_32_be cp1252 cp437 cp850 iso8859_1 iso8859_2 iso8859_15 mac_roman charmap unicode_escape
raw_unicode_escape base64_codec hex_codec idna punycode""".split()


def _reachable():
    """Every module the project's code (and its dependencies) can import: what qyv found by
    reading their code on the host (reach.py; analysing here would leave its memory in the
    snapshot), and the common codecs."""
    return set(_CONFIG["preload"]) | {"encodings." + c for c in _CODECS}


def _preload():
    for name in sorted(_reachable()):
        if name == "__main__" or name in _MODULES or name.split(".")[0] in _MODULES:
            continue
        try:
            importlib.import_module(name)
        except BaseException:
            # Optional imports (another platform's, a missing extra) fail here as they would
            # at run time.
            pass
    # The project's modules load at run time, from _CODE; nothing else of the build's path
    # is there then.
    for name in list(sys.modules):
        if name in _MODULES or name.split(".")[0] in _MODULES:
            del sys.modules[name]
    sys.meta_path.insert(0, _Finder())
    sys.path_importer_cache.clear()


_preload()


def _main_module(name, package=None):
    module = types.ModuleType("__main__")
    module.__builtins__ = builtins
    module.__package__ = package
    module.__loader__ = _LOADER
    if name in _MODULES:
        module.__file__ = _MODULES[name][0]
    sys.modules["__main__"] = module
    return module


def _start():
    kind, target = _CONFIG["kind"], _CONFIG["target"]
    if kind == "script":
        exec(_CODE[target], _main_module(target).__dict__)
    elif kind == "module":
        importlib.import_module(target)
        main = target + ".__main__"
        exec(_CODE[main], _main_module(main, target).__dict__)
    else:
        module, _, attrs = target.partition(":")
        func = importlib.import_module(module)
        for attr in attrs.split("."):
            func = getattr(func, attr)
        sys.exit(func())


def _exit_code(e):
    code = e.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _print_traceback(e):
    """The traceback `python` prints, without this module's and the import system's frames."""
    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    te = traceback.TracebackException(type(e), e, tb)
    te.stack = traceback.StackSummary.from_list(
        [f for f in te.stack if not f.filename.startswith("<frozen importlib")]
    )
    sys.stderr.write("".join(te.format()))


class Run(wit_world.WitWorld):
    def run(self) -> None:
        sys.argv = list(environment.get_arguments()) or [_CONFIG["name"]]
        os.environ.clear()
        os.environ.update(dict(environment.get_environment()))
        code = 0
        try:
            _start()
        except SystemExit as e:
            code = _exit_code(e)
        except BaseException as e:
            _print_traceback(e)
            code = 1
        try:
            import atexit

            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            pass
        if code != 0:
            wasi_exit.exit_with_code(code)
