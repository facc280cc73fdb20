"""Printers: an Expr as text, as LaTeX, as a SymPy expression. Printers only.

    precedence.py   how tightly each node binds, shared by text and LaTeX
    text.py         Expr -> "(Psi'(z4) ∘ c) Phi(z1)^T + ..."
    latex.py        Expr -> LaTeX
    to_sympy.py     Expr -> SymPy's own classes (the API's return type)
    sympy_latex.py  a SymPy result -> LaTeX in matdiff's notation

They import the language alone: solution sheets and generated code have rooms of their own.
"""
