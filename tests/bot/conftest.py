"""Shared by the tests that run in Rasa's environment (tests/bot/*), which Makefile
runs with `--confcutdir=tests/bot` so that tests/conftest.py (SQLAlchemy 2) is not
loaded.

Rasa 3.6's stack (limits 2.4, TensorFlow, matplotlib, apscheduler) warns about its
own dependencies while it is imported: pkg_resources, declare_namespace, pyparsing
names. Nothing of ours can act on those, and warnings raised while pytest imports a
test module are not reached by `filterwarnings`, so they are imported here once,
quietly. Warnings raised by our code, or by these libraries while a test runs, still
show.
"""

from __future__ import annotations

import importlib
import importlib.util
import warnings

NOISY_AT_IMPORT = (
    "pkg_resources",
    "limits",
    "matplotlib.pyplot",
    "apscheduler",
    "tensorflow",
    "rasa.core.agent",
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for name in NOISY_AT_IMPORT:
        if importlib.util.find_spec(name.split(".")[0]) is not None:
            importlib.import_module(name)
