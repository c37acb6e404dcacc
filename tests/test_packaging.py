"""The numeric core must import without torch (DESIGN.md §3)."""

import subprocess
import sys

CORE = ["alignlimits", "alignlimits.divergences", "alignlimits.tilting", "alignlimits.tiers", "alignlimits.toys"]


def test_numeric_core_imports_without_torch():
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None\n"
        + "".join(f"import {m}\n" for m in CORE)
        + "import alignlimits.symbolic.objective\n"
        + "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
