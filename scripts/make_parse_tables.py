"""Write grammar/matdiff.tables.json: the LALR parse tables of grammar/matdiff.lark, as JSON data.

matdiff loads them at start-up instead of building them from the grammar (about 60 ms); when
they are missing or were built from another grammar or lark version, it builds the parser from
the grammar instead. Run this after every change to the grammar (a test fails while they are
stale). lark numbers the parser's states in an order that varies from run to run, so the file
differs each time it is written; every version of it parses the same.

    python scripts/make_parse_tables.py          # rewrite grammar/matdiff.tables.json
    python scripts/make_parse_tables.py --check  # exit 1 if it was built from another grammar
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))          # this checkout's matdiff, not an installed one

from matdiff.language.parse import TABLES_FILE, grammar_hash, parse_tables  # noqa: E402


def render() -> str:
    grammar = (ROOT / "grammar" / "matdiff.lark").read_text(encoding="utf-8")
    return json.dumps(parse_tables(grammar), ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"


def main(argv: list[str]) -> int:
    target = ROOT / "grammar" / TABLES_FILE
    if "--check" in argv:
        grammar = (ROOT / "grammar" / "matdiff.lark").read_text(encoding="utf-8")
        try:
            current = json.loads(target.read_text(encoding="utf-8")).get("grammar_sha256")
        except (OSError, ValueError):
            current = None
        if current != grammar_hash(grammar):
            print(f"{target} is stale: run python scripts/make_parse_tables.py", file=sys.stderr)
            return 1
        return 0
    text = render()
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
