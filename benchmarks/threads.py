"""`--threads N` for the benchmarks: the thread pools' sizes, set in the environment before NumPy
(OpenBLAS), JAX (XLA) or torch start their pools, so each benchmark calls this before importing them.

Note: on this machine XLA still used ~1.9 cores with N = 1 (benchmarks/README.md): the XLA flags
below do not limit every pool of jax 0.10.
"""
from __future__ import annotations

import os
import sys


def limit_from_argv(argv=None) -> None:
    argv = sys.argv if argv is None else argv
    if "--threads" not in argv:
        return
    n = argv[argv.index("--threads") + 1]
    os.environ.update(OPENBLAS_NUM_THREADS=n, OMP_NUM_THREADS=n, MKL_NUM_THREADS=n,
                      XLA_FLAGS=f"--xla_cpu_multi_thread_eigen={'false' if n == '1' else 'true'} "
                                f"intra_op_parallelism_threads={n}")
