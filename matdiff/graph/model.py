"""ComputationalGraph: the nodes and edges (build.py), their layout (layout.py), their values and
adjoints at the check's inputs (values.py), and the drawings (draw.py) from that one layout."""
from __future__ import annotations

from dataclasses import dataclass, field

from matdiff.errors import LimitError, MatdiffError
from matdiff.graph import draw
from matdiff.graph.build import graph_structure, shape_text
from matdiff.graph.layout import Layout, layered
from matdiff.language.expr import Apply, postorder
from matdiff.language.functions import ELEMENTWISE
from matdiff.language.problem import Problem
from matdiff.language.shapes import shape_of


@dataclass
class ComputationalGraph:
    nodes: list                       # [build.Node], every argument before its uses
    edges: list                       # [build.Edge]
    equations: list                   # [(symbol, rhs)], the output's last
    layout: Layout
    output: str                       # the function's name (y, f, J)
    values: dict | None = None        # id -> NumPy array at the check's inputs (None: not computed)
    adjoints: dict | None = None      # id -> ∂output/∂id, the node's shape (None: not a scalar function)
    inputs: dict = field(default_factory=dict)    # input name -> its value (what the check draws first)
    dims: dict = field(default_factory=dict)      # dimension -> the size drawn
    note: str = ""                    # why there are no values or adjoints, where there are none
    stand_ins: dict = field(default_factory=dict)  # abstract function -> (a, b): sin(a t + b) stands in

    def node(self, id: str):
        return next(n for n in self.nodes if n.id == id)

    def size_text(self, n) -> str:
        """'n×m (3×4 here)'."""
        text = shape_text(n.symbol)
        if not self.dims or text == "scalar" or self.values is None:
            return text
        v = self.values.get(n.id)
        if v is None:
            return text
        here = "×".join(str(k) for k in (v.shape if v.shape[1] != 1 else v.shape[:1]))
        return text if here == text else f"{text} ({here} here)"

    def summaries(self, n) -> tuple:
        from matdiff.graph.values import summary
        value = summary(self.values[n.id]) if self.values is not None and n.id in self.values else None
        adjoint = summary(self.adjoints[n.id]) if self.adjoints is not None and n.id in self.adjoints else None
        return value, adjoint

    def tooltip(self, n) -> str:
        """The node's definition, shape, value and adjoint: the SVG's <title>."""
        value, adjoint = self.summaries(n)
        lines = [n.definition, f"shape: {self.size_text(n)}"]
        if value is not None:
            lines.append(f"value: {value}")
        if adjoint is not None:
            lines.append(f"adjoint ∂{self.output}/∂{n.id}: {adjoint}")
        if n.rhs is not None:
            for name in sorted({a.fn.name for a in postorder(n.rhs) if isinstance(a, Apply)} & set(self.stand_ins)):
                a, b = self.stand_ins[name]
                lines.append(f"{name} is abstract: the check's stand-in sin({a:.3g} t + {b:.3g}) gives these values")
        if self.note and (value is None or adjoint is None):
            lines.append(self.note)
        return "\n".join(lines)

    def __repr__(self) -> str:
        wrt = [n.id for n in self.nodes if n.wrt]
        return (f"<computational graph of {self.output}: {len(self.nodes)} nodes, {len(self.edges)} edges"
                + (f", wrt {', '.join(wrt)}" if wrt else "") + ">")

    def svg(self) -> str:
        return draw.svg(self)

    def tikz(self, unit: float = draw.UNIT_CM) -> str:
        """A tikzpicture; unit: cm per pixel of the layout (the sheet shrinks a wide graph to its text width)."""
        return draw.tikz(self, unit)

    def _repr_svg_(self) -> str:
        return self.svg()

    def to_dict(self) -> dict:
        """The JSON of WEB_CONTRACT.md's Graph: nodes, edges, svg, width, height."""
        L = self.layout
        nodes = []
        for n in self.nodes:
            value, adjoint = self.summaries(n)
            nodes.append({"id": n.id, "label": n.label, "latex": n.latex, "definition": n.definition,
                          "role": n.role, "wrt": n.wrt, "layer": L.layer[n.id], "x": round(L.x[n.id], 1),
                          "y": round(L.y[n.id], 1), "shape": shape_text(n.symbol), "value": value,
                          "adjoint": adjoint, "title": self.tooltip(n)})
        edges = [{"source": e.source, "target": e.target, "label": e.label, "latex": e.latex} for e in self.edges]
        return {"svg": self.svg(), "width": round(L.width, 1), "height": round(L.height, 1),
                "output": self.output, "nodes": nodes, "edges": edges, "note": self.note or None}


def graph_of(problem: Problem, wrt=None, seed: int = 0, values: bool = True) -> ComputationalGraph:
    """The computational graph of problem (a Problem), the node(s) wrt names highlighted; with
    values, every node's value and adjoint at the inputs the numerical check (seed) draws first."""
    if wrt is not None:
        for w in [wrt] if isinstance(wrt, str) else list(wrt):
            problem.var(w)                       # a located error for a name that is not an input
    nodes, edges, eqs = graph_structure(problem, wrt)
    layout = layered([n.id for n in nodes], [(e.source, e.target) for e in edges],
                     {n.id: draw.node_size(n.id) for n in nodes})
    g = ComputationalGraph(nodes, edges, eqs, layout, eqs[-1][0].name)
    if values:
        _fill_values(g, problem, seed)
    return g


def _fill_values(g: ComputationalGraph, p: Problem, seed: int) -> None:
    from matdiff.checking.numeric import stand_in
    from matdiff.graph import values as V
    g.stand_ins = {name: stand_in(name) for name in sorted({a.fn.name for a in postorder(p.f)
                                                            if isinstance(a, Apply) and a.fn.name not in ELEMENTWISE})}
    try:
        g.inputs, g.dims = V.draw_inputs(p, seed)
        g.values = V.forward(g.equations, g.inputs, g.dims)
    except LimitError:
        raise
    except MatdiffError as e:                    # no inputs where f is finite: the picture without numbers
        g.note = f"no values: {e}"
        return
    if shape_of(p.f) != (1, 1):
        g.note = f"no adjoints: {g.output} is not a scalar"
        return
    g.adjoints = V.adjoints(g.equations, g.values, g.dims)


__all__ = ["ComputationalGraph", "graph_of"]
