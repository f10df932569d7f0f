"""The core (pipeline/core/) compiled to C by mypyc: the same source files, built with `make native`
(`MODERATION_NATIVE=1 python setup.py build_ext --inplace`, as the Dockerfile does too) or into a
wheel (`MODERATION_NATIVE=1 pip install .`).

Python imports a compiled module in preference to its source. So that an edited source file is
never shadowed by an older build, the build records each source's SHA-256 in
`pipeline/core_build.json`, and `pipeline/__init__.py` calls `prefer_source_if_needed()`: when any
compiled core module's source no longer has the recorded digest (or none was recorded), or
`MODERATION_PURE=1` is set, every core module is imported from source instead (all of them:
compiled modules call each other directly, so a mix would still run the old code). A stale build
logs a warning naming the file. Digests, not file times: an edit within the second of a build, a
checkout that restores an older file, or a build copied in with fresh times all fool a time check.
"""
from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import logging
import os
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent

# The compiled core is the folder pipeline/core/: every module in it (package __init__ files stay
# interpreted), relative to the repository root. A module that mypyc cannot compile says so in its
# first lines with the marker below, and why.
CORE_DIR = PACKAGE_DIR / "core"
INTERPRETED_MARKER = "# mypyc: interpreted"


def _core_sources(core_dir: Path = CORE_DIR) -> tuple[str, ...]:
    root = core_dir.parent.parent
    return tuple(sorted(str(path.relative_to(root)) for path in core_dir.rglob("*.py")
                        if path.name != "__init__.py" and INTERPRETED_MARKER not in path.read_text()[:2000]))


CORE_SOURCES = _core_sources()

# The rule modules read attributes of the event union after the engine has dispatched on the
# event's kind; mypyc compiles those as ordinary attribute lookups.
MYPYC_OPTIONS = ("--ignore-missing-imports", "--follow-imports=silent", "--disable-error-code=union-attr")

# The compiled modules share one library, pipeline/core__mypyc (inside the package, so that an
# editable install finds it as well as a wheel).
NATIVE_GROUP = "pipeline.core"

# Written by the build (setup.py) beside the compiled modules: {module: SHA-256 of the source compiled}.
BUILD_MANIFEST = "core_build.json"

log = logging.getLogger(__name__)


def module_name(source: str) -> str:
    return source.removesuffix(".py").replace("/", ".")


CORE_MODULES = frozenset(module_name(s) for s in CORE_SOURCES)


def source_path(module: str, package_dir: Path = PACKAGE_DIR) -> Path:
    """The .py file of a core module in the package at `package_dir`."""
    return package_dir.joinpath(*module.split(".")[1:]).with_suffix(".py")


def compiled_path(module: str, package_dir: Path = PACKAGE_DIR) -> Path | None:
    """The extension module Python would import for `module` instead of its source, if any."""
    source = source_path(module, package_dir)
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = source.with_name(source.stem + suffix)
        if candidate.exists():
            return candidate
    return None


def source_digest(module: str, package_dir: Path = PACKAGE_DIR) -> str:
    return hashlib.sha256(source_path(module, package_dir).read_bytes()).hexdigest()


def write_build_manifest(package_dir: Path = PACKAGE_DIR) -> Path:
    """Record the digest of every core source about to be compiled (setup.py calls this first)."""
    path = package_dir / BUILD_MANIFEST
    path.write_text(json.dumps({m: source_digest(m, package_dir) for m in sorted(CORE_MODULES)}, indent=1) + "\n")
    return path


def stale(package_dir: Path = PACKAGE_DIR) -> list[str]:
    """Core modules with a compiled build whose source is not the one that was compiled."""
    try:
        recorded = json.loads((package_dir / BUILD_MANIFEST).read_text())
    except (OSError, ValueError):
        recorded = {}
    return [module for module in sorted(CORE_MODULES)
            if compiled_path(module, package_dir) is not None
            and recorded.get(module) != source_digest(module, package_dir)]


def is_compiled(module) -> bool:
    """Whether an imported module runs as compiled code."""
    return Path(getattr(module, "__file__", "") or "").suffix in (".so", ".pyd")


def core_mode() -> str:
    """`compiled` when every core module is, `interpreted` when none is, else `mixed`. The modules are
    imported here, so the answer names the core a worker would run whatever the caller loaded."""
    flags = {is_compiled(importlib.import_module(name)) for name in CORE_MODULES}
    return "compiled" if flags == {True} else "interpreted" if flags == {False} else "mixed"


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Finds the core modules' .py files ahead of their compiled builds."""

    def __init__(self, package_dir: Path) -> None:
        self.package_dir = package_dir

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in CORE_MODULES:
            return None
        return importlib.util.spec_from_file_location(fullname, source_path(fullname, self.package_dir))


def prefer_source_if_needed() -> None:
    """Import the core from source when asked to (`MODERATION_PURE=1`) or when a build is stale."""
    if any(isinstance(f, _SourceFinder) for f in sys.meta_path):
        return
    outdated = stale()
    if os.environ.get("MODERATION_PURE") == "1" or outdated:
        if outdated:
            log.warning("compiled core was not built from the current %s: running the core from source "
                        "(run `make native` to rebuild)", source_path(outdated[0]))
        sys.meta_path.insert(0, _SourceFinder(PACKAGE_DIR))
