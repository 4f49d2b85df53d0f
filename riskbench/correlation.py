"""Rank correlation between scenarios: matrix repair and the Iman-Conover reordering.

Iman and Conover (1982) induce a target rank correlation among columns of
independent samples by reordering each column to follow the ranks of a matrix
of correlated normal scores. Each column keeps exactly its values, so every
scenario's marginal distribution is untouched.

Examples
--------
>>> import numpy as np
>>> m = np.array([[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]])
>>> fixed, moved = nearest_correlation(m)
>>> bool(np.linalg.eigvalsh(fixed).min() > -1e-9), round(moved, 2)
(True, 0.4)
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import NDArray
from scipy import special

from riskbench.errors import CorrelationRepairWarning

__all__ = ["is_psd", "nearest_correlation", "normal_scores_target", "rank_positions"]

FloatArray = NDArray[np.float64]


def is_psd(m: FloatArray, tol: float = 1e-10) -> bool:
    """Whether the symmetric matrix ``m`` is positive semi-definite."""
    return bool(np.linalg.eigvalsh(m).min() >= -tol)


def nearest_correlation(
    m: FloatArray, *, tol: float = 1e-10, max_iter: int = 500, min_eig: float = 0.0
) -> tuple[FloatArray, float]:
    """The nearest correlation matrix (Frobenius norm), by Higham's (2002) alternating
    projections with Dykstra's correction.

    Returns the repaired matrix and the largest absolute change of any entry.
    """
    a = np.asarray(m, dtype=float)
    y = a.copy()
    ds = np.zeros_like(a)
    for _ in range(max_iter):
        r = y - ds
        w, v = np.linalg.eigh((r + r.T) / 2)
        x = (v * np.maximum(w, min_eig)) @ v.T
        ds = x - r
        y_new = x.copy()
        np.fill_diagonal(y_new, 1.0)
        if float(np.linalg.norm(y_new - y)) <= tol * max(1.0, float(np.linalg.norm(y))):
            y = y_new
            break
        y = y_new
    y = (y + y.T) / 2
    np.fill_diagonal(y, 1.0)
    return y, float(np.abs(y - a).max())


def normal_scores_target(rank_corr: FloatArray, *, labels: list[str] | None = None) -> FloatArray:
    """The Pearson correlation of normal scores that gives Spearman ``rank_corr``.

    For a bivariate normal, Spearman's rho is ``(6/pi) asin(r/2)``, so the score
    correlation is ``2 sin(pi rho / 6)``. A target that is not positive
    semi-definite is first repaired to the nearest one, with a
    :class:`~riskbench.errors.CorrelationRepairWarning` saying how far it moved.
    """
    c = np.asarray(rank_corr, dtype=float)
    if not is_psd(c):
        fixed, moved = nearest_correlation(c)
        worst = np.unravel_index(np.argmax(np.abs(fixed - c)), c.shape)
        pair = (
            f" (largest change at {labels[worst[0]]} / {labels[worst[1]]}: "
            f"{c[worst]:.3f} -> {fixed[worst]:.3f})"
            if labels
            else ""
        )
        warnings.warn(
            "the rank-correlation matrix is not positive semi-definite (smallest eigenvalue "
            f"{np.linalg.eigvalsh(c).min():.4f}); using the nearest valid matrix, which moves "
            f"entries by at most {moved:.4f}{pair}",
            CorrelationRepairWarning,
            stacklevel=3,
        )
        c = fixed
    r = 2 * np.sin(np.pi * c / 6)
    np.fill_diagonal(r, 1.0)
    # The sine map can tip a matrix on the boundary just outside; a tiny repair
    # keeps the Cholesky factor real without a user-visible change.
    if np.linalg.eigvalsh(r).min() < 1e-10:
        r, _ = nearest_correlation(r, min_eig=1e-10)
    return r


def rank_positions(n: int, target: FloatArray, rng: np.random.Generator) -> NDArray[np.intp]:
    """For each column, the rows in increasing order of its correlated score.

    Row ``positions[k, j]`` is where the ``k``-th smallest value of column ``j``
    goes. Scores are van der Waerden normal scores, independently permuted per
    column and then made to have sample correlation exactly ``target``
    (Iman-Conover with the Cholesky correction of the sample correlation).
    """
    k = target.shape[0]
    base = special.ndtri(np.arange(1, n + 1) / (n + 1))
    scores = np.empty((n, k))
    for j in range(k):
        scores[:, j] = rng.permutation(base)
    if n > k + 1:
        sample = np.corrcoef(scores, rowvar=False)
        lower_sample = np.linalg.cholesky(sample)
        lower_target = np.linalg.cholesky(target)
        # corr(R T') = T E T' = C when T = chol(C) chol(E)^-1: exact in every block.
        transform = lower_target @ np.linalg.inv(lower_sample)
        scores = scores @ transform.T
    else:
        scores = scores @ np.linalg.cholesky(target).T
    return np.argsort(scores, axis=0, kind="stable")
