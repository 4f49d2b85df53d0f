"""Templates shipped with riskbench (installed as ``riskbench.templates``).

``narratives/``: the Jinja templates of the offline narrator (:func:`riskbench.narrate`).
"""
