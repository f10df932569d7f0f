"""Metadata lives in pyproject.toml. With MODERATION_NATIVE=1 the build compiles the rules core
with mypyc (the folder pipeline/core/, see pipeline/native.py); without it the package is pure Python."""
import os
import runpy

from setuptools import setup

ext_modules = []
if os.environ.get("MODERATION_NATIVE") == "1":
    from mypyc.build import mypycify

    native = runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "pipeline", "native.py"))
    native["write_build_manifest"]()
    ext_modules = mypycify([*native["MYPYC_OPTIONS"], *native["CORE_SOURCES"]], opt_level="3",
                            group_name=native["NATIVE_GROUP"])

setup(ext_modules=ext_modules)
