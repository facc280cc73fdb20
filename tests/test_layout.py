"""The house: each room imports only rooms below it in the pipeline (CONTRIBUTING.md, "The map").

A room that reached up (the language importing the calculus, say) would make the rooms one tangle
that nobody new can find their way in; this test names every import that does.
"""
from __future__ import annotations

import ast
from pathlib import Path

import matdiff

PACKAGE = Path(matdiff.__file__).parent

# room -> its floor; a room may import rooms on its own floor or below
FLOORS = {
    "errors": 0, "limits": 0,
    "language": 1,
    "printing": 2,
    "checking": 3,
    "calculus": 4,
    "graph": 5,                      # the computational graph: the sheets draw it
    "sheets": 6, "codegen": 6,
    "claims": 7, "api": 7,
    "cli": 8, "web": 8,              # the doors
    "__init__": 9, "__main__": 9,
}

# (importing module, imported module): why it may reach up
EXEMPT = {
    ("language/expr.py", "matdiff.printing.text"): "str() of an expression prints it; imported inside __str__",
}


def imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("matdiff."):
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("matdiff."))


def test_every_room_has_a_floor():
    rooms = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))}
    assert rooms <= set(FLOORS), f"rooms without a floor in FLOORS: {sorted(rooms - set(FLOORS))}"


def test_imports_point_down():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(PACKAGE)
        room = where.parts[0].removesuffix(".py")
        for module in imports(path):
            target = module.split(".")[1]
            if FLOORS[target] > FLOORS[room] and (where.as_posix(), module) not in EXEMPT:
                upward.append(f"{where.as_posix()} imports {module}")
    assert not upward, "imports that point up the pipeline:\n" + "\n".join(upward)
