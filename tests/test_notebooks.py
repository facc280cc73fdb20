"""Every notebook under notebooks/ runs top to bottom in a fresh kernel without an error.

The notebooks check their own answers (each has asserts), so an error anywhere fails here.
Each notebook NN_name.ipynb has its text source NN_name.py beside it (jupytext py:percent, paired
in its header; notebooks/nbtools.py is a helper module they import, not a notebook): a second test
keeps the stored cells equal to the source's, so that an edit made in one place is not lost in
the other (`python scripts/execute_notebooks.py` writes and executes them again).
Skipped cleanly where nbclient, nbformat or ipykernel is not installed, the pairing tests where
jupytext is not (`pip install ".[test]"` brings them all).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from seed_cases import GRAPH001, GRAPH001_SHAPES, MLP2, NET002, TUTORIAL12

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
if not NOTEBOOKS.is_dir():                      # an sdist ships the tests without the notebooks
    pytest.skip("no notebooks/ beside tests/", allow_module_level=True)
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
KERNEL = "matdiff-tests"
EXPECTED = {"00_tour", "01_tutorial12", "02_exercise_series_4", "03_ai6104_tutorial6",
            "04_machine_perception", "05_lecture10"}


def test_every_course_sheet_has_a_notebook():
    assert {p.stem for p in PATHS} == EXPECTED


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory):
    """A kernel of this very Python (whatever kernels Jupyter knows besides), which inherits the
    environment: no window for matplotlib, and the `matdiff` command installed next to this Python
    first on PATH (the notebooks run `!matdiff ...`)."""
    saved = dict(os.environ)
    spec = tmp_path_factory.mktemp("jupyter")
    (spec / "kernels" / KERNEL).mkdir(parents=True)
    (spec / "kernels" / KERNEL / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "matdiff tests", "language": "python"}))
    os.environ["JUPYTER_PATH"] = str(spec) + os.pathsep + os.environ.get("JUPYTER_PATH", "")
    os.environ["MPLBACKEND"] = "Agg"
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_runs_without_error(path, kernel_env):
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name=KERNEL,
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()               # raises CellExecutionError, with the cell and the traceback, on any error
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors


PAIRING = "ipynb,py:percent"


def test_every_notebook_has_its_text_source():
    """NN_name.ipynb and NN_name.py are paired in both files (Jupyter with jupytext then saves both);
    no other .py under notebooks/ is paired: nbtools.py is the helper module, not a notebook."""
    jupytext = pytest.importorskip("jupytext")
    paired = set()
    for source in NOTEBOOKS.glob("*.py"):
        formats = jupytext.read(source).metadata.get("jupytext", {}).get("formats")
        if formats:
            assert formats == PAIRING, f"{source.name}: formats {formats!r}, not {PAIRING!r}"
            paired.add(source.stem)
    assert paired == EXPECTED
    for name in EXPECTED:
        stored = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        assert stored.metadata.get("jupytext", {}).get("formats") == PAIRING, f"{name}.ipynb is not paired"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_stored_notebook_matches_its_text_source(name):
    jupytext = pytest.importorskip("jupytext")
    stored = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    source = jupytext.read(NOTEBOOKS / f"{name}.py")
    assert [(c.cell_type, c.source) for c in stored.cells] == \
        [(c.cell_type, c.source) for c in source.cells], \
        f"notebooks/{name}.ipynb differs from notebooks/{name}.py: after an edit to the .py, run " \
        f"python scripts/execute_notebooks.py notebooks/{name}.py; to the .ipynb, jupytext --sync notebooks/{name}.ipynb"


def test_stored_notebooks_have_outputs():
    """Outputs are stored, so that the notebooks read well where they are only displayed (GitHub)."""
    for path in PATHS:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.get("execution_count") for c in code), f"{path.name} was not executed before it was stored"
        assert not any(o.get("output_type") == "error" for c in code for o in c.get("outputs", [])), path.name


SHEETS = [(TUTORIAL12, "W", None),
          (NET002, "W", None),
          (MLP2, ["W1", "b2"], None),
          (GRAPH001, "x", GRAPH001_SHAPES),
          ("sum(abs(W x - y)) + sum(arcsin(x))", "x", None)]       # with the sheet's notes


@pytest.mark.parametrize("expr, wrt, shapes", SHEETS)
def test_sheets_shown_in_notebooks_keep_no_latex_outside_math(expr, wrt, shapes):
    """notebooks/nbtools.py translates a sheet's document into Markdown: whatever LaTeX the sheet
    printer writes outside formulas must be translated, or a notebook shows it raw."""
    import re

    import matdiff
    sys.path.insert(0, str(NOTEBOOKS))
    try:
        from nbtools import sheet_markdown
    finally:
        sys.path.remove(str(NOTEBOOKS))
    md = sheet_markdown(matdiff.sheet(expr, wrt=wrt, shapes=shapes, check=True))
    text = re.sub(r"\$[^$]*\$", "", re.sub(r"\$\$.*?\$\$", "", md, flags=re.DOTALL))
    assert not re.findall(r"\\[A-Za-z]+|[{}]", text), text
    assert "#### Result" in md and "| inputs |" in md
