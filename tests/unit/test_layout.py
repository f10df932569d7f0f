"""The folders show the architecture (ARCHITECTURE.md, "Layout"), and the core stays pure: arrows go
from the shells into the core, never back, and nothing that decides reads the clock."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PIPELINE = Path(__file__).resolve().parents[2] / "pipeline"
# What decides: the core, text normalisation and detectors, the classifier (its training, evaluation
# and command tools aside, which read files and time their work).
PURE = [p for folder in ("core", "text", "classify") for p in sorted((PIPELINE / folder).rglob("*.py"))
        if not (folder == "classify" and p.stem in ("train", "evaluate", "commands", "bench", "card", "corpus",
                                                     "datasets"))]
SHELL_LIBRARIES = ("faust", "mode", "aiokafka", "aiohttp", "prometheus_client", "uvloop")
SHELLS = ("pipeline.worker", "pipeline.gateway", "pipeline.notify", "pipeline.dashboard", "pipeline.connectors",
          "pipeline.kafka", "pipeline.devtools", "pipeline.cli")
CLOCK = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"), ("time", "time"),
         ("time", "time_ns"), ("time", "monotonic"), ("time", "perf_counter"), ("time", "localtime")}


def imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def clock_reads(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name) and (node.func.value.id, node.func.attr) in CLOCK:
            found.append(f"{node.func.value.id}.{node.func.attr}() at line {node.lineno}")
    return found


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(PIPELINE)))
def test_what_decides_has_no_kafka_no_web_and_no_clock(path):
    bad = [m for m in imports(path) if m.split(".")[0] in SHELL_LIBRARIES or m.startswith(SHELLS)]
    assert bad == [], f"{path.relative_to(PIPELINE)} imports {bad}"
    assert clock_reads(path) == [], f"{path.relative_to(PIPELINE)} reads the clock"


def test_rules_do_not_import_upward():
    """A rule module uses what rules share (core/rules/base.py) and the core below it, not the
    trackers, the ladder or the engine that run it."""
    for path in sorted((PIPELINE / "core" / "rules").glob("*.py")):
        upward = [m for m in imports(path) if m.startswith(("pipeline.core.followups", "pipeline.core.escalation",
                                                              "pipeline.core.engine", "pipeline.core.responsiveness"))]
        assert upward == [], f"{path.name} imports {upward}"


def test_the_top_of_the_package_is_a_handful_of_modules():
    top = sorted(p.name for p in PIPELINE.glob("*.py"))
    assert top == ["__init__.py", "cli.py", "config.py", "native.py"]


def test_the_compiled_core_is_the_core_folder():
    from pipeline import native

    core = {str(p.relative_to(PIPELINE.parent)) for p in (PIPELINE / "core").rglob("*.py") if p.name != "__init__.py"}
    marked = {s for s in core if native.INTERPRETED_MARKER in (PIPELINE.parent / s).read_text()[:2000]}
    assert set(native.CORE_SOURCES) == core - marked
    assert marked == {"pipeline/core/events.py", "pipeline/core/offline.py"}


def test_training_and_card_do_not_import_each_other():
    assert "pipeline.classify.card" not in imports(PIPELINE / "classify" / "train.py")
