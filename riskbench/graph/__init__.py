"""Causal dependency graphs: what an outage of a supplier, site or system costs.

A :class:`DependencyGraph` links suppliers, sites, systems and processes to the
products and revenue streams that depend on them. :meth:`DependencyGraph.outage`
propagates an outage day by day; :meth:`DependencyGraph.outage_loss_distribution`
turns an uncertain outage length into a severity for a scenario. The model is
described in ``docs/analyses.md``.
"""

from riskbench.graph.dependency import DependencyGraph, OutageImpact
from riskbench.graph.severity import OutageLoss
from riskbench.graph.spec import KINDS, REVENUE_KINDS, Alternative, Edge, Node

__all__ = [
    "KINDS",
    "REVENUE_KINDS",
    "Alternative",
    "DependencyGraph",
    "Edge",
    "Node",
    "OutageImpact",
    "OutageLoss",
]
