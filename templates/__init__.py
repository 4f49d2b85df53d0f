"""Templates shipped with riskbench (installed as ``riskbench.templates``).

``narratives/``: the Jinja templates of the offline narrator (:func:`riskbench.narrate`).
``nbconvert/boardpack/``: the nbconvert template and print CSS of the board pack
(:func:`riskbench.boardpack.board_pack`).
"""
