"""The notebooks in notebooks/ run from top to bottom without error (nbclient, a fresh kernel each)."""

from __future__ import annotations

from pathlib import Path

import nbclient  # the notebooks extra (nbclient, nbformat, ipykernel), which `make test` installs
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ["attention_maps", "protein_attention_vs_blosum", "promoter_scan"]


def test_every_notebook_is_listed():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(name, tmp_path, monkeypatch):
    from jupyter_client.kernelspec import NATIVE_KERNEL_NAME  # "python3": jupyter_client runs it with this Python

    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs, f"{name}: commit notebooks without outputs"
            for line in cell.source.splitlines():
                if line.startswith(("import ", "from ")):
                    module = line.split()[1].split(".")[0]
                    assert module in {"seqformer", "numpy", "pandas", "matplotlib", "pathlib", "tempfile"}, line
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # tiny models: one thread is fastest on a shared machine
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name=NATIVE_KERNEL_NAME,
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    images = sum("image/png" in output.get("data", {}) for cell in nb.cells if cell.cell_type == "code"
                 for output in cell.outputs)
    assert images >= 1, f"{name} drew no figure"
