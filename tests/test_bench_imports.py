"""The benchmarks run without the test extras (issue 28, item 13).

``bench/bench_gui.py`` imported ``tests.conftest`` (which imports pytest) for its signal; the signals
now live in ``tests/signals.py``.  Checked by running the bench's signal in a process where pytest
cannot be imported, and by reading every bench script's imports.
"""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import REPO


def test_no_bench_script_imports_pytest_or_the_test_configuration():
    for path in sorted((REPO / "bench").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] != "pytest" and name != "tests.conftest", f"{path.name}: {name}"


def test_bench_gui_signal_needs_no_pytest():
    code = (
        "import sys; sys.modules['pytest'] = None\n"  # any import of pytest now fails
        "sys.path.insert(0, 'bench')\n"
        "import bench_gui\n"
        "y = bench_gui.speech(5.0)\n"
        "print(len(y), float(abs(y).max()) > 0.1, float(abs(y[3 * 16000 : 4 * 16000]).max()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["80000", "True", "0.0"]  # 3 s of 'speech', then the 1 s pause
