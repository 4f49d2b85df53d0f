"""The day-by-day propagation of an outage, vectorised over several outage lengths.

Day ``t`` runs from ``t`` to ``t + 1``. The failed node's capacity is
``1 - clip(days - t, 0, 1)``: zero for whole days, partial on a fractional last
day. Every node downstream, in topological order:

1. shortfall from inputs ``s = sum_u share_u * (1 - c_u)``;
2. alternatives: from ``delay_days`` after the shortfall began, ``s *= 1 - alt_share``;
3. buffer: ``b`` days of the node's graph-fed input (``S = sum_u share_u``); a day
   uses ``s / S`` of it, and what the buffer cannot cover is lost;
4. restart: when the inputs are back (``s = 0``) after a loss, the last loss holds
   for ``restart_days`` more days;
5. capacity ``c = 1 - loss``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from riskbench.dists import FloatArray
from riskbench.graph.spec import Node

__all__ = ["propagate"]

_TINY = 1e-12


def propagate(
    order: Sequence[str],
    inputs: Mapping[str, Sequence[tuple[str, float]]],
    nodes: Mapping[str, Node],
    failed: str,
    days: FloatArray,
    horizon: int,
) -> dict[str, FloatArray]:
    """Capacity, shape ``(len(days), horizon)``, of each node the outage reaches.

    ``order`` lists the failed node's descendants in topological order; nodes
    that are not in the result keep full capacity.
    """
    t = np.arange(horizon, dtype=float)
    caps: dict[str, FloatArray] = {failed: 1.0 - np.clip(days[:, None] - t[None, :], 0.0, 1.0)}
    k = days.size
    for v in order:
        hit = [(caps[u], share) for u, share in inputs.get(v, ()) if u in caps]
        if not hit:
            continue
        shortfall = sum((share * (1.0 - c) for c, share in hit), np.zeros((k, horizon)))
        caps[v] = 1.0 - _node_loss(nodes[v], shortfall, sum(s for _, s in inputs[v]))
    return caps


def _node_loss(node: Node, shortfall: FloatArray, fed: float) -> FloatArray:
    k, horizon = shortfall.shape
    loss = np.zeros_like(shortfall)
    buffer = np.full(k, node.buffer_days)
    started = np.full(k, np.inf)
    last = np.zeros(k)
    hold = np.zeros(k)
    hold_left = np.zeros(k, dtype=np.int64)
    alt = node.alternatives
    restart = node.restart_days
    for day in range(horizon):
        s = shortfall[:, day]
        short = s > _TINY
        started = np.where(short & np.isinf(started), day, started)
        if alt is not None:
            s = np.where(day - started >= alt.delay_days, s * (1.0 - alt.share), s)
        need = s / fed if fed > 0 else s
        used = np.minimum(buffer, need)
        buffer = buffer - used
        covered = np.divide(used, need, out=np.ones(k), where=need > _TINY)
        d = s * (1.0 - covered)
        if restart:
            # The inputs are back after a loss: hold that loss while the node restarts.
            begin = ~short & (last > _TINY) & (hold_left == 0)
            hold = np.where(begin, last, hold)
            hold_left = np.where(begin, restart, hold_left)
            holding = hold_left > 0
            d = np.where(holding, np.maximum(d, hold), d)
            hold_left = np.where(holding, hold_left - 1, hold_left)
            last = np.where(holding, 0.0, d)
        loss[:, day] = d
    return np.clip(loss, 0.0, 1.0)
