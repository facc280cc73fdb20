"""Recorded derivation steps -> a standalone LaTeX solution sheet, in the style of the course sheets.

The content comes from derivation.Derivation, whose every line was produced by a rule of
matdiff's (and recorded as it fired); this module only typesets it. The identities a
line cites are the rules' own docstrings and comments, turned into LaTeX by
identity_latex; the short names beside each line come from RULE_NAMES.
"""
from __future__ import annotations

import re

from matdiff.language.algebra import add, transpose, zero_like
from matdiff.checking.check import CheckReport
from matdiff.sheets.derivation import Derivation, derive
from matdiff.graph import graph_of
from matdiff.graph.draw import UNIT_CM
from matdiff.language.expr import Add, Apply, DiagMat, Expr, Trace, postorder
from matdiff.language.functions import ELEMENTWISE
from matdiff.checking.numeric import stand_in
from matdiff.calculus.simplify import simplify
from matdiff.sheets.identities import formula_of, identity_latex, split_identity, text
from matdiff.printing.latex import LatexPrinter, function_name, latex_name, shape_latex, split_lines, to_latex, visible_width
from matdiff.sheets.pdf import compile_pdf, write_pdf

WIDTH = 66          # glyphs (latex.visible_width) on one displayed line, beside its label

# rule name -> what a sheet calls it, beside the line where it is used
RULE_NAMES = {
    "d_leibniz": "product rule", "d_add": "sum rule", "d_apply": "elementwise function",
    "d_transpose": "transpose", "d_inverse": "inverse", "d_mat_pow": "matrix power",
    "d_hadamard_pow": "elementwise power", "d_pow": "power with a variable exponent", "d_trace": "trace", "d_det": "determinant",
    "d_logdet": "log-determinant", "d_sum": "sum of entries", "d_norm": "norm", "d_softmax": "softmax",
    "d_logsumexp": "log-sum-exp", "d_batch_softmax": "softmax of each row or column",
    "d_batch_logsumexp": "log-sum-exp of each row or column", "d_log_softmax": "log-softmax",
    "d_diag": "diag is linear", "d_vec": "vec is linear",
    "d_unvec": "unvec is linear", "d_zero": "constant",
    "hadamard_as_diag": "diagonal Jacobian",
    "pb_add": "linearity of the trace", "pb_matmul": "cyclic permutation", "pb_mul": "scalars commute",
    "pb_hadamard": "Hadamard swap", "pb_transpose": "trace of a transpose", "pb_trace": "trace of a scalar",
    "pb_sum": "sum of entries", "pb_diag_mat": "diag swap", "pb_diag_of": "diag swap",
    "pb_vec": "vec swap", "pb_unvec": "vec swap", "pb_kron": "sum of the blocks",
}


def rule_name(rule: str, kind: str = "matrix") -> str:
    if rule == "pb_matmul" and kind != "matrix":
        return "transpose of a product"
    return RULE_NAMES.get(rule, rule.replace("_", " "))


# ---- typesetting expressions on lines that fit -------------------------------------------------------

def chunks(e: Expr, names: dict | None = None, width: int = WIDTH) -> list:
    """e as LaTeX lines that each fit on the page: broken between terms of a sum or factors of a
    product, at the shallowest parenthesis depth that works (latex.split_lines)."""
    return split_lines(LatexPrinter(names, breaks=True)(e), width)


def align_rows(lhs: str, pieces: list, tag: str = "") -> list:
    """`lhs &= piece` then `&\\quad piece` for the continuation lines; the tag on the first."""
    rows = []
    for i, p in enumerate(pieces):
        head = f"{lhs} &= " if i == 0 else r"&\quad "
        rows.append(head + p + (tag if i == 0 else ""))
    return rows


def tag(label: str) -> str:
    return rf" \tag*{{\small {label}}}" if label else ""


# ---- the parts of a sheet ---------------------------------------------------------------------------

def _listing(items: list) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _shapes_sentence(d: Derivation) -> str:
    """'where y ∈ R, x, b, c ∈ R^n, W, V ∈ R^{n×n}, and Φ and Ψ are elementwise functions.'"""
    p = d.problem
    groups: dict = {}
    for name, s in p.shaped.inputs.items():
        kind = {"sym": "symmetric", "spd": "symmetric positive definite"}.get(p.shaped.structure.get(name))
        groups.setdefault((tuple(s), kind), []).append(latex_name(name))
    parts = [f"${latex_name(d.fname)} \\in \\mathbb{{R}}$"]
    parts += [f"${', '.join(names)} \\in {shape_latex(s)}$" + (f" {kind}" if kind else "")
              for (s, kind), names in groups.items()]
    abstract = sorted({n.fn.name for n in postorder(p.f) if isinstance(n, Apply) and n.fn.name not in ELEMENTWISE})
    fns = [f"${function_name(n)}$" for n in abstract]
    if fns:
        parts.append(f"{_listing(fns)} {'is an' if len(fns) == 1 else 'are'} "
                     f"elementwise function{'s' * (len(fns) > 1)}")
    if len(parts) == 1:
        return "where " + parts[0] + "."
    return "where " + ", ".join(parts[:-1]) + (", and " if len(parts) > 2 else " and ") + parts[-1] + "."


def _reading_notes(d: Derivation) -> list:
    """A reading the user may not have meant (a matrix name made a single row, I made 1x1) is said
    on the sheet too, as every result of matdiff says it (inference.Reading)."""
    out = []
    for r in d.problem.shaped.readings:
        if r.name == "I":
            what = r"$I$ is $1 \times 1$ here, the number $1$"
        else:
            kind = "matrix" if r.name[0].isupper() else "vector"
            what = rf"${latex_name(r.name)} \in {shape_latex(r.shape)}$ is read so, not as a {kind}"
        out.append(rf"\emph{{Note:}} {what}: only so does the expression fit (declare the shapes if "
                   rf"another reading was meant).")
    return out


def _domain_notes(d: Derivation) -> list:
    """Where a built-in function has no derivative (abs, sign at 0) or is defined on (-1, 1) only
    (arcsin, arccos), the sheet says where its gradient holds. Not for relu: the course sheets
    write relu' as the step function without such a note, and the seed sheets keep to them."""
    names = {n.fn.name for n in postorder(d.problem.f) if isinstance(n, Apply) and n.fn.name in ELEMENTWISE}
    kinks = sorted(n for n in names if ELEMENTWISE[n].kink_at_zero and n != "relu")
    units = sorted(n for n in names if ELEMENTWISE[n].domain == "unit")
    out = []
    if kinks:
        fns = _listing([f"${function_name(n)}$" for n in kinks])
        out.append(rf"\emph{{Note:}} {fns} {'has' if len(kinks) == 1 else 'have'} no derivative at $0$; "
                   rf"the gradient below holds wherever {'its argument is' if len(kinks) == 1 else 'their arguments are'} "
                   rf"nonzero (away from $0$, $|t|' = \operatorname{{sign}}(t)$ and $\operatorname{{sign}}'(t) = 0$).")
    if units:
        fns = _listing([f"${function_name(n)}$" for n in units])
        out.append(rf"\emph{{Note:}} {fns} {'is' if len(units) == 1 else 'are'} defined on $[-1, 1]$ and "
                   rf"differentiable inside $(-1, 1)$ only; the gradient below holds where "
                   rf"{'its argument lies' if len(units) == 1 else 'their arguments lie'} inside.")
    return out


def question(ds: list) -> list:
    d = ds[0]
    p = d.problem
    out = [r"\section*{Question}"]
    if d.auxiliary:
        out += ["Consider the function",
                rf"\[ {latex_name(d.fname)} = {to_latex(p.f)}, \]"]
    else:
        rows = [f"{latex_name(q.sym.name)} &= {to_latex(q.rhs)}" for q in d.equations]
        out += ["Consider the function computed by the program",
                r"\begin{align*}" + r" \\ ".join(rows) + r"\end{align*}"]
    out.append(_shapes_sentence(d))
    out += _reading_notes(d) + _domain_notes(d)
    wrts = _listing([f"${latex_name(x.wrt.name)}$" for x in ds])
    plural = "gradients" if len(ds) > 1 else "gradient"
    out.append(rf"Compute the {plural} of ${latex_name(d.fname)}$ with respect to {wrts}.")
    return out


def definition(d: Derivation) -> list:
    y, w = latex_name(d.fname), latex_name(d.wrt.name)
    if d.kind == "matrix":
        return [rf"Recall that the external definition of the gradient $g$ is given by "
                rf"$d{y} = \langle g, d{w}\rangle$. Notice that ${w}$ is a matrix and hence also $d{w}$, "
                rf"which implies that $d{y}$ is an inner product of matrices:",
                rf"\[ d{y} = \operatorname{{tr}}(g^{{\top}} d{w}). \]"]
    if d.kind == "vector":
        return [rf"Recall that the external definition of the gradient $g$ is given by "
                rf"$d{y} = \langle g, d{w}\rangle$; ${w}$ is a vector, so $d{y} = g^{{\top}} d{w}$."]
    return [rf"Since ${w}$ is a scalar, the derivative $g$ is given by $d{y} = g \, d{w}$."]


def graph(d: Derivation) -> list:
    rows = [f"{latex_name(q.sym.name)} &= {to_latex(q.rhs)}" for q in d.equations]
    if not d.auxiliary:
        return [r"\subsection*{The computational graph}",
                "The lines of the program are the nodes of the computational graph, and its names are "
                "our auxiliary variables.", picture(d)]
    return [r"\subsection*{The computational graph}",
            "To compute the differential we draw the computational graph and define the following "
            "auxiliary variables according to it:",
            r"\begin{align*}" + r" \\ ".join(rows) + r".\end{align*}", picture(d)]


MAX_DRAWN = 40        # nodes: a bigger graph is no picture a page can hold (a 600-line program)
TEXT_WIDTH_CM = 16    # A4 with the 2.2 cm margins of PREAMBLE: 16.6 cm


def picture(d: Derivation) -> str:
    """The computational graph in TikZ (matdiff.graph: the same nodes as the equations above), where
    tikz.sty is installed (Debian's texlive-pictures); else a sentence, and the sheet still compiles."""
    count = len(d.equations) + len(d.problem.vars)
    if count > MAX_DRAWN:
        return (rf"(The graph has {count} nodes, too many to draw here; the equations above are its "
                r"nodes and edges.)")
    wrt = d.wrt.name
    g = graph_of(d.problem, wrt, values=False)
    drawing = g.tikz(unit=min(UNIT_CM, TEXT_WIDTH_CM / g.layout.width))
    return (PICTURE_BEGIN + "\n" + r"\IfFileExists{tikz.sty}{\begin{center}" + "\n" + drawing + "\n\n" +
            rf"{{\small Inputs are grey, ${latex_name(wrt)}$ orange; each edge carries its operation.}}" +
            r"\end{center}}{(A drawing of the graph needs the TikZ package, which is not installed here.)}" +
            "\n" + PICTURE_END)


# The drawing between these two comment lines: what renders a sheet's body another way (the web
# page's steps, a notebook's Markdown) drops it with without_picture and shows the SVG instead.
PICTURE_BEGIN = "% the computational graph, drawn (matdiff.graph)"
PICTURE_END = "% end of the drawing"


def without_picture(tex: str) -> str:
    """tex without the TikZ drawing of the computational graph (everything between the markers)."""
    return re.sub(re.escape(PICTURE_BEGIN) + r".*?" + re.escape(PICTURE_END) + r"\n?", "", tex, flags=re.DOTALL)


def bullet(rule: str, identity: str, kind: str = "matrix") -> str:
    """'product rule: $d(A B) = dA B + A dB$', with the rule's remark where it adds something."""
    name = rule_name(rule, kind)
    formula, remark = split_identity(identity)
    head, colon, rest = remark.partition(":")
    if colon and re.fullmatch(r"[A-Za-z ]+", head):
        remark = rest.strip()                    # 'cyclic: Tr(...) = Tr(...)' under 'cyclic permutation'
    if remark.lower() in name.lower() or name.lower() in remark.lower():
        remark = ""
    out = rf"\item {text(name[0].upper() + name[1:])}: ${identity_latex(formula)}$"
    if re.fullmatch(r"[A-Za-z ,/'-]+", remark):
        return out + f" ({text(remark)})"        # words only: plain text, which can break
    return out + (rf" \quad (${identity_latex(remark)}$)" if remark else "")


def itemize(items: list) -> str:
    return r"\begin{itemize}\setlength{\itemsep}{0pt}" + "".join(items) + r"\end{itemize}"


def _rules_used(steps: list) -> list:
    seen: dict = {}
    for s in steps:
        seen.setdefault(s.rule, s.identity)
    return list(seen.items())


def differentials(d: Derivation) -> list:
    w = latex_name(d.wrt.name)
    active = [q for q in d.equations if q.d is not None]
    constant = [q for q in d.equations if q.d is None]
    rows = []
    for q in active:
        labels = _listing([rule_name(r) for r, _ in _rules_used(q.steps) if r != "d_zero"])
        rows.append(rf"{latex_name(q.sym.name)} &= {to_latex(q.rhs)} &&\quad\Longrightarrow\quad "
                    rf"d{latex_name(q.sym.name)} = {to_latex(q.d)}" + tag(labels))
    used = _rules_used([s for q in active for s in q.steps])
    out = [r"\subsection*{Differentials}",
           "We apply the differential operator to each of the equations, using"]
    out.append(itemize([bullet(r, i) for r, i in used if r != "d_zero"]))
    out.append(r"\begin{alignat*}{2}" + r" \\ ".join(rows) + r"\end{alignat*}")
    consts = [v for v in d.constants if any(v in set(postorder(q.rhs)) for q in active)]
    note = []
    if consts:
        ds = _listing([f"$d{latex_name(v.name)}$" for v in consts])
        note.append(f"where we neglect {ds}, which {'is' if len(consts) == 1 else 'are'} zero: "
                    f"{'it is' if len(consts) == 1 else 'they are'} constant with respect to ${w}$.")
    if constant:
        zs = " = ".join(f"d{latex_name(q.sym.name)}" for q in constant)
        names = _listing([f"${latex_name(q.sym.name)}$" for q in constant])
        note.append(f"{names} {'does' if len(constant) == 1 else 'do'} not depend on ${w}$: ${zs} = 0$.")
    return out + [" ".join(note)] if note else out


def backpropagation(d: Derivation) -> list:
    y = latex_name(d.fname)
    rows = []
    for i, line in enumerate(d.backsub):
        parts = [f"$d{latex_name(s.name)}$" for s in line.substituted]
        label = ("substituting " + _listing(parts)) if parts else ""
        if line.steps:
            label = (label + ", " if label else "") + "multiplying out"
        rows += align_rows(f"d{y}" if i == 0 else "", chunks(line.expr), tag(label))
    return [r"\subsection*{Back-propagation}",
            r"Now we ``back-propagate'': starting from the last equation, we substitute the differentials "
            rf"until only $d{latex_name(d.wrt.name)}$ is left:",
            r"\begin{align*}" + r" \\ ".join(rows) + r".\end{align*}"]


def trace_steps(d: Derivation) -> list:
    y = latex_name(d.fname)
    rows = []
    used: list = []
    last = None
    for i, line in enumerate(d.trace):
        s = to_latex(line.expr)
        if s == last:
            continue                     # a regrouping that prints the same: nothing to show
        last = s
        if i == 0:
            label = r"$x = \operatorname{tr}(x)$ for a scalar $x$" if isinstance(line.expr, Trace) else ""
            if isinstance(line.expr, Trace):
                rows += align_rows(f"d{y}", chunks(d.backsub[-1].expr))
            rows += align_rows("" if rows else f"d{y}", chunks(line.expr), tag(label))
        else:
            names = list(dict.fromkeys(rule_name(st.rule, d.kind) for st in line.steps))
            used += [st for st in line.steps]
            rows += align_rows("", chunks(line.expr), tag(_listing(names)))
    rows += align_rows("", read_off(d), tag("linearity" if len(d.terms) > 1 else ""))
    identities = _rules_used(used)
    bullets = []
    if d.kind == "matrix":
        bullets.append(r"\item A scalar is its own trace: $x = \operatorname{tr}(x)$ for every $x \in \mathbb{R}$")
    bullets += [bullet(r, i, d.kind) for r, i in identities]
    intro = ("Next, we use the following properties of the trace, writing $\\langle A, B\\rangle$ for "
             "$\\operatorname{tr}(A^{\\top} B)$:" if d.kind == "matrix" else
             "Next, we move everything in front of the differential, writing $\\langle a, b\\rangle$ for "
             "$a^{\\top} b$:")
    out = [r"\subsection*{Reading off the gradient}", intro]
    if bullets:
        out.append(itemize(bullets))
    out += ["Therefore,", r"\begin{align*}" + r" \\ ".join(rows) + r".\end{align*}"]
    return out


def read_off(d: Derivation) -> list:
    """The last line: df = Tr(g^T dW) with g^T marked under its brace (or g^T db, g dx)."""
    w = latex_name(d.wrt.name)
    terms = d.terms or [zero_like(d.wrt)]     # every term cancelled on the way (3^(W + 3 - (W + b))): 0
    if d.kind == "scalar":
        G = simplify(add(*terms))
        mark = "g"
    else:
        G = add(*(simplify(transpose(M)) for M in terms))
        mark = r"g^{\top}"
    body = to_latex(G)
    if visible_width(body) <= WIDTH - 8:
        inner = rf"\left({body}\right)" if isinstance(G, Add) else body
        core = rf"\underbrace{{{inner}}}_{{{mark}}} \, d{w}"
        return [rf"\operatorname{{tr}}\Bigl({core}\Bigr)" if d.kind == "matrix" else core]
    pieces = chunks(G)
    pieces[0] = (r"\operatorname{tr}\Bigl(\bigl(" if d.kind == "matrix" else r"\bigl(") + pieces[0]
    pieces[-1] += (r"\bigr) \, d" + w + r"\Bigr)") if d.kind == "matrix" else (r"\bigr) \, d" + w)
    return pieces


QUIET = {"positive_first"}       # rules that only reorder: not worth a line on the sheet


def boxed(g: Expr, box: bool = True) -> str:
    pieces = chunks(g)
    if not box:
        return r"\begin{align*}" + r" \\ ".join(align_rows("g", pieces)) + r".\end{align*}"
    if len(pieces) == 1:
        return r"\[ \boxed{g = " + pieces[0] + r"} \]"
    return r"\[ \boxed{\begin{aligned} g &= " + r" \\ &\quad ".join(pieces) + r"\end{aligned}} \]"


def symmetric(d: Derivation) -> list:
    """wrt declared symmetric: why the answer is sym(g), the gradient on the symmetric matrices."""
    w, f = latex_name(d.wrt.name), latex_name(d.fname)
    return [rf"This $g$ gives $d{f} = \langle g, d{w}\rangle$ for every $d{w}$. But ${w}$ is symmetric, and so "
            rf"is every $d{w}$ it can move by; for those, $\langle g, d{w}\rangle = \langle g^{{\top}}, d{w}\rangle "
            rf"= \bigl\langle \tfrac12 (g + g^{{\top}}), d{w}\bigr\rangle$, and $\tfrac12 (g + g^{{\top}})$ is the "
            rf"one matrix of this kind that is itself symmetric. The gradient with respect to the symmetric "
            rf"${w}$ is therefore the symmetric part of $g$:",
            boxed(d.g)]


def result(d: Derivation) -> list:
    out = [r"\subsection*{Result}"]
    if d.simplification:
        used = [part.strip() for r, i in _rules_used(d.simplification) if i and r not in QUIET
                for part in formula_of(i).split(";") if part.strip()]
        out += ["Transposing, we read off", r"\begin{align*}" + r" \\ ".join(align_rows("g", chunks(d.g_read)))
                + r".\end{align*}",
                "Multiplying out, this simplifies, by",
                itemize([rf"\item ${identity_latex(u)}$" for u in used]), "to"]
    else:
        out.append("Finally we got that")
    if d.g_general is not None:
        out += [boxed(d.g_general, box=False)] + symmetric(d)
    else:
        out.append(boxed(d.g))
    if d.notation == "diag" and any(isinstance(n, DiagMat) for n in postorder(d.g)):
        out.append(r"Here $\operatorname{diag}(f'(z))$ is the Jacobian of the elementwise function $f$ at $z$ "
                   r"(the diagonal matrix with $f'(z_i)$ on its diagonal).")
    if d.auxiliary and d.g_inline != d.g:
        rows = align_rows("g", chunks(d.g_inline))
        out += ["With the auxiliary variables substituted back,",
                r"\begin{align*}" + r" \\ ".join(rows) + r".\end{align*}"]
    if d.g_elementwise is not None:
        used = [part.strip() for r, i in _rules_used(d.elementwise_steps) if i and r in ELEMENTWISE_CITED
                for part in formula_of(i).split(";") if part.strip()]
        rows = align_rows("g", chunks(d.g_elementwise))
        out += (["Written elementwise, by", itemize([rf"\item ${identity_latex(u)}$" for u in used]), "this is"]
                if used else ["Written elementwise, this is"])
        out.append(r"\begin{align*}" + r" \\ ".join(rows) + r".\end{align*}")
    return out


# the identities cited for the elementwise form of the answer (the other rules only tidy up)
ELEMENTWISE_CITED = {"diag_times_column", "entrywise_normal_form", "diag_sums", "even_derivatives",
                     "half_powers", "known_derivative"}


def numerical_check(d: Derivation, report: CheckReport) -> list:
    p = d.problem
    w = latex_name(d.wrt.name)
    sizes = ", ".join(f"${latex_name(k)} = {v}$" for k, v in report.sizes.items())
    stand = []
    for name in sorted({n.fn.name for n in postorder(p.f) if isinstance(n, Apply)
                        and n.fn.name not in ELEMENTWISE}):
        a, b = stand_in(name)
        stand.append(rf"${function_name(name)}(t) = \sin({a:.3g}\,t + {b:.3g})$")
    rows = "".join(rf"{i + 1} & ${r.numeric:.10g}$ & ${r.symbolic:.10g}$ & ${_sci(r.error)}$\\"
                   for i, r in enumerate(report.rows))
    verdict = "agree" if report.ok else "DISAGREE"
    out = [r"\subsection*{Numerical check}",
           rf"At random inputs{f' ({sizes})' if sizes else ''}{', with ' + _listing(stand) if stand else ''}, "
           rf"the directional "
           rf"derivative $\langle g, \Delta\rangle$ for a random direction $\Delta$ is compared with the "
           rf"central difference $\bigl(f({w} + h\Delta) - f({w} - h\Delta)\bigr)/2h$. They {verdict}:",
           r"\begin{center}\begin{tabular}{rrrr}\hline "
           r"inputs & finite differences & $\langle g, \Delta\rangle$ & relative error\\\hline "
           + rows + r"\hline\end{tabular}\end{center}"]
    return out


def _sci(x: float) -> str:
    """1.2e-08 -> 1.2 \\cdot 10^{-8}"""
    m, e = f"{x:.1e}".split("e")
    return rf"{m} \cdot 10^{{{int(e)}}}"


PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage[a4paper,margin=2.2cm]{geometry}
\usepackage{amsmath,amssymb}
\IfFileExists{tikz.sty}{\usepackage{tikz}}{}
\allowdisplaybreaks
\setlength{\parindent}{0pt}
\setlength{\parskip}{0.5em}
\renewcommand{\labelitemi}{$\bullet$}
"""


def document(ds: list, checks: list | None = None, title: str = "") -> str:
    """The whole sheet: the question, the graph once, then one part per variable (for one variable,
    the definition of the gradient first, as the sheets begin)."""
    body = question(ds) + [r"\section*{Solution}"]
    if len(ds) == 1:
        body += definition(ds[0])
    body += graph(ds[0])
    for i, d in enumerate(ds):
        part = (definition(d) if len(ds) > 1 else []) + differentials(d) + backpropagation(d) + \
            trace_steps(d) + result(d)
        if checks:
            part += numerical_check(d, checks[i])
        if len(ds) > 1:
            part = [rf"\section*{{The gradient with respect to ${latex_name(d.wrt.name)}$}}"] + part
        body += part
    head = PREAMBLE + (rf"\title{{{text(title)}}}\date{{}}" if title else "")
    return head + "\\begin{document}\n" + ("\\maketitle\n" if title else "") + _join(body) + \
        "\n\\end{document}\n"


DISPLAY = (r"\[", r"\begin{align", r"\begin{itemize}", r"\begin{center}")


def _join(parts: list) -> str:
    """Paragraphs apart; a display or a list stays in the paragraph it continues (no blank line
    before it), as one writes 'we define ... : <display>', so that no empty paragraph adds space."""
    out = parts[0]
    for p in parts[1:]:
        out += ("\n" if p.startswith(DISPLAY) else "\n\n") + p
    return out


__all__ = ["build_sheet", "solution_sheet", "document", "without_picture", "identity_latex", "chunks", "compile_pdf", "write_pdf",
           "RULE_NAMES"]


def build_sheet(problem, wrt, notation: str = "diag", check: bool = False) -> tuple:
    """(LaTeX document, [Derivation], [CheckReport] or None) for the gradient of problem (a Problem)
    with respect to each name in wrt."""
    names = [wrt] if isinstance(wrt, str) else list(wrt)
    ds = [derive(problem, w, notation) for w in names]
    reports = [d.check() for d in ds] if check else None
    return document(ds, reports), ds, reports


def solution_sheet(problem, wrt, notation: str = "diag", check: bool = False) -> str:
    """The LaTeX document deriving the gradient of problem (a Problem) with respect to each name in wrt."""
    return build_sheet(problem, wrt, notation, check)[0]
