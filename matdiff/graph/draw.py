"""One layout -> SVG (the web page, notebooks) and TikZ (the solution sheet).

Both draw the same boxes at the same places and the same edges through the same points: the
coordinates are the layout's, in SVG pixels; TikZ takes them with a unit of UNIT_CM per pixel
and y pointing down (y=-UNIT), so nothing is computed twice.
"""
from __future__ import annotations

import re
from xml.sax.saxutils import escape, quoteattr

from matdiff.graph.build import GREEK

FONT = 14                     # px, the nodes' labels
LABEL_FONT = 12               # px, the edges' labels
NODE_HEIGHT = 30

# role -> (fill, stroke): inputs grey, auxiliary variables white, the function's value green;
# the variable differentiated with respect to orange (COLOURS["wrt"]), whatever its role
COLOURS = {"input": ("#eef0f3", "#6b7280"), "auxiliary": ("#ffffff", "#374151"),
           "output": ("#e3f4e1", "#2f7d32"), "wrt": ("#ffd9a8", "#d9480f")}
TIKZ_COLOURS = {"input": "fill=black!6, draw=black!60", "auxiliary": "fill=white, draw=black!80",
                "output": "fill=green!10, draw=green!45!black",
                "wrt": "fill=orange!35, draw=orange!80!black, very thick"}
EDGE = "#4b5563"
SMALL_GLYPHS = {"·", "ᵀ·", "+", "∘"}    # drawn larger: at the labels' size a dot is hard to see
UNIT_CM = 0.024               # cm per px in TikZ: a 650 px graph is 15.6 cm, the sheet's text width


def label_parts(name: str) -> tuple:
    """'z0' -> ('z', '0'); 'theta' -> ('θ', ''); 'W_1' -> ('W', '1'); 'delta_z' -> ('δ', 'z')."""
    head, _, sub = name.partition("_")
    m = re.fullmatch(r"(.*?)(\d+)", head)
    base, digits = (m.group(1), m.group(2)) if m and m.group(1) else (head, "")
    subs = ",".join(filter(None, [digits, GREEK.get(sub, sub)]))
    return GREEK.get(base, base), subs


def node_size(name: str) -> tuple:
    """(width, height) in px of a node's box: its label at FONT px, a subscript smaller."""
    base, sub = label_parts(name)
    w = 0.62 * FONT * len(base) + 0.5 * FONT * len(sub) + 20
    return max(w, 36.0), NODE_HEIGHT


def _curve(points: list) -> list:
    """[(x0, y0), ..., (xn, yn)] -> cubic segments [(c1, c2, end)] leaving and arriving horizontally."""
    out = []
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        dx = (x1 - x0) / 2
        out.append(((x0 + dx, y0), (x1 - dx, y1), (x1, y1)))
    return out


ARROW = 8                      # px, the arrowhead's length


def edge_geometry(g, e) -> tuple:
    """(points from the source's right side to the target's left, label position) of an edge."""
    L = g.layout
    (ws, _), (wt, _) = L.size[e.source], L.size[e.target]
    start = (L.x[e.source] + ws / 2, L.y[e.source])
    end = (L.x[e.target] - wt / 2, L.y[e.target])
    points = [start] + L.routes.get((e.source, e.target), []) + [end]
    (x0, y0), (x1, y1) = points[-2], points[-1]
    return points, ((x0 + x1) / 2, (y0 + y1) / 2)


def _f(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def svg(g) -> str:
    """A standalone <svg>: no script, no external reference, no id (several may share a page)."""
    L = g.layout
    w, h = L.width, L.height
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="matdiff-graph" width="{_f(w)}" height="{_f(h)}" '
           f'viewBox="0 0 {_f(w)} {_f(h)}" font-family="Helvetica, Arial, sans-serif" font-size="{FONT}" '
           f'role="img" aria-label={quoteattr("computational graph of " + g.output)}>']
    out.append('<g class="edges">')
    for e in g.edges:
        points, (lx, ly) = edge_geometry(g, e)
        x1, y1 = points[-1]
        points[-1] = (x1 - ARROW + 1, y1)
        d = f"M{_f(points[0][0])},{_f(points[0][1])} " + " ".join(
            f"C{_f(a[0])},{_f(a[1])} {_f(b[0])},{_f(b[1])} {_f(c[0])},{_f(c[1])}" for a, b, c in _curve(points))
        out.append(f'<g class="edge" data-source={quoteattr(e.source)} data-target={quoteattr(e.target)}>'
                   f'<path d="{d}" fill="none" stroke="{EDGE}" stroke-width="1.3"/>'
                   f'<polygon points="{_f(x1)},{_f(y1)} {_f(x1 - ARROW)},{_f(y1 - 4)} {_f(x1 - ARROW)},{_f(y1 + 4)}" '
                   f'fill="{EDGE}"/>'
                   f'<text x="{_f(lx)}" y="{_f(ly)}" dy="0.35em" text-anchor="middle" '
                   f'font-size="{LABEL_FONT + 4 if e.label in SMALL_GLYPHS else LABEL_FONT}" '
                   f'fill="#1f2937" stroke="#ffffff" stroke-width="4" paint-order="stroke">{escape(e.label)}</text>'
                   f'</g>')
    out.append('</g><g class="nodes">')
    for n in g.nodes:
        fill, stroke = COLOURS["wrt" if n.wrt else n.role]
        bw, bh = L.size[n.id]
        x, y = L.x[n.id], L.y[n.id]
        base, sub = label_parts(n.id)
        text = escape(base) + (f'<tspan dy="0.3em" font-size="{FONT - 4}">{escape(sub)}</tspan>' if sub else "")
        classes = "node " + n.role + (" wrt" if n.wrt else "")
        bold = ' font-weight="bold"' if n.wrt else ""
        out.append(f'<g class="{classes}" data-id={quoteattr(n.id)}><title>{escape(g.tooltip(n))}</title>'
                   f'<rect x="{_f(x - bw / 2)}" y="{_f(y - bh / 2)}" width="{_f(bw)}" height="{_f(bh)}" rx="7" '
                   f'fill="{fill}" stroke="{stroke}" stroke-width="{2.5 if n.wrt else 1.3}"/>'
                   f'<text x="{_f(x)}" y="{_f(y)}" dy="0.35em" text-anchor="middle"'
                   f'{bold}>{text}</text></g>')
    out.append("</g></svg>")
    return "".join(out)


def tikz(g, unit: float = UNIT_CM) -> str:
    """A tikzpicture (core TikZ only), the labels in math mode as printing/latex.py writes them."""
    L = g.layout
    ids = {n.id: f"n{i}" for i, n in enumerate(g.nodes)}
    lines = [rf"\begin{{tikzpicture}}[x={unit:.4f}cm, y=-{unit:.4f}cm, "
             r"gnode/.style={rounded corners=2pt, inner sep=2pt, font=\small}, "
             r"glabel/.style={fill=white, inner sep=1pt, font=\footnotesize}]"]
    for n in g.nodes:
        bw, bh = L.size[n.id]
        lines.append(rf"\node[gnode, {TIKZ_COLOURS['wrt' if n.wrt else n.role]}, minimum width={bw * unit:.3f}cm, "
                     rf"minimum height={bh * unit:.3f}cm] ({ids[n.id]}) at ({_f(L.x[n.id])},{_f(L.y[n.id])}) "
                     rf"{{${n.latex}$}};")
    for e in g.edges:
        points, (lx, ly) = edge_geometry(g, e)
        segs = _curve(points)
        path = f"({ids[e.source]}.east)"
        for i, (a, b, c) in enumerate(segs):
            end = f"({ids[e.target]}.west)" if i == len(segs) - 1 else f"({_f(c[0])},{_f(c[1])})"
            path += f" .. controls ({_f(a[0])},{_f(a[1])}) and ({_f(b[0])},{_f(b[1])}) .. {end}"
        lines.append(rf"\draw[->, black!70] {path};")
        lines.append(rf"\node[glabel] at ({_f(lx)},{_f(ly)}) {{${e.latex}$}};")
    lines.append(r"\end{tikzpicture}")
    return "\n".join(lines)


__all__ = ["svg", "tikz", "node_size", "label_parts", "edge_geometry", "COLOURS"]
