"""The solution sheet's LaTeX -> blocks a web page renders (headings, paragraphs, displays, lists, tables).

The page shows the same derivation as the PDF: this reads the very document `matdiff sheet`
writes (sheets/document.py), not a second rendering of the steps. That document uses a small,
fixed part of LaTeX, and each piece maps onto one block:

    \\section*{..}, \\subsection*{..}          {"type": "heading", "level": 1 | 2, "parts": [...]}
    text with $math$ and \\emph{..}           {"type": "paragraph", "parts": [{"text"} | {"math"} | {"emph"}]}
    \\[ .. \\], align*, alignat*              {"type": "display", "latex": ...}   (KaTeX renders these,
                                              \\tag* included, in display mode)
    itemize                                  {"type": "list", "items": [[parts], ...]}
    center + tabular                         {"type": "table", "rows": [[[parts], ...], ...]}
    the TikZ picture of the graph            {"type": "graph"}   (the page draws its own SVG there)

Anything else is a bug in this table, not in the user's input (no user text reaches it unescaped:
document.py escapes every special character), and raises ValueError, which a test runs over the
sheets of the seed problems and the corpus.
"""
from __future__ import annotations

import re

# text-mode escapes of sheets/identities.text, and the typographic ones document.py writes
TEXT_ESCAPES = {r"\textbackslash{}": "\\", r"\{": "{", r"\}": "}", r"\$": "$", r"\&": "&", r"\#": "#",
                r"\%": "%", r"\_": "_", r"\^{}": "^", r"\~{}": "~", "``": "“", "''": "”", "~": "\u00a0",
                r"\quad": " ", r"\ ": " ", r"\,": "\u2009", "---": "—", "--": "–"}
_ESCAPE = re.compile("|".join(re.escape(k) for k in sorted(TEXT_ESCAPES, key=len, reverse=True)))


def _group(s: str, i: int) -> tuple:
    """s[i] == '{': (the group's content, the index after its closing brace)."""
    if i >= len(s) or s[i] != "{":
        raise ValueError(f"expected '{{' at {i}: {s[i:i + 30]!r}")
    depth, j = 0, i
    while j < len(s):
        c = s[j]
        if c == "\\":
            j += 2
            continue
        depth += c == "{"
        depth -= c == "}"
        if depth == 0:
            return s[i + 1:j], j + 1
        j += 1
    raise ValueError(f"unbalanced braces from {i}: {s[i:i + 30]!r}")


def _math_end(s: str, i: int) -> int:
    """s[i] follows an opening '$': the index of the closing '$' (a '\\$' inside is an escaped dollar)."""
    j = i
    while j < len(s):
        if s[j] == "\\":
            j += 2
        elif s[j] == "$":
            return j
        else:
            j += 1
    raise ValueError(f"unclosed $ from {i}: {s[i:i + 30]!r}")


def inline(s: str) -> list:
    """Text with $math$, \\emph{..} and escapes -> [{"text": ..} | {"math": ..} | {"emph": ..}]."""
    parts: list = []

    def add(kind: str, value: str) -> None:
        if kind == "text" and parts and "text" in parts[-1]:
            parts[-1]["text"] += value
        elif value:
            parts.append({kind: value})

    i = 0
    while i < len(s):
        if s[i] == "$":
            j = _math_end(s, i + 1)
            add("math", s[i + 1:j].strip())
            i = j + 1
        elif s.startswith(r"\emph", i):
            content, i = _group(s, i + len(r"\emph"))
            add("emph", _text(content))
        elif s[i] == "\\" and not _ESCAPE.match(s, i):
            raise ValueError(f"a LaTeX command the page does not know, in text: {s[i:i + 30]!r}")
        else:
            j = i + 1
            while j < len(s) and s[j] != "$" and not s.startswith(r"\emph", j) and \
                    not (s[j] == "\\" and not _ESCAPE.match(s, j)):
                j = j + len(m.group()) if (m := _ESCAPE.match(s, j)) else j + 1
            add("text", _text(s[i:j]))
            i = j
    if parts and "text" in parts[0]:
        parts[0]["text"] = parts[0]["text"].lstrip()
    if parts and "text" in parts[-1]:
        parts[-1]["text"] = parts[-1]["text"].rstrip()
    return [p for p in parts if any(p.values())]


def _text(s: str) -> str:
    s = re.sub(r"\s+", " ", s)
    return _ESCAPE.sub(lambda m: TEXT_ESCAPES[m.group()], s)


def _environment(s: str, i: int, name: str) -> tuple:
    r"""s[i:] starts with \begin{name}: (the whole environment, the index after it). Not nested."""
    end = s.find(rf"\end{{{name}}}", i)
    if end < 0:
        raise ValueError(rf"\begin{{{name}}} without its \end")
    end += len(rf"\end{{{name}}}")
    return s[i:end], end


def _items(env: str) -> list:
    body = env[len(r"\begin{itemize}"):-len(r"\end{itemize}")]
    body = re.sub(r"^\\setlength\{\\itemsep\}\{[^}]*\}", "", body.strip())
    return [inline(item) for item in body.split(r"\item")[1:]]


def _table(env: str) -> dict:
    m = re.fullmatch(r"\\begin\{center\}\\begin\{tabular\}\{[lrc|]*\}(.*)\\end\{tabular\}\\end\{center\}",
                     env, re.S)
    if not m:
        raise ValueError(f"a table the page does not know: {env[:60]!r}")
    body = m.group(1).strip()
    header = body.startswith(r"\hline")
    rows = [r.replace(r"\hline", "").strip() for r in re.split(r"\\\\", body)]
    cells = [[inline(c.strip()) for c in row.split("&")] for row in rows if row]
    return {"type": "table", "rows": cells, "header": header}


# (the opening that starts a block, how to read the block) in the order they are tried
def _heading(level: int, command: str):
    def read(s: str, i: int) -> tuple:
        content, j = _group(s, i + len(command))
        return {"type": "heading", "level": level, "parts": inline(content)}, j
    return read


def _display(name: str):
    def read(s: str, i: int) -> tuple:
        env, j = _environment(s, i, name)
        return {"type": "display", "latex": env}, j
    return read


def _bracket_display(s: str, i: int) -> tuple:
    end = s.find(r"\]", i)
    if end < 0:
        raise ValueError(r"\[ without \]")
    return {"type": "display", "latex": s[i + 2:end].strip()}, end + 2


def _itemize(s: str, i: int) -> tuple:
    env, j = _environment(s, i, "itemize")
    return {"type": "list", "items": _items(env)}, j


def _center(s: str, i: int) -> tuple:
    env, j = _environment(s, i, "center")
    return _table(env), j


def _graph(s: str, i: int) -> tuple:
    r"""The picture of the computational graph: \IfFileExists{tikz.sty}{picture}{fallback}, or a bare
    tikzpicture. The page shows its own SVG of the same graph there."""
    if s.startswith(r"\begin{tikzpicture}", i):
        return {"type": "graph"}, _environment(s, i, "tikzpicture")[1]
    j = i + len(r"\IfFileExists")
    for _ in range(3):
        _, j = _group(s, j)
    return {"type": "graph"}, j


def _skip_title(s: str, i: int) -> tuple:
    r"""\title{..}\date{} and \maketitle are the preamble's: the page has its own heading."""
    if s.startswith(r"\maketitle", i):
        return None, i + len(r"\maketitle")
    _, j = _group(s, i + len(r"\title"))
    if s.startswith(r"\date", j):
        _, j = _group(s, j + len(r"\date"))
    return None, j


BLOCKS = [
    (r"\section*", _heading(1, r"\section*")),
    (r"\subsection*", _heading(2, r"\subsection*")),
    (r"\[", _bracket_display),
    (r"\begin{align*}", _display("align*")),
    (r"\begin{alignat*}", _display("alignat*")),
    (r"\begin{itemize}", _itemize),
    (r"\begin{center}", _center),
    (r"\IfFileExists", _graph),
    (r"\begin{tikzpicture}", _graph),
    (r"\title", _skip_title),
    (r"\maketitle", _skip_title),
]


def sheet_blocks(tex: str) -> list:
    """A whole document of `matdiff sheet` (or its body) -> the blocks of the page."""
    start, end = tex.find(r"\begin{document}"), tex.rfind(r"\end{document}")
    body = tex[start + len(r"\begin{document}"):end] if start >= 0 and end > start else tex
    blocks: list = []
    text = ""                                   # the paragraph under way

    def flush() -> None:
        nonlocal text
        parts = inline(text.strip())
        if parts:
            blocks.append({"type": "paragraph", "parts": parts})
        text = ""

    i = 0
    while i < len(body):
        opening = next((o for o, _ in BLOCKS if body.startswith(o, i)), None)
        if opening is not None:
            flush()
            block, i = dict(BLOCKS)[opening](body, i)
            if block is not None:
                blocks.append(block)
            continue
        m = re.compile(r"\n\s*\n").match(body, i)
        if m:
            flush()
            i = m.end()
            continue
        if body[i] == "%":                      # a comment, to the end of its line (\% is escaped text)
            end = body.find("\n", i)
            i = len(body) if end < 0 else end + 1
            continue
        if body[i] == "$":                      # inline math stays whole (a '\[' never starts inside it)
            j = _math_end(body, i + 1) + 1
            text += body[i:j]
            i = j
            continue
        text += body[i]
        i += 1
    flush()
    return blocks
