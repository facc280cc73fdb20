"""A long fuzz run: random text, token soups and mutants through every stage, for as long as asked.

    python scripts/fuzz.py --minutes 10 [--seed 1]

Reports every input that raised something other than a MatdiffError, and every input that
took longer than 2 s; exits 1 if there was any.
"""
from __future__ import annotations

import argparse
import random
import string
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from fuzz_inputs import mutant, run_all, token_soup  # noqa: E402


def random_text(rng: random.Random) -> str:
    alphabet = string.printable + "∘⊙⊗ᵀ‖θΦΨσ\\"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=5)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args(argv)
    rng = random.Random(a.seed)
    end = time.monotonic() + 60 * a.minutes
    count, crashes, slow = 0, [], []
    kinds = [("mutant", lambda: mutant(rng)), ("soup", lambda: token_soup(rng)), ("text", lambda: random_text(rng))]
    while time.monotonic() < end:
        kind, make = kinds[count % 3]
        src = make()
        t = time.monotonic()
        try:
            run_all(src, deep=kind == "mutant")
        except Exception:  # noqa: BLE001 - report every crash and go on
            crashes.append((src, traceback.format_exc().splitlines()[-1]))
        dt = time.monotonic() - t
        if dt > 2:
            slow.append((src, dt))
        count += 1
    print(f"{count} inputs, {len(crashes)} crashes, {len(slow)} slower than 2 s")
    for src, err in crashes[:20]:
        print(f"CRASH {src!r}: {err}")
    for src, dt in slow[:20]:
        print(f"SLOW {dt:.1f}s {src!r}")
    return 1 if crashes or slow else 0


if __name__ == "__main__":
    sys.exit(main())
