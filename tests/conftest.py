"""Test configuration: Hypothesis profiles and the import path of the shared strategies.

Profiles (pick one with ``HYPOTHESIS_PROFILE``; ``dev`` is the default):

* ``ci``: derandomized (the same examples on every run), 200 examples, no deadline,
  and the reproduction blob printed on failure.
* ``dev``: 100 random examples, no deadline.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hypothesis import settings

settings.register_profile("ci", derandomize=True, max_examples=200, deadline=None, print_blob=True)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# ``tests`` is a package (``tests/__init__.py``), so pytest puts the project root on
# sys.path and ``from tests.strategies import ...`` works. Some authors write
# ``from strategies import ...``: putting this folder on the path as well makes that work too.
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.append(_TESTS_DIR)
