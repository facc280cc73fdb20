"""Execute the notebooks' text sources into the stored notebooks, notebooks/NN_*.py -> NN_*.ipynb.

    python scripts/execute_notebooks.py                              # every notebook
    python scripts/execute_notebooks.py notebooks/01_tutorial12.py   # only these

Each source is a jupytext py:percent file paired with its .ipynb (see its header). This is
`jupytext --to ipynb --update --execute` without the execution timestamps that nbconvert stores in
every cell: the stored cells keep their ids, so a rerun changes only the outputs that change.
"""
import os
import sys
from pathlib import Path

import jupytext
from jupytext.combine import combine_inputs_with_outputs
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
# the notebooks run `!matdiff ...`: the matdiff command next to this Python comes first on PATH
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")

failed = []
for source in [Path(p) for p in sys.argv[1:]] or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py")):
    target = source.with_suffix(".ipynb")
    nb = jupytext.read(source)
    if target.exists():                             # the stored cells' ids (and outputs until rerun)
        nb = combine_inputs_with_outputs(nb, jupytext.read(target), fmt="py:percent")
    try:
        NotebookClient(nb, timeout=120, kernel_name=nb.metadata["kernelspec"]["name"], record_timing=False,
                       resources={"metadata": {"path": str(source.resolve().parent)}}).execute()
    except CellExecutionError as e:                 # written all the same, to read the error in place
        failed.append(source.name)
        print(str(e)[-2000:], file=sys.stderr)
    for cell in (c for c in nb.cells if c.cell_type == "code"):   # how a stream is chunked is up to timing
        outputs = []
        for out in cell.outputs:
            if outputs and out.output_type == outputs[-1].output_type == "stream" and out.name == outputs[-1].name:
                outputs[-1].text += out.text
            else:
                outputs.append(out)
        cell.outputs = outputs
    jupytext.write(nb, target)
    print(f"wrote {target}" + (": FAILED" if source.name in failed else ""))
sys.exit(1 if failed else 0)
