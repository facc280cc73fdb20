"""The long fuzz run: hostile input through every entry point (API and CLI), for as long as asked.

    python scripts/fuzz.py --minutes 10 [--seed 1] [--entries lambdify,cli grad] [--properties]

Inputs and probes are tests/fuzz_inputs.py's: mutants of a corpus of valid programs, token
splices, deep nesting, huge numbers, unicode look-alikes and controls, odd functions= names and
odd shapes; with --properties also random valid functions from tests/test_properties.py's
generator. Every call runs with LIMITS.max_seconds = 5 and must end within 5 + 2 s, raise
nothing but a MatdiffError, and (generated code) agree with matdiff's own evaluator.

Each finding is printed once per (exception type, last frame) — or per entry point and kind for
slow calls and wrong answers — with its input minimised: the entry point, the input, the
exception and the traceback's last frame. Exits 1 if there was any. The process's memory is
capped (--memory-gb, default 6) so that an input asking for a huge array is a MemoryError
finding, not a machine out of memory.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")     # one core: the machine is shared
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import fuzz_inputs as fz  # noqa: E402
from matdiff.limits import LIMITS  # noqa: E402


def reproduces(finding, case) -> bool:
    return any(f.key() == finding.key() for f in fz.probe(case, [finding.entry]))


def minimise(finding, budget: float = 60.0):
    """The smallest variant of the case that still gives a finding with the same key: chunks of
    the text deleted (halving the chunk size), then shapes, functions and claim dropped."""
    case = finding.case
    end = time.monotonic() + budget
    if finding.kind == "slow":                  # each try costs as long as the finding: few tries
        end = time.monotonic() + min(budget, 3 * finding.seconds)
    for field_name in ("claim", "functions", "shapes"):
        if getattr(case, field_name) and time.monotonic() < end:
            smaller = replace(case, **{field_name: None})
            if reproduces(finding, smaller):
                case = smaller
    chunk = max(1, len(case.src) // 2)
    while chunk >= 1 and time.monotonic() < end:
        i, changed = 0, False
        while i < len(case.src) and time.monotonic() < end:
            smaller = replace(case, src=case.src[:i] + case.src[i + chunk:])
            if smaller.src.strip() and reproduces(finding, smaller):
                case, changed = smaller, True
            else:
                i += chunk
        if not changed:
            chunk //= 2
    return replace(finding, case=case)


def property_cases(rng: random.Random, n: int):
    """n random valid scalar functions from the property tests' generator (all shapes declared)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from test_properties import scalar_functions

    out = []

    @settings(max_examples=n, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(g=scalar_functions, k=st.integers(0, 10**6))
    def collect(g, k):
        names = [name for name, _ in g.vars]
        if names:
            out.append(fz.Case(g.text, dict(g.vars), None, names[k % len(names)], seed=k % 1000))
    collect()
    rng.shuffle(out)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=5)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--entries", help="comma-separated entry points (default: all): " + ", ".join(fz.ENTRIES))
    p.add_argument("--properties", action="store_true", help="also random valid functions (test_properties)")
    p.add_argument("--memory-gb", type=float, default=6)
    p.add_argument("--no-minimise", action="store_true")
    a = p.parse_args(argv)
    warnings.simplefilter("ignore")          # NumPy's overflow warnings at random inputs are no finding
    try:
        import resource
        cap = int(a.memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    except (ImportError, ValueError, OSError):
        pass
    entries = [e.strip() for e in a.entries.split(",")] if a.entries else list(fz.ENTRIES)
    unknown = [e for e in entries if e not in fz.ENTRIES]
    if unknown:
        p.error(f"unknown entry points: {', '.join(unknown)}")
    LIMITS.max_seconds = fz.SECONDS          # also while making the inputs (claims are derived)
    rng = random.Random(a.seed)
    end = time.monotonic() + 60 * a.minutes
    stream = fz.cases(rng)
    extra = property_cases(rng, 300) if a.properties else []
    count, calls, seen = 0, 0, {}
    while time.monotonic() < end:
        case = extra.pop() if extra and count % 3 == 2 else next(stream)
        count += 1
        for f in fz.probe(case, entries):
            if f.key() in seen:
                seen[f.key()][1] += 1
                continue
            if not a.no_minimise:
                f = minimise(f)
            seen[f.key()] = [f, 1]
            print(f"FINDING {len(seen)}: {f}", flush=True)
        calls += len(entries)
        if count % 50 == 0:
            print(f"... {count} inputs, {calls} calls, {len(seen)} distinct findings", flush=True)
    print(f"\n{count} inputs, {calls} calls, {len(seen)} distinct findings")
    for f, n in sorted(seen.values(), key=lambda fn: (fn[0].entry, fn[0].kind)):
        print(f"  x{n} {f}")
    return 1 if seen else 0


if __name__ == "__main__":
    sys.exit(main())
