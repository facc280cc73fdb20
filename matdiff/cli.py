"""The `matdiff` command: argparse subcommands that wire the stages together; no math here."""
from __future__ import annotations

import argparse
import os
import sys

from .errors import MatdiffError

EXAMPLES = """examples:
  matdiff parse 'c^T Psi((W + V) Phi(W x + b))'
  matdiff parse program.txt --shape W=n,m --shape x=m
  echo 'x^T A x' | matdiff parse -
"""


def read_source(arg: str) -> str:
    """An argument is an expression, a path to a file holding a program, or - for stdin."""
    if arg == "-":
        return sys.stdin.read()
    if os.path.isfile(arg):
        try:
            with open(arg, encoding="utf-8") as f:
                return f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise MatdiffError(f"cannot read {arg}: {e}") from None
    return arg


def parse_shape(text: str) -> tuple:
    """'W=n,m' -> ('W', ('n', 'm')); 'x=n' -> ('x', ('n',)); 'alpha=' -> ('alpha', ())."""
    name, eq, dims = text.partition("=")
    if not eq or not name.strip():
        raise MatdiffError(f"--shape {text}: expected NAME=DIMS, such as W=n,m or x=n or alpha= for a scalar")
    parts = [d.strip() for d in dims.split(",")] if dims.strip() else []
    return name.strip(), tuple(int(d) if d.isdigit() else d for d in parts)


def common(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="EXPR_OR_FILE", help="an expression, a file holding a program, or - for stdin")
    p.add_argument("--shape", action="append", default=[], metavar="NAME=DIMS",
                   help="declare a shape: W=n,m (matrix), x=n (vector), alpha= (scalar); repeatable")
    p.add_argument("--fn", action="append", default=[], metavar="NAME",
                   help="declare an extra abstract elementwise function; repeatable")


def problem_args(a) -> dict:
    return dict(shapes=dict(parse_shape(s) for s in a.shape), functions=a.fn)


def cmd_parse(a) -> int:
    from .api import understand
    from .printing.text import to_text
    from .shapes import shape_of, shape_text

    shaped = understand(read_source(a.source), **problem_args(a))
    names = shaped.names
    for name, e in shaped.defs:
        print(f"{name} = {to_text(e, names)}")
    result = to_text(shaped.expr, names)
    print(f"{shaped.name} = {result}" if shaped.name else result)
    order = sorted(shaped.inputs, key=lambda n: -len(shaped.inputs[n]))  # matrices, vectors, scalars
    shapes = "  ".join(f"{n}: {shape_text(shaped.inputs[n])}" for n in order)
    r, c = shape_of(shaped.expr)
    out = "scalar" if (r, c) == (1, 1) else shape_text((r,)) if c == 1 else shape_text((r, c))
    print(f"{shapes}  → {out}")
    return 0


COMMANDS = {
    "parse": (cmd_parse, "show the expression as understood, with every shape"),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="matdiff", description="Symbolic matrix calculus: gradients in closed form, checked.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, (fn, help_) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_, description=help_)
        common(sp)
        sp.set_defaults(run=fn)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    if not getattr(a, "run", None):
        parser.print_help()
        return 2
    try:
        return a.run(a)
    except MatdiffError as e:
        print(f"matdiff: error: {e}", file=sys.stderr)
        return 2
    except RecursionError:
        print("matdiff: error: the expression is nested too deeply", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
