"""The notebooks' contract: each .ipynb is paired with a py:percent file holding the same cells,
is committed without outputs, starts with a `parameters` cell, and only calls the library.
(Executing them is `make test`'s second step: `pytest --nbmake` with OCRLAB_QUICK=1.)"""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PAIRS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def test_every_notebook_is_paired():
    assert len(PAIRS) >= 4
    ipynbs = {p.stem for p in NOTEBOOKS.glob("*.ipynb")}
    assert ipynbs == {p.stem for p in PAIRS}, "run `jupytext --sync notebooks/*.py`"


@pytest.mark.parametrize("py", PAIRS, ids=lambda p: p.stem)
def test_pair_has_the_same_cells_and_no_outputs(py: Path):
    text = jupytext.read(py)
    nb = nbformat.read(py.with_suffix(".ipynb"), as_version=4)
    assert [c.source for c in nb.cells] == [c.source for c in text.cells], (
        f"{py.name} and its .ipynb differ: run `jupytext --sync {py}`"
    )
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, (
                f"{py.stem}: outputs committed"
            )
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []), f"{py.stem}: no parameters cell first"
    source = "\n".join(c.source for c in code)
    assert "sys.path" not in source, f"{py.stem} patches sys.path: import the installed ocrlab"
