"""Generated code: a gradient (or Hessian) as a NumPy, JAX or PyTorch function.

    generate.py  a Problem -> the module's source: forward steps once, then back-propagation;
                 one name allocator for every name in it; lambdify and --emit
    python.py    PY: one node -> one Python expression
    products.py  products in the cheapest order, diagonal and Kronecker factors never formed
    backends.py  what differs between NumPy, JAX and PyTorch; precedence of Python text
    runtime.py   the Source and the callable (Lambdified): inputs checked, outputs shaped

A new backend: a Backend row in backends.py and its forms in each elementwise record
(language/functions.py).
"""
