"""The numerical check: a formula against finite differences, a claim against matdiff's answer.

    numeric.py   evaluate an Expr with NumPy (abstract functions replaced by stand-ins)
    sampling.py  random inputs that keep away from kinks, singular matrices and overflow
    check.py     the check and its report (CheckReport)

It needs only the language (an Expr and its shapes), not the calculus: the calculus, the
sheets and claims.py call it, so it sits below them.
"""
