"""A layered (Sugiyama-style) layout of a DAG, left to right, in pure Python.

Why no library: Graphviz (pygraphviz, pydot) needs a C program installed beside Python, and the
pure-Python ones (grandalf, networkx's multipartite layout) either are barely maintained or do
not reduce crossings; what a computational graph needs is a hundred lines: the graphs are DAGs
already in topological order, small (tens of nodes) or long and thin (a 64-layer network).

1. layers: the longest path from the inputs (every edge goes to a higher layer), then each input
   moved up to just before its first use, so that a weight used at layer 40 sits at layer 39;
2. an edge spanning several layers gets a dummy point in each layer it crosses (up to MAX_SPAN
   layers; a longer edge is drawn as one curve: a dummy per layer for `x` used by each of 600
   lines would make the layout quadratic);
3. the order within each layer: barycentre sweeps, down and up, keeping the order with the
   fewest crossings (counted exactly, with a Fenwick tree);
4. coordinates: a layer is a column; within it each computed node is pulled towards the mean
   height of what it is computed from, keeping the order and a gap between nodes, and the inputs
   stack beside their first use (so a network's chain stays level, its weights above it).
Everything is linear in nodes + edges (+ dummies) per sweep, and the sweeps are a fixed number.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from matdiff.limits import tick

MAX_SPAN = 6          # an edge across more layers than this gets no dummies (drawn as one curve)
SWEEPS = 6            # barycentre sweeps, each down then up
LAYER_GAP = 64        # horizontal room between the columns, for the edges' labels
NODE_GAP = 22         # vertical room between two nodes of one column
MARGIN = 16


@dataclass
class Layout:
    x: dict                    # id -> centre x
    y: dict                    # id -> centre y
    layer: dict                # id -> layer (0 for the first inputs)
    size: dict                 # id -> (width, height)
    routes: dict               # (source, target) -> [(x, y), ...] dummy points between the two ends
    width: float
    height: float
    order: list = field(default_factory=list)     # [[ids of layer 0, top first], ...], dummies included
    crossings: int = 0


def layers_of(ids: list, preds: dict, succs: dict) -> dict:
    """Longest path from the sources; then each source just before its first use."""
    layer = {}
    for n in ids:                              # ids are in topological order
        layer[n] = 1 + max((layer[p] for p in preds[n]), default=-1)
    for n in ids:
        if not preds[n] and succs[n]:
            layer[n] = min(layer[s] for s in succs[n]) - 1
    low = min(layer.values(), default=0)
    return {n: k - low for n, k in layer.items()}


def _crossings(upper: dict, lower_pos: dict, edges: list) -> int:
    """The crossings between two adjacent layers: inversions among the edges sorted by their upper end."""
    ends = [lower_pos[b] for a, b in sorted(edges, key=lambda e: (upper[e[0]], lower_pos[e[1]]))]
    size = max(ends, default=0) + 2
    tree = [0] * (size + 1)
    count = 0
    for seen, v in enumerate(ends):
        i, below = v + 1, 0                  # how many seen so far end at or before v
        while i > 0:
            below += tree[i]
            i -= i & -i
        count += seen - below
        i = v + 1
        while i <= size:
            tree[i] += 1
            i += i & -i
    return count


def layered(ids: list, edges: list, sizes: dict) -> Layout:
    """ids in topological order; edges [(source, target)]; sizes id -> (width, height)."""
    preds = {n: [] for n in ids}
    succs = {n: [] for n in ids}
    for a, b in edges:
        preds[b].append(a)
        succs[a].append(b)
    layer = layers_of(ids, preds, succs)
    depth = max(layer.values(), default=0) + 1
    # proper edges between adjacent layers, through dummies where an edge spans a few
    order = [[] for _ in range(depth)]
    for n in ids:
        order[layer[n]].append(n)
    up = {n: [] for n in ids}                 # neighbours in the layer before (proper edges)
    down = {n: [] for n in ids}
    chains = {}
    for a, b in edges:
        span = layer[b] - layer[a]
        if span > MAX_SPAN:
            continue
        chain = [a] + [("·", a, b, k) for k in range(1, span)] + [b]
        for d in chain[1:-1]:
            order[layer[a] + d[3]].append(d)
            up[d], down[d] = [], []
        for s, t in zip(chain, chain[1:]):
            down[s].append(t)
            up[t].append(s)
        chains[(a, b)] = chain[1:-1]
    pairs = [[(s, t) for s in order[k] for t in down[s]] for k in range(depth - 1)]

    def positions():
        return {n: i for layer_ in order for i, n in enumerate(layer_)}

    def total(pos):
        return sum(_crossings(pos, pos, pairs[k]) for k in range(depth - 1))

    pos = positions()
    best, best_order = total(pos), [list(l) for l in order]
    for _ in range(SWEEPS):
        if best == 0:
            break
        tick()
        for rng, nbrs in ((range(1, depth), up), (range(depth - 2, -1, -1), down)):
            for k in rng:
                key = {n: (sum(pos[m] for m in nbrs[n]) / len(nbrs[n]) if nbrs[n] else pos[n]) for n in order[k]}
                order[k].sort(key=key.get)
                for i, n in enumerate(order[k]):
                    pos[n] = i
            c = total(pos)
            if c < best:
                best, best_order = c, [list(l) for l in order]
    order = best_order
    # coordinates
    size = {n: sizes.get(n, (0, 0)) if not isinstance(n, tuple) else (0, 0) for l in order for n in l}
    colw = [max((size[n][0] for n in l), default=0) for l in order]
    x, left = {}, MARGIN
    for k, l in enumerate(order):
        for n in l:
            x[n] = left + colw[k] / 2
        left += colw[k] + LAYER_GAP
    y = {}
    for l in order:                            # stacked and centred at 0 to begin with
        h = sum(size[n][1] + _gap(n) for n in l)
        top = -h / 2
        for n in l:
            y[n] = top + (size[n][1] + _gap(n)) / 2
            top += size[n][1] + _gap(n)
    # going right, a node follows the nodes it is computed from, not the inputs beside them (else the
    # chain of a network climbs a step at each layer, where its weights are stacked); going left,
    # the inputs come to sit beside their first use
    source = {n for n in ids if not preds[n]}
    inner = {n: [m for m in up[n] if _origin(m) not in source] or up[n] for n in up}
    for _ in range(3):
        for rng, nbrs in ((range(1, depth), inner), (range(depth - 2, -1, -1), down)):
            for k in rng:
                want = [sum(y[m] for m in nbrs[n]) / len(nbrs[n]) if nbrs[n] else y[n] for n in order[k]]
                _place(order[k], want, size, y, [_origin(n) in source for n in order[k]])
    top = min((y[n] - size[n][1] / 2 for n in y), default=0)
    for n in y:
        y[n] += MARGIN - top
    height = max((y[n] + size[n][1] / 2 for n in y), default=0) + MARGIN
    width = left - LAYER_GAP + MARGIN
    routes = {e: [(x[d], y[d]) for d in chain] for e, chain in chains.items()}
    real = [[n for n in l if not isinstance(n, tuple)] for l in order]
    return Layout({n: x[n] for n in ids}, {n: y[n] for n in ids}, layer, {n: sizes[n] for n in ids},
                  routes, width, height, real, best)


def _origin(n):
    """A dummy point's edge's source; a node itself."""
    return n[1] if isinstance(n, tuple) else n


def _gap(n) -> float:
    return 6 if isinstance(n, tuple) else NODE_GAP


def _place(nodes: list, want: list, size: dict, y: dict, loose: list) -> None:
    """Heights as near as may be to want, in this order, each pair of neighbours apart by their
    half heights and a gap. The computed nodes first (the mean of a top-down and a bottom-up
    packing, with room left for the inputs between them), then the inputs (loose) stacked in the
    room beside them: a network's chain stays level, its weights sit above it."""
    if not nodes:
        return
    sep = [(size[a][1] + size[b][1]) / 2 + max(_gap(a), _gap(b)) for a, b in zip(nodes, nodes[1:])]
    fixed = [i for i, l in enumerate(loose) if not l] or list(range(len(nodes)))
    room = [sum(sep[a:b]) for a, b in zip(fixed, fixed[1:])]
    down = [want[i] for i in fixed]
    for k in range(1, len(fixed)):
        down[k] = max(down[k], down[k - 1] + room[k - 1])
    upw = [want[i] for i in fixed]
    for k in range(len(fixed) - 2, -1, -1):
        upw[k] = min(upw[k], upw[k + 1] - room[k])
    pos = dict.fromkeys(range(len(nodes)))
    for k, i in enumerate(fixed):
        pos[i] = (down[k] + upw[k]) / 2
    for i in range(fixed[0] - 1, -1, -1):                   # above the first: stacked upwards
        pos[i] = min(want[i], pos[i + 1] - sep[i])
    for i in range(fixed[-1] + 1, len(nodes)):              # below the last: stacked downwards
        pos[i] = max(want[i], pos[i - 1] + sep[i - 1])
    for a, b in zip(fixed, fixed[1:]):                       # between two: inside the room left
        for i in range(a + 1, b):
            pos[i] = max(want[i], pos[i - 1] + sep[i - 1])
        for i in range(b - 1, a, -1):
            pos[i] = min(pos[i], pos[i + 1] - sep[i])
    for i, n in enumerate(nodes):
        y[n] = pos[i]


__all__ = ["Layout", "layered", "layers_of", "MAX_SPAN"]
