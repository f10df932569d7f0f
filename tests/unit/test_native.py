"""The compiled core (pipeline/native.py): a stale build never shadows its source, MODERATION_PURE
forces the source, and the compiled modules give exactly the interpreted outputs."""
import importlib.machinery
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import native

ROOT = Path(__file__).resolve().parents[2]
EXT = importlib.machinery.EXTENSION_SUFFIXES[0]


def _package(tmp_path: Path) -> Path:
    package = tmp_path / "pipeline"
    for source in native.CORE_SOURCES:
        path = tmp_path / source
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    return package


def test_a_build_is_stale_when_its_source_changed_whatever_the_file_times(tmp_path):
    package = _package(tmp_path)
    source = package / "core" / "responsiveness.py"
    built = package / "core" / f"responsiveness{EXT}"
    built.write_bytes(b"")
    native.write_build_manifest(package)
    assert native.stale(package) == []
    assert native.compiled_path("pipeline.core.responsiveness", package) == built
    os.utime(source, (3_000, 3_000))
    os.utime(built, (1_000, 1_000))
    assert native.stale(package) == [], "a newer time on the same source is not an edit"
    source.write_text("x = 1\n")
    os.utime(source, (1_000, 1_000))
    assert native.stale(package) == ["pipeline.core.responsiveness"], "an edit is, even with an older time"


def test_a_build_without_its_manifest_is_stale(tmp_path):
    package = _package(tmp_path)
    (package / "core" / f"responsiveness{EXT}").write_bytes(b"")
    assert native.stale(package) == ["pipeline.core.responsiveness"]
    (package / native.BUILD_MANIFEST).write_text("{not json")
    assert native.stale(package) == ["pipeline.core.responsiveness"]


def test_modules_without_a_build_are_not_stale(tmp_path):
    package = _package(tmp_path)
    assert native.stale(package) == []
    assert native.compiled_path("pipeline.core.rules.members", package) is None
    assert native.source_path("pipeline.core.rules.members", package) == package / "core" / "rules" / "members.py"


def _run(code: str, **env) -> str:
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, **env})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


MODE = "import pipeline.native as n; print(n.core_mode())"


def test_pure_mode_imports_every_core_module_from_source():
    assert _run(MODE, MODERATION_PURE="1") == "interpreted"


# Seven days of simulated groups (mentions, replies, deadlines, files, joins) and the demo's
# conversation, through the whole core; the outputs hashed in order.
OUTPUTS = """
import hashlib, orjson
from pipeline.core import offline
from pipeline.devtools import sample
from pipeline.classify import load_classifier
from pipeline.config import load_policy
from pipeline.core.engine import Engine
from pipeline.native import core_mode
from pipeline.devtools.simulate import simulate
policy = load_policy()
engine = Engine(policy, load_classifier(policy))
lines = simulate(7)[0] + [orjson.dumps(e) for e in sample.conversation()]
digest = hashlib.blake2b(digest_size=8)
count = 0
for role, record in offline.run(engine, lines):
    digest.update(role.encode() + orjson.dumps(record, option=orjson.OPT_SORT_KEYS))
    count += 1
print(core_mode(), count, digest.hexdigest())
"""


def test_compiled_core_gives_the_interpreted_outputs():
    if _run(MODE) != "compiled":
        pytest.skip("the core is not compiled here (`make native` builds it)")
    compiled_mode, *compiled = _run(OUTPUTS).split()
    pure_mode, *pure = _run(OUTPUTS, MODERATION_PURE="1").split()
    assert (compiled_mode, pure_mode) == ("compiled", "interpreted")
    assert int(compiled[0]) > 300
    assert compiled == pure
