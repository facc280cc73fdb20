"""The language: text in, a shaped problem out. Nothing here knows calculus.

    parse.py      text -> Expr (a Program of steps, or one expression): grammar/matdiff.lark
                  through lark, ToExpr one method per alias, located ParseErrors
    expr.py       the AST: frozen dataclasses, traversals (postorder, substitute, transform)
    functions.py  which names are functions: one record per elementwise function, the
                  structural built-ins, Greek names
    dims.py       dimensions and their union-find
    shapes.py     SHAPE_RULES: each node's shape from its children's
    inference.py  shapes left out are inferred; readings the user may not have meant are noted
    algebra.py    smart constructors: only what is always true and cheap
    problem.py    a Problem: the parsed, shaped program with its steps and variables

Dependencies point down only: errors and limits below, nothing above.
"""
