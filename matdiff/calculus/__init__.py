"""The calculus: every table that knows a derivative.

    diff.py          DIFF_RULES: an Expr -> its differential, one rule per node type
    canon.py         PULLBACK_RULES: a differential -> Tr(G^T dX), read off G (back-propagation)
    simplify.py      rewrite rules as data and a fixpoint driver
    record.py        rule applications as data, for the solution sheets
    gradient.py      a Problem -> its gradients, back-propagated step by step, deltas named
    jacobian.py      JACOBIAN_RULES: vec/Kronecker forms of a differential
    kronecker.py     Kronecker and commutation-matrix algebra
    curvature.py     DIAG_RULES: the diagonal of a Hessian, back-propagated (Becker and LeCun)
    second_order.py  Jacobians and Hessians of a Problem

Below it: the language, the printers (a result prints itself) and the check (a result checks
itself). Above it: the sheets, generated code, the API.
"""
