"""Each module of the package imports on its own: no import cycle depends on which module a
caller (a test, a tool, the worker) happens to import first."""
import pkgutil
import subprocess
import sys

import pipeline

MODULES = sorted(m.name for m in pkgutil.walk_packages(pipeline.__path__, "pipeline.")
                 if not m.name.endswith("__main__"))

# One interpreter for all of them (a fresh one per module would take a minute): before each import
# every pipeline module is forgotten, so each import starts the package from that module.
SCRIPT = """
import importlib, sys
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "pipeline" or m.startswith("pipeline.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed.append(f"{name}: {type(exc).__name__}: {exc}")
print("\\n".join(failed))
"""


def test_the_package_has_the_modules_this_test_walks():
    assert {"pipeline.core.engine", "pipeline.core.responsiveness", "pipeline.core.followups.common"} <= set(MODULES)


def test_every_module_imports_first():
    run = subprocess.run([sys.executable, "-c", SCRIPT, *MODULES], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "", run.stdout
