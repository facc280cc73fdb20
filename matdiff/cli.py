"""The `matdiff` command: argparse subcommands that wire the stages together; no math here."""
from __future__ import annotations

import argparse
import os
import re
import sys
import warnings

from matdiff import __version__
from matdiff.errors import MatdiffError, MatdiffWarning
from matdiff.limits import LIMITS, budgeted, refuse

EXAMPLES = """examples:
  matdiff parse 'c^T Psi((W + V) Phi(W x + b))'
  matdiff grad 'c^T Psi((W + V) Phi(W x + b))' --wrt W --check
  matdiff diff 'inv(A)'
  matdiff check 'x^T A x' --wrt x --claim '2 A x'
  matdiff sheet 'c^T Psi((W + V) Phi(W x + b))' --wrt W -o solution.tex --pdf
  matdiff jacobian 'tanh(W x)' --wrt x --check
  matdiff hessian 'logdet(X)' --wrt X
  matdiff hessian '1/2 ||W2 tanh(W1 x) - t||^2' --wrt W1 --diagonal
  matdiff parse program.txt --shape W=n,m --shape x=m
  echo 'x^T A x' | matdiff parse -
  matdiff serve                     # the page in the browser (pip install "matdiff[web]")
"""


def read_source(arg: str) -> str:
    """An argument is an expression, a path to a file holding a program, or - for stdin.
    Standard input and files are read only up to the length limit (one character more, to tell
    that it is past it), so that a huge input is refused without being held in memory."""
    if arg == "-":
        try:
            return _bounded(sys.stdin.read(LIMITS.max_length + 1), "standard input")
        except (OSError, UnicodeDecodeError) as e:
            raise MatdiffError(f"cannot read standard input: {e}") from None
    if os.path.isfile(arg):
        try:
            with open(arg, encoding="utf-8-sig") as f:      # -sig: a byte-order mark is no character
                return _bounded(f.read(LIMITS.max_length + 1), arg)
        except (OSError, UnicodeDecodeError) as e:
            raise MatdiffError(f"cannot read {arg}: {e}") from None
    if re.fullmatch(r"[\w./\\~-]*\.[A-Za-z]\w*", arg):
        raise MatdiffError(f"no such file: {arg} (an argument is an expression, a file, or - for stdin)")
    return arg


def _bounded(text: str, where: str) -> str:
    if len(text) > LIMITS.max_length:
        raise refuse(f"{where} is longer than {LIMITS.max_length} characters", "length", LIMITS.max_length)
    return text


def parse_shape(text: str) -> tuple:
    """'W=n,m' -> ('W', ('n', 'm')); 'x=n' -> ('x', ('n',)); 'alpha=' -> ('alpha', ()).
    The dimensions stay text: the API reads them (digits, a name, or an error) as for any caller."""
    name, eq, dims = text.partition("=")
    if not eq or not name.strip():
        raise MatdiffError(f"--shape {text}: expected NAME=DIMS, such as W=n,m or x=n or alpha= for a scalar")
    parts = [d.strip() for d in dims.split(",")] if dims.strip() else []
    return name.strip(), tuple(parts)


def common(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="EXPR_OR_FILE", help="an expression, a file holding a program, or - for stdin")
    p.add_argument("--shape", action="append", default=[], metavar="NAME=DIMS",
                   help="declare a shape: W=n,m (matrix), x=n (vector), alpha= (scalar), S=n,n,sym "
                        "(symmetric), S=n,n,spd (symmetric positive definite); repeatable")
    p.add_argument("--fn", action="append", default=[], metavar="NAME",
                   help="declare an extra abstract elementwise function; repeatable")
    p.add_argument("--limit", action="append", default=[], metavar="NAME=N",
                   help="raise or lower a limit: length, lines, depth, power, seconds; repeatable")
    p.add_argument("--from", dest="syntax", choices=("auto", "latex", "matdiff"), default="auto",
                   help="how to read the expression: latex (LaTeX math, as a course sheet writes it), matdiff "
                        "(matdiff's notation), auto (default: LaTeX between $…$, $$…$$, \\(…\\) or \\[…\\], "
                        "otherwise matdiff's notation); a --claim in $…$ is always LaTeX")


def problem_args(a) -> dict:
    return dict(shapes=dict(parse_shape(s) for s in a.shape), functions=a.fn, syntax=a.syntax)


def cmd_parse(a) -> int:
    from matdiff.api import understand
    from matdiff.printing.text import program_text
    from matdiff.language.inference import STRUCTURES
    from matdiff.language.problem import listed_inputs, user_shape
    from matdiff.language.shapes import shape_text

    shaped = understand(read_source(a.source), **problem_args(a))
    print("\n".join(program_text(shaped)))
    order = listed_inputs(shaped)
    shapes = "  ".join(f"{n}: {shape_text(shaped.inputs[n])}"
                       + (f" {STRUCTURES[shaped.structure[n]]}" if n in shaped.structure else "") for n in order)
    out = shape_text(user_shape(shaped.expr))
    print(f"{shapes}  → {out}" if shapes else f"→ {out}")
    return 0


def wrt_list(a) -> list:
    if not a.wrt:
        raise MatdiffError("say which variable to differentiate with respect to: --wrt W")
    return a.wrt


def cmd_grad(a) -> int:
    from matdiff.api import derive_gradient

    if getattr(a, "emit", None):
        from matdiff.codegen.generate import emit
        print(emit(read_source(a.source), wrt_list(a), a.emit, **problem_args(a)), end="")
        return 0
    g = derive_gradient(read_source(a.source), wrt_list(a), **problem_args(a))
    print(g.text())
    if a.sympy:
        from matdiff.printing.sympy_latex import sympy_str       # SymPy's str, without a doit per product
        for w, e in g.sympy().items():
            print(f"sympy ∂/∂{w}: {sympy_str(e)}")
    if getattr(a, "latex", False):
        from matdiff.printing.latex import aligned
        print(aligned(g.latex_lines()))
    if a.check:
        report = g.check()
        print(report)
        return 0 if report.ok else 1
    return 0


def cmd_diff(a) -> int:
    from matdiff.api import derive_differential
    from matdiff.printing.text import to_text

    p, d = derive_differential(read_source(a.source), a.wrt or None, **problem_args(a))
    f = p.shaped.name or "f"
    print(f"d{f} = {to_text(d)}")
    return 0


def cmd_check(a) -> int:
    from matdiff.api import check

    wrt = wrt_list(a)
    if a.claim is not None and len(wrt) != 1:
        raise MatdiffError("--claim checks the gradient with respect to one variable: give one --wrt")
    report = check(read_source(a.source), wrt[0] if a.claim is not None else wrt, claim=a.claim,
                   **problem_args(a))
    print(report)
    return 0 if report.ok else 1


def cmd_second(kind: str):
    """matdiff jacobian / matdiff hessian: one result per --wrt, then --sympy, --latex, --check."""
    def run(a) -> int:
        from matdiff.language.problem import Problem
        from matdiff.calculus.second_order import hessian_of, jacobian_of

        p = Problem.of(read_source(a.source), **problem_args(a))
        ok = True
        for w in wrt_list(a):
            d = jacobian_of(p, w) if kind == "jacobian" else hessian_of(p, w, a.diagonal)
            print(d.text())
            if a.sympy:
                from matdiff.printing.sympy_latex import sympy_str
                print(f"sympy: {sympy_str(d.sympy())}")
            if a.latex:
                from matdiff.printing.latex import aligned
                print(aligned(d.latex_lines()))
            if a.check:
                report = d.check()
                print(report)
                ok = ok and report.ok
        return 0 if ok else 1
    return run


def second_options(diagonal: bool):
    def options(p):
        grad_options(p)
        p.add_argument("--latex", action="store_true", help="also print the result as LaTeX")
        if diagonal:
            p.add_argument("--diagonal", action="store_true",
                           help="only d²f/dX_ij², shaped like X: second derivatives back-propagated "
                                "(Becker–LeCun; exact for one layer)")
    return options


def grad_options(p):
    p.add_argument("--wrt", action="append", default=[], metavar="NAME",
                   help="the variable to differentiate with respect to; repeatable")
    p.add_argument("--check", action="store_true", help="check the result numerically at random inputs")
    p.add_argument("--sympy", action="store_true", help="also print the SymPy expression")


def grad_latex_options(p):
    grad_options(p)
    p.add_argument("--latex", action="store_true", help="also print the result as LaTeX")
    p.add_argument("--emit", choices=("numpy", "jax", "torch"), metavar="BACKEND",
                   help="print generated code instead: a function returning the value and the gradients "
                        "(numpy, jax or torch)")


def cmd_sheet(a) -> int:
    from matdiff.sheets.document import build_sheet, write_pdf
    from matdiff.language.problem import Problem

    p = Problem.of(read_source(a.source), **problem_args(a))
    tex, _, reports = build_sheet(p, wrt_list(a), notation=a.notation, check=a.check)
    if a.pdf:
        try:
            pdf = write_pdf(tex, a.output)      # raises MatdiffError when pdflatex is missing or fails
        except OSError as e:
            raise MatdiffError(f"cannot write {e.filename or a.output or 'the PDF'}: {e.strerror or e}") from None
        print(f"wrote {pdf}", file=sys.stderr)
    elif a.output:
        try:
            with open(a.output, "w", encoding="utf-8") as f:
                f.write(tex)
        except OSError as e:                    # a directory, a missing folder, no permission
            raise MatdiffError(f"-o {a.output}: cannot write the sheet there: {e.strerror or e}") from None
        print(f"wrote {a.output}", file=sys.stderr)
    else:
        sys.stdout.write(tex)
    if reports and not all(r.ok for r in reports):
        print("matdiff: the numerical check of the sheet's result FAILED", file=sys.stderr)
        return 1
    return 0


def sheet_options(p):
    p.add_argument("--wrt", action="append", default=[], metavar="NAME",
                   help="the variable to differentiate with respect to; repeatable (a section each)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write the sheet here (default: standard output); with --pdf, FILE.pdf (and FILE.tex)")
    p.add_argument("--pdf", action="store_true", help="compile with pdflatex (no shell escape) into a PDF")
    p.add_argument("--notation", choices=("diag", "hadamard"), default="diag",
                   help="Jacobians of elementwise functions as diag(f'(z)) dz (default, as the sheets) "
                        "or as Hadamard products f'(z) ∘ dz")
    p.add_argument("--check", action="store_true", help="add the numerical check of the result")


def diff_options(p):
    p.add_argument("--wrt", action="append", default=[], metavar="NAME",
                   help="only these variables vary (default: all); repeatable")


def check_options(p):
    p.add_argument("--wrt", action="append", default=[], metavar="NAME", help="the variable; repeatable")
    p.add_argument("--claim", metavar="EXPR", help="a claimed gradient to check (one --wrt)")


def cmd_serve(a) -> int:
    from matdiff.web.server import serve
    serve(a.host, a.port, open_browser=not a.no_browser)
    return 0


def serve_options(p):
    p.add_argument("--port", type=int, default=0, help="the port (default: a free one)")
    p.add_argument("--host", default="127.0.0.1",
                   help="the address to listen on (default 127.0.0.1, this machine only; another one "
                        "lets other machines run derivations here, and a warning says so)")
    p.add_argument("--no-browser", action="store_true", help="do not open the page in a browser")
    p.add_argument("--limit", action="append", default=[], metavar="NAME=N",
                   help="limits for every request: length, lines, depth, power, seconds; repeatable")


COMMANDS = {
    "parse": (cmd_parse, None, "show the expression as understood, with every shape"),
    "grad": (cmd_grad, grad_latex_options, "the gradient of a scalar function, in closed form"),
    "sheet": (cmd_sheet, sheet_options, "a step-by-step solution sheet deriving the gradient (LaTeX, or PDF)"),
    "diff": (cmd_diff, diff_options, "the differential"),
    "check": (cmd_check, check_options, "check a gradient, or a claimed one, against finite differences"),
    "jacobian": (cmd_second("jacobian"), second_options(False),
                 "the Jacobian J with dvec(y) = J dvec(x) (m x n for y in R^m, x in R^n)"),
    "hessian": (cmd_second("hessian"), second_options(True),
                "the Hessian of a scalar function; for a matrix X, d²f = vec(dX)^T H vec(dX)"),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="matdiff", description="Symbolic matrix calculus: gradients in closed form, checked.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"matdiff {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, (fn, options, help_) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_, description=help_)
        common(sp)
        if options:
            options(sp)
        sp.set_defaults(run=fn)
    sp = sub.add_parser("serve", help=SERVE_HELP, description=SERVE_HELP + ' (needs pip install "matdiff[web]")')
    serve_options(sp)
    sp.set_defaults(run=cmd_serve, serving=True)
    return p


SERVE_HELP = "a page in the browser: type a formula, see its gradient, steps, graph, check and code"


def _option_strings(parser: argparse.ArgumentParser, command: str) -> tuple:
    """(every option string, those that take a value -> their long form) of the command.
    argparse lists its options only in _actions; this reads them, it changes nothing."""
    parsers = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            parsers.append(action.choices[command])
    every, valued = set(), {}
    for p in parsers:
        for action in p._actions:
            every.update(action.option_strings)
            if action.option_strings and action.nargs != 0:
                longest = max(action.option_strings, key=len)
                valued.update({s: longest for s in action.option_strings})
    return every, valued


def minus_values(argv: list, parser: argparse.ArgumentParser) -> list:
    """argparse reads a word that starts with '-' as an option, but expressions often start with
    a minus: `--claim -X^-T` would lack its value and `matdiff parse -x` its expression. A word
    after an option that takes a value is that value (`--claim=-X^-T`); a word that is no option
    and stands alone is the expression (moved after `--`). Known options, `--` and anything
    after it are left as they are."""
    if not argv or argv[0] not in COMMANDS:
        return argv                        # no command: argparse says what is missing
    every, valued = _option_strings(parser, argv[0])
    out, loose, i = [argv[0]], [], 1
    while i < len(argv):
        word = argv[i]
        if word == "--":
            out.extend(argv[i:])
            break
        if word in valued and i + 1 < len(argv):
            value = argv[i + 1]
            if value.startswith("-") and value not in every and not value.startswith("--"):
                out.append(f"{valued[word]}={value}")
            else:
                out.extend((word, value))
            i += 2
            continue
        if (len(word) > 1 and word.startswith("-") and not word.startswith("--")
                and word[:2] not in every):               # -X^-T, -x; not -h, -o FILE, -ofile
            loose.append(word)
        else:
            out.append(word)
        i += 1
    if loose and "--" not in out:
        out += ["--", *loose]
    else:
        out += loose
    return out
def _note_printer(show):
    """A reading the user may not have meant (MatdiffWarning) prints as a `note: ...` line on
    standard error, once per command (a command may read its input more than once); any other
    warning as Python prints it."""
    shown: set = set()

    def note(message, category, filename, lineno, file=None, line=None):
        if not issubclass(category, MatdiffWarning):
            return show(message, category, filename, lineno, file, line)
        if str(message) not in shown:
            shown.add(str(message))
            print(f"note: {message}", file=sys.stderr)
    return note


def main(argv=None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    a = parser.parse_args(minus_values(argv, parser))
    if not getattr(a, "run", None):
        parser.print_help()
        return 2
    saved = vars(LIMITS).copy()             # --limit holds for this command only (main() called from Python)
    try:
        for item in getattr(a, "limit", []):
            name, _, value = item.partition("=")
            LIMITS.set(name.strip(), value.strip())
        with warnings.catch_warnings():
            warnings.showwarning = _note_printer(warnings.showwarning)
            warnings.simplefilter("always", MatdiffWarning)
            if getattr(a, "serving", False):
                return a.run(a)                   # each request has a budget of its own, in its own thread
            return budgeted(a.run)(a)             # the whole command, printing included, in one budget
    except MatdiffError as e:
        print(f"matdiff: error: {e}", file=sys.stderr)
        return 2
    except RecursionError:
        print("matdiff: error: the expression is nested too deeply", file=sys.stderr)
        return 2
    except MemoryError:                     # e.g. --check with --shape x=100000000 (an 800 MB array)
        print("matdiff: error: out of memory: the sizes asked for are too large (declare smaller "
              "dimensions with --shape, or leave them open)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:                 # `matdiff grad ... | head`
        sys.stderr.close()
        return 0
    finally:
        vars(LIMITS).update(saved)
