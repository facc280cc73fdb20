"""The computational graph as a picture: one layered layout for the page (SVG), the solution
sheet (TikZ) and notebooks.

    build.py   a Problem -> nodes (the inputs and the auxiliary variables the sheet defines) and
               edges (argument -> node, labelled with the operation); the sheet's equations
    values.py  each node's value and exact adjoint at the numerical check's inputs
    layout.py  a layered layout of the DAG (longest-path layers, barycentre sweeps), pure Python
    draw.py    SVG and TikZ from the one layout
    model.py   ComputationalGraph and graph_of(problem, wrt, seed)

It uses the language, printing, checking and calculus; the sheets use it (derivation.py takes
its equations from build.py, document.py draws the TikZ). matdiff.computational_graph() is the
public door (api.py); the package is matdiff.graph, so the function has another name.
"""
from matdiff.graph.build import auxiliary_equations, sheet_equations
from matdiff.graph.model import ComputationalGraph, graph_of

__all__ = ["ComputationalGraph", "graph_of", "auxiliary_equations", "sheet_equations"]
