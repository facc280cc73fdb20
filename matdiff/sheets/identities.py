"""A rule's identity, as written in its docstring or comment -> LaTeX math, for the solution sheets.

'd(X^-1) = -X^-1 dX X^-1' becomes d(X^{-1}) = -X^{-1} \\, dX \\, X^{-1}; '<M, P ∘ E> = <P ∘ M, E>
(Frobenius/Hadamard swap)' splits into the formula and its remark. English words go in
\\text, and nothing in an identity can inject LaTeX: every special character is escaped.
"""
from __future__ import annotations

import re

from matdiff.printing.latex import latex_name


def text(s: str) -> str:
    """Plain text for LaTeX's text mode: every special character escaped."""
    table = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
             "%": r"\%", "_": r"\_", "^": r"\^{}", "~": r"\~{}"}
    return "".join(table.get(c, c) if c.isascii() else "?" for c in s)


# ---- identities, from the rules' docstrings and comments --------------------------------------------

_TOKEN = re.compile(r"(?P<ws>\s+)|(?P<dims>\d+x\d+)|(?P<num>\d+)"
                    r"|(?P<op>->|\./|\.\^|\^-1|\^-T|\^T|\^|\|\||[<>∘⊗=+\-/,;:.()'*])"
                    r"|(?P<word>[A-Za-z][A-Za-z_0-9]*)|(?P<other>.)")
_OPS = {"->": r"\to ", "./": r"\oslash ", "<": r"\langle ", ">": r"\rangle ", "∘": r"\odot ", "⊗": r"\otimes ", "^T": r"^{\top}",
        "^-1": "^{-1}", "^-T": r"^{-\top}", "*": r"\cdot ", "'": "'", "=": "=", "+": "+", "-": "-",
        "/": "/", ",": ",", ";": ";", ":": ":", ".": ".", "(": "(", ")": ")"}
_FUNCS = {"ONES": r"\mathbf{1}\mathbf{1}^{\top}", "ONE": r"\mathbf{1}", "tr": r"\operatorname{tr}", "Tr": r"\operatorname{tr}", "det": r"\det", "logdet": r"\log\det",
          "log": r"\log", "exp": r"\exp", "sum": r"\operatorname{sum}", "sum_i": r"\sum_{i}",
          "softmax": r"\operatorname{softmax}", "logsumexp": r"\operatorname{logsumexp}",
          **{f"{f}_{axis}": rf"\operatorname{{{f}}}_{{\text{{{axis}}}}}" for f in ("softmax", "logsumexp")
             for axis in ("rows", "cols")},
          "logsoftmax": r"\operatorname{logsoftmax}", "logsoftmax_rows": r"\operatorname{logsoftmax}_{\text{rows}}",
          "vec": r"\operatorname{vec}", "unvec": r"\operatorname{unvec}", "diag": r"\operatorname{diag}",
          "sigmoid": r"\sigma", "tanh": r"\tanh", "sqrt": r"\operatorname{sqrt}"}


def _math_word(w: str) -> bool:
    return bool(re.fullmatch(r"d?[A-Za-z]\d*|[A-Za-z]\d*", w)) or w in _FUNCS


def identity_latex(s: str) -> str:
    """An identity as written in a rule's docstring ('d(X^-1) = -X^-1 dX X^-1', '<M, P ∘ E> =
    <P ∘ M, E>   (Frobenius/Hadamard swap)') -> LaTeX math. English words go in \\text."""
    s = re.sub(r"\b(softmax|logsumexp|logsoftmax)\((\w+), (rows|cols)\)", r"\1_\3(\2)", s)   # softmax(Z, rows)
    s = re.sub(r"\b1 1\^T", "ONES", s)           # the matrix of ones, 1 1^T
    s = re.sub(r"\) 1(?=$| and )", ") ONE", s)     # (S ∘ dZ) 1: the sum of each row
    s = re.sub(r"\b1\^T|(?<=diag\()1(?=\))|(?<=\()1(?= ⊗)|(?<=⊗ )1(?=\))",
               lambda m: "ONE" + m.group()[1:], s)       # 1^T x, diag(1), (1 ⊗ I), (I ⊗ 1)
    toks = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(s)]
    words = [i for i, (k, _) in enumerate(toks) if k == "word"]
    english = {i for i in words if not _math_word(toks[i][1])}
    for i in words:             # 'a' and 'is' next to English words are English ('for a constant')
        near = [j for j in words if abs(words.index(j) - words.index(i)) == 1]
        if toks[i][1] in ("a", "s", "is", "of", "in") and any(j in english for j in near):
            english.add(i)
    out: list = []
    bars = 0
    i = 0
    while i < len(toks):
        kind, t = toks[i]
        if i in english:
            j = i
            while j + 1 < len(toks) and (j + 1 in english or (toks[j + 1][0] == "ws" and j + 2 in english)):
                j += 1
            left = " " if i and toks[i - 1][1] not in ("(",) else ""
            right = " " if j + 1 < len(toks) and toks[j + 1][1] not in (")", ",", ".", ";", ":") else ""
            out.append(r"\text{" + left + text("".join(t for _, t in toks[i:j + 1])) + right + "}")
            i = j + 1
            continue
        if kind == "ws":
            nxt = toks[i + 1] if i + 1 < len(toks) else ("", "")
            prev = toks[i - 1] if i else ("", "")
            juxtaposed = (prev[0] in ("word", "num") or prev[1] in (")", "^T", "^-1", "^-T", "'")) and \
                (nxt[0] == "word" or nxt[1] == "(") and i + 1 not in english and i - 1 not in english
            out.append(r"\quad " if len(t) > 2 else r"\, " if juxtaposed else " ")
        elif kind == "dims":
            a, b = t.split("x")
            out.append(rf"{a}\times {b}")
        elif kind == "num":
            out.append(t)
        elif kind == "word":
            out.append(_FUNCS.get(t) or (("d" + latex_name(t[1:])) if len(t) > 1 and t[0] == "d"
                                          and t[1:2].isalpha() else latex_name(t)) + " ")
        elif t in ("^", ".^"):
            # the exponent: the next word, number or parenthesised group
            j = i + 1
            while j < len(toks) and toks[j][0] == "ws":
                j += 1
            if j < len(toks) and toks[j][1] == "(":
                depth, k = 0, j
                while k < len(toks):
                    depth += toks[k][1] == "("
                    depth -= toks[k][1] == ")"
                    if depth == 0:
                        break
                    k += 1
                inner = identity_latex("".join(t for _, t in toks[j + 1:k]))
                i = k
            elif j < len(toks):
                inner = identity_latex(toks[j][1])
                i = j
            else:
                inner = ""
            circ = r"\circ " if t == ".^" else ""
            out.append("^{" + circ + inner + "}")
        elif t == "||":
            out.append(r"\lVert " if bars % 2 == 0 else r"\rVert ")
            bars += 1
        elif t in _OPS:
            out.append(_OPS[t])
        else:
            out.append("?")
        i += 1
    return "".join(out).strip()


def split_identity(identity: str) -> tuple:
    """'<M, A + B> = ...   (linearity of the trace)' -> ('<M, A + B> = ...', 'linearity of the trace')."""
    m = re.match(r"(.*?)\s{2,}\((.*)\)\s*$", identity)
    return (m.group(1), m.group(2)) if m else (identity, "")


def formula_of(identity: str) -> str:
    """An identity without its explanation ('A x + B x = (A + B) x: the first shared ...')."""
    formula = split_identity(identity)[0]
    return re.sub(r":\s+[a-z][^=]*$", "", formula).strip()
