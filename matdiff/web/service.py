"""The JSON API's work, without HTTP: a request (a dict read from JSON) -> a response (a dict for JSON).

    derive(request)  every part the page shows: the input as understood, its variables and shapes,
                     the result (text and LaTeX), the steps of the solution sheet, the computational
                     graph, the numerical check, the generated code
    sheet(request)   the solution sheet as .tex or .pdf bytes, for a download
    info()           the version, whether pdflatex is here, the limits

server.py puts these behind POST /api/derive, POST /api/sheet and GET /api/info; tests call them
directly too. A request that fails as a whole raises MatdiffError (the server answers 400, 413
or 504 with `error_body`); a part that fails alone (code for a word the code generator lacks)
is reported under "errors" and the other parts still come.
"""
from __future__ import annotations

import time

from matdiff import __version__
from matdiff.errors import LimitError, MatdiffError, ParseError, collected_notes
from matdiff.limits import LIMITS, budgeted

KINDS = ("gradient", "jacobian", "hessian")
PARTS = ("result", "steps", "graph", "check", "code")
BACKENDS = ("numpy", "jax", "torch")

# field -> (the JSON types it may have, what the error message says it is)
FIELDS = {
    "expr": ((str,), "a string: the expression or program"),
    "wrt": ((str, list), "a name or a list of names"),
    "kind": ((str,), f"one of {', '.join(KINDS)}"),
    "shapes": ((dict,), 'an object such as {"W": "n,m", "x": "m", "alpha": ""}'),
    "functions": ((list,), "a list of names of abstract elementwise functions"),
    "syntax": ((str,), "one of auto, latex, matdiff"),
    "notation": ((str,), "one of diag, hadamard"),
    "parts": ((list,), f"a list of {', '.join(PARTS)}"),
    "format": ((str,), "tex or pdf"),
}


class Request:
    """A request's fields, checked: every mistake in it is a MatdiffError that names the field."""

    def __init__(self, body):
        if not isinstance(body, dict):
            raise MatdiffError(f"the request body is a JSON object with at least \"expr\", got {type(body).__name__}")
        unknown = sorted(set(body) - set(FIELDS))
        if unknown:
            raise MatdiffError(f"unknown field {unknown[0]!r} in the request; the fields: {', '.join(FIELDS)}")
        for name, value in body.items():
            types, what = FIELDS[name]
            if not isinstance(value, types) or isinstance(value, bool):
                raise MatdiffError(f"\"{name}\" must be {what}, got {type(value).__name__}")
        if "expr" not in body:
            raise MatdiffError('the request has no "expr": the expression to differentiate')
        self.expr: str = body["expr"]
        wrt = body.get("wrt", [])
        self.wrt: list = [wrt] if isinstance(wrt, str) else wrt
        self.kind: str = self._choice(body, "kind", KINDS, "gradient")
        self.syntax: str = self._choice(body, "syntax", ("auto", "latex", "matdiff"), "auto")
        self.notation: str = self._choice(body, "notation", ("diag", "hadamard"), "diag")
        self.format: str = self._choice(body, "format", ("tex", "pdf"), "tex")
        self.parts: list = body.get("parts", list(PARTS))
        self.functions: list = body.get("functions", [])
        for name, items in (("wrt", self.wrt), ("functions", self.functions), ("parts", self.parts)):
            if not all(isinstance(i, str) for i in items):
                raise MatdiffError(f"\"{name}\" must be {FIELDS[name][1]}")
        if set(self.parts) - set(PARTS):
            raise MatdiffError(f"unknown part {sorted(set(self.parts) - set(PARTS))[0]!r}; the parts: {', '.join(PARTS)}")
        self.shapes: dict = {name: self._dims(name, dims) for name, dims in body.get("shapes", {}).items()}

    @staticmethod
    def _choice(body: dict, name: str, choices: tuple, default: str) -> str:
        value = body.get(name, default)
        if value not in choices:
            raise MatdiffError(f"\"{name}\" must be one of {', '.join(choices)}, got {value!r}")
        return value

    @staticmethod
    def _dims(name: str, dims) -> tuple:
        """"n,m" (as the CLI's --shape W=n,m), ["n", "m"], or "" for a scalar -> ("n", "m")."""
        if isinstance(dims, str):
            from matdiff.cli import parse_shape        # the one reading of NAME=DIMS
            return parse_shape(f"{name}={dims}")[1]
        if isinstance(dims, list) and all(isinstance(d, (str, int)) and not isinstance(d, bool) for d in dims):
            return tuple(str(d) for d in dims)
        raise MatdiffError(f"the shape of {name} must be a string such as \"n,m\" or a list such as "
                           f"[\"n\", \"m\"], got {dims!r}")


# ---- the parts --------------------------------------------------------------------------------------

def _variables(shaped) -> list:
    from matdiff.language.dims import dim_text, shape_text
    from matdiff.language.inference import STRUCTURES
    from matdiff.language.problem import listed_inputs
    order = listed_inputs(shaped)
    return [{"name": n, "shape": [dim_text(d) for d in shaped.inputs[n]],
             "shape_text": shape_text(shaped.inputs[n]),
             "kind": ("scalar", "vector", "matrix")[len(shaped.inputs[n])],
             "structure": STRUCTURES.get(shaped.structure.get(n))} for n in order]


def _input(shaped) -> tuple:
    """The input as understood (text and LaTeX, as `matdiff parse` and `matdiff.latex` print it)
    and the shape of its value."""
    from matdiff.language.dims import shape_text
    from matdiff.language.problem import user_shape
    from matdiff.printing.latex import program_latex
    from matdiff.printing.text import program_text
    return ({"text": "\n".join(program_text(shaped)), "latex": program_latex(shaped)},
            shape_text(user_shape(shaped.expr)))


def _report(reports: list) -> dict:
    return {"ok": all(r.ok for r in reports), "text": "\n".join(str(r) for r in reports)}


class _Work:
    """One request's derivation, each piece computed once and shared by the parts that need it."""

    def __init__(self, req: Request, problem):
        self.req, self.problem = req, problem
        self._results = None

    def results(self):
        """The Gradient, or [DerivativeMatrix] per wrt."""
        if self._results is None:
            from matdiff.calculus.gradient import gradient_of
            from matdiff.calculus.second_order import hessian_of, jacobian_of
            p, wrt = self.problem, self.req.wrt
            if self.req.kind == "gradient":
                self._results = gradient_of(p, wrt)
            elif self.req.kind == "jacobian":
                self._results = [jacobian_of(p, w) for w in wrt]
            else:
                self._results = [hessian_of(p, w) for w in wrt]
        return self._results

    def result(self) -> dict:
        from matdiff.printing.latex import aligned
        r = self.results()
        if self.req.kind == "gradient":
            return {"text": r.text(), "latex": aligned(r.latex_lines())}
        return {"text": "\n".join(d.text() for d in r),
                "latex": aligned([line for d in r for line in d.latex_lines()])}

    def check(self) -> dict:
        r = self.results()
        return _report([r.check()] if self.req.kind == "gradient" else [d.check() for d in r])

    def steps(self):
        if self.req.kind != "gradient":
            return None                 # the sheets derive gradients
        from matdiff.sheets.document import build_sheet
        from matdiff.web.steps import sheet_blocks
        tex, _, _ = build_sheet(self.problem, self.req.wrt, self.req.notation)
        return sheet_blocks(tex)

    def graph(self) -> dict:
        from matdiff.graph import graph_of
        g = graph_of(self.problem, self.req.wrt)
        return {**g.to_dict(), "svg": g.svg()}

    def code(self):
        if self.req.kind == "jacobian":
            return None                 # generated code returns the value, gradients and Hessians
        from matdiff.codegen.generate import generate, implementations
        _, builtin, _ = implementations(self.req.functions)
        return {b: generate(self.problem, self.req.wrt, b, builtin, self.req.kind == "hessian").text
                for b in BACKENDS}


@budgeted
def derive(body) -> dict:
    """POST /api/derive: see WEB API in the README."""
    from matdiff.language.problem import Problem
    start = time.monotonic()
    req = Request(body)
    with collected_notes() as notes:
        problem = Problem.of(req.expr, req.shapes, req.functions, req.syntax)
        text, output = _input(problem.shaped)
        out = {"ok": True, "input": text, "variables": _variables(problem.shaped), "output": output,
               "wrt": req.wrt, "kind": req.kind, **{part: None for part in PARTS}, "notes": notes,
               "errors": {}}
        if req.wrt:
            for name in req.wrt:
                problem.var(name)       # a name the function does not have: the whole request's error
            work = _Work(req, problem)
            if "result" in req.parts or "check" in req.parts:
                work.results()          # fails as a whole: nothing else can be right either
            for part in PARTS:
                if part not in req.parts:
                    continue
                try:
                    out[part] = getattr(work, part)()
                except LimitError:
                    raise
                except MatdiffError as e:
                    out["errors"][part] = str(e)
    out["notes"] = list(notes)
    out["seconds"] = round(time.monotonic() - start, 4)
    return out


@budgeted
def sheet(body) -> tuple:
    """POST /api/sheet: (bytes, media type, file name) of the .tex or .pdf solution sheet."""
    from matdiff.language.problem import Problem
    from matdiff.sheets.document import build_sheet
    req = Request(body)
    if req.kind != "gradient":
        raise MatdiffError(f"a solution sheet derives a gradient, not a {req.kind}")
    if not req.wrt:
        raise MatdiffError('say which variable to differentiate with respect to: "wrt": ["W"]')
    with collected_notes():
        tex, _, _ = build_sheet(Problem.of(req.expr, req.shapes, req.functions, req.syntax), req.wrt,
                                req.notation, check=True)
    if req.format == "tex":
        return tex.encode("utf-8"), "application/x-tex", "solution.tex"
    from matdiff.sheets.pdf import compile_pdf
    return compile_pdf(tex), "application/pdf", "solution.pdf"


def info() -> dict:
    """GET /api/info."""
    import shutil
    return {"version": __version__, "pdflatex": shutil.which("pdflatex") is not None,
            "limits": {k[4:]: v for k, v in vars(LIMITS).items()}}


def error_body(e: BaseException) -> dict:
    """The JSON of a failed request: the message, and for an error with a place its line, column
    and the caret the CLI prints (the source line, a ^ under the column)."""
    message = str(e)
    line = getattr(e, "line", None) if isinstance(e, ParseError) else None
    column = getattr(e, "column", None) if isinstance(e, ParseError) else None
    caret = None
    if line is not None and message.count("\n") >= 2:      # 'line 1, column 16: ...\n<source>\n   ^'
        head, *rest = message.rsplit("\n", 2)
        message, caret = head, "\n".join(rest)
    return {"ok": False, "error": {"message": message, "type": type(e).__name__, "line": line,
                                   "column": column, "caret": caret}}


def timeout() -> LimitError:
    """The server stopped waiting for a derivation (its own budget stops it at its next tick)."""
    from matdiff.limits import refuse
    return refuse(f"the derivation took longer than {LIMITS.max_seconds:g} s", "seconds", LIMITS.max_seconds)


def status_of(e: BaseException) -> int:
    """400 bad input; 413 past a size limit; 504 past the time limit."""
    if isinstance(e, LimitError):
        return 504 if getattr(e, "limit", None) == "seconds" else 413
    return 400
