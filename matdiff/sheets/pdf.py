"""LaTeX source -> PDF with pdflatex: no shell escape, in a temporary directory, errors as MatdiffError."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from matdiff.errors import MatdiffError

PDFLATEX = ("-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error")


def compile_pdf(tex: str, timeout: float = 120) -> bytes:
    """tex -> the PDF's bytes, with pdflatex in a temporary directory and without shell escape."""
    exe = shutil.which("pdflatex")
    if exe is None:
        raise MatdiffError("pdflatex is not installed, so no PDF can be made (on Debian or Ubuntu: "
                           "apt-get install texlive-latex-base texlive-latex-recommended); "
                           "without --pdf, matdiff sheet writes the LaTeX source")
    with tempfile.TemporaryDirectory(prefix="matdiff-sheet-") as tmp:
        Path(tmp, "sheet.tex").write_text(tex, encoding="utf-8")
        try:
            run = subprocess.run([exe, *PDFLATEX, "sheet.tex"], cwd=tmp, capture_output=True,
                                 timeout=timeout, env={**os.environ, "openout_any": "p"})
        except subprocess.TimeoutExpired:
            raise MatdiffError(f"pdflatex did not finish in {timeout:.0f} s") from None
        built = Path(tmp, "sheet.pdf")
        if run.returncode != 0 or not built.exists():
            log = run.stdout.decode("utf-8", "replace").splitlines()
            first = next((i for i, line in enumerate(log) if line.startswith("!")), None)
            why = "\n".join(log[first:first + 3]) if first is not None else "\n".join(log[-5:])
            raise MatdiffError(f"pdflatex failed:\n{why}")
        return built.read_bytes()


def write_pdf(tex: str, output: str | None = None) -> Path:
    """Compile tex and write the PDF to output (its suffix made .pdf; a .tex output also gets the
    source); sheet.pdf in the current directory by default. Returns the PDF's path."""
    out = Path(output) if output else Path("sheet.pdf")
    pdf = out.with_suffix(".pdf")
    data = compile_pdf(tex)
    if out.suffix == ".tex":
        out.write_text(tex, encoding="utf-8")
    pdf.write_bytes(data)
    return pdf
