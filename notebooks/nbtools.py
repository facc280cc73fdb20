"""Small helpers the notebooks share: a solution sheet (LaTeX) shown as Markdown with MathJax,
and a SymPy result of matdiff evaluated at numbers.

`matdiff sheet` writes a LaTeX document for pdflatex. A notebook renders Markdown with
MathJax, which knows the mathematics but not the document around it, so the document is
translated: sections become headings, itemize a list, the tabular of the numerical check a
table, `align*` an `aligned` display with each equation's `\\tag*` note set beside it.

A module, not a notebook: the notebooks' text sources are the NN_name.py beside it, each paired
with its NN_name.ipynb in a jupytext header, which this file has not.
"""
from __future__ import annotations

import re

from IPython.display import Markdown

BRACED = r"\{((?:[^{}]|\{[^{}]*\})*)\}"     # {...}, with braces one level deep inside ($W_{1}$)


def _body(tex: str) -> str:
    start, end = tex.find(r"\begin{document}"), tex.rfind(r"\end{document}")
    body = tex[start + len(r"\begin{document}"):end] if start >= 0 else tex
    return body.replace(r"\maketitle", "")


def _untag(math: str) -> str:
    """`... \\tag*{\\small note}` -> `... \\qquad\\text{(note)}`: MathJax allows no tag in aligned."""
    return re.sub(r"\\tag\*\{\\small\s*((?:[^{}]|\{[^{}]*\})*)\}", r"\\qquad\\text{(\1)}", math)


def _aligned(body: str, env: str = "aligned", arg: str = "") -> str:
    return f"\n$$\\begin{{{env}}}{arg}{_untag(body)}\\end{{{env}}}$$\n"


def _table(body: str) -> str:
    rows = [r.strip() for r in body.replace(r"\hline", "").split(r"\\") if r.strip()]
    cells = [[c.strip() for c in r.split("&")] for r in rows]
    lines = ["| " + " | ".join(cells[0]) + " |", "|" + "---|" * len(cells[0])]
    lines += ["| " + " | ".join(r) + " |" for r in cells[1:]]
    return "\n\n" + "\n".join(lines) + "\n\n"


def _items(body: str) -> str:
    body = re.sub(r"\\setlength\{\\itemsep\}\{[^}]*\}", "", body)
    return "\n\n" + "\n".join("- " + i.strip() for i in body.split(r"\item") if i.strip()) + "\n\n"


def sheet_markdown(tex: str) -> str:
    """The text of a solution sheet as Markdown: headings, paragraphs, lists, tables and $$ displays."""
    s = _body(tex)
    # the sheet's TikZ drawing of the graph (between two comment lines): a notebook shows the SVG
    s = re.sub(r"% the computational graph, drawn.*?% end of the drawing\n?", "", s, flags=re.DOTALL)
    s = re.sub(r"\\section\*" + BRACED, r"\n### \1\n", s)
    s = re.sub(r"\\subsection\*" + BRACED, r"\n#### \1\n", s)
    s = re.sub(r"\\begin\{align\*\}(.*?)\\end\{align\*\}", lambda m: _aligned(m.group(1)), s, flags=re.DOTALL)
    s = re.sub(r"\\begin\{alignat\*\}(\{\d+\})(.*?)\\end\{alignat\*\}",
               lambda m: _aligned(m.group(2), "alignedat", m.group(1)), s, flags=re.DOTALL)
    s = re.sub(r"\\\[(.*?)\\\]", lambda m: f"\n$${_untag(m.group(1))}$$\n", s, flags=re.DOTALL)
    s = re.sub(r"\\begin\{center\}\\begin\{tabular\}\{[^}]*\}(.*?)\\end\{tabular\}\\end\{center\}",
               lambda m: _table(m.group(1)), s, flags=re.DOTALL)
    s = re.sub(r"\\begin\{itemize\}(.*?)\\end\{itemize\}", lambda m: _items(m.group(1)), s, flags=re.DOTALL)
    s = re.sub(r"``(.*?)''", r"“\1”", s)
    s = re.sub(r"\\emph" + BRACED, r"*\1*", s)                 # \emph{Note:}
    s = re.sub(r"\$\s*\\quad\s*\(", "$ (", s)                 # a text-mode \quad between two formulas
    return re.sub(r"\n{3,}", "\n\n", s).strip()


def show_sheet(tex: str) -> Markdown:
    """A solution sheet, ready for display() in a notebook."""
    return Markdown(sheet_markdown(tex))


def sympy_value(expr, values: dict):
    """A SymPy result of matdiff (integer shapes) at numbers: each MatrixSymbol replaced by the
    array of that name (a vector may be 1-D), then SymPy's own doit() and evalf().

    Slow for big expressions, but independent of matdiff's evaluator and code generator."""
    import numpy as np
    import sympy as sp

    subs = {m: sp.Matrix(np.asarray(values[m.name], dtype=float).reshape(m.shape))
            for m in expr.free_symbols if isinstance(m, sp.MatrixSymbol)}
    subs.update({s: values[s.name] for s in expr.free_symbols
                 if isinstance(s, sp.Symbol) and s.name in values})
    out = expr.xreplace(subs).doit()
    if isinstance(out, sp.MatrixBase) or getattr(out, "is_Matrix", False):
        return np.array(sp.Matrix(out).evalf(), dtype=float)
    return float(out)
