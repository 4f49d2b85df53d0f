"""The exact aggregate loss distribution by discretisation and FFT (Panjer's alternative).

For a scenario with count N and per-event loss X, the annual loss S = X_1 + ... + X_N
has generating function P_N(phi_X). Discretising X on a grid of step h (mass of
each cell ``[(k - 1/2) h, (k + 1/2) h)`` put at ``k h``) and applying P_N to the
discrete Fourier transform gives S's distribution on the same grid in one FFT.
Independent scenarios multiply in the Fourier domain. An exponential tilt
(Grübel and Hermesmeier 1999) suppresses the wrap-around of mass beyond the grid.

The only approximation is the discretisation of X, of order h; the grid is chosen
so that the chance of any loss beyond it is below 1e-7.

Examples
--------
>>> import riskbench as rb
>>> s = rb.Scenario(id="a", title="A", category="other",
...                 frequency=rb.Poisson(rate=1.5), severity=rb.Constant(100.0))
>>> res = rb.simulate(rb.Portfolio([s]), engine="fft")
>>> round(res.exceedance_prob(0.0), 4)  # P(N > 0) = 1 - exp(-1.5)
0.7769
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from riskbench.errors import Issue, ValidationError
from riskbench.results import ExactResult, _event_cdf
from riskbench.scenario import Portfolio, Scenario

__all__ = ["aggregate"]

FloatArray = NDArray[np.float64]
_TAIL = 1e-7
_TILT = 12.0  # theta * grid_size: wrapped mass is damped by exp(-12)


def _upper_bound(s: Scenario, basis: str) -> float:
    """A loss the scenario's annual total exceeds with probability < ~2 * _TAIL."""
    n_hi = max(float(s.frequency.ppf(np.array(1 - _TAIL))), 1.0)
    x_hi = float(s.severity.ppf(np.array(1 - _TAIL / n_hi)))
    bound = n_hi * max(x_hi, 0.0)
    ins = s.insurance
    if basis == "ceded" and ins is not None:
        caps = [
            n_hi * ins.per_event.limit if ins.per_event and ins.per_event.limit else math.inf,
            ins.annual.limit if ins.annual and ins.annual.limit else math.inf,
        ]
        bound = min(bound, *caps)
    return bound


def _event_amount_cdf(s: Scenario, x: FloatArray, basis: str) -> FloatArray:
    """The cdf of the per-event amount whose yearly sum the FFT aggregates."""
    ins = s.insurance
    if basis == "ceded" and ins is not None and ins.annual is not None and ins.per_event is None:
        # The aggregate cover responds to the gross total.
        return _event_cdf(s, x, "gross")
    return _event_cdf(s, x, basis)


def _apply_annual_layer(s: Scenario, pmf: FloatArray, h: float, basis: str) -> FloatArray:
    layer = s.insurance.annual if s.insurance else None
    if layer is None or basis == "gross":
        return pmf
    x = np.arange(pmf.size, dtype=float) * h
    paid = layer.recovery(x)
    amount = x - paid if basis == "net" else paid
    idx = np.clip(np.rint(amount / h).astype(np.int64), 0, pmf.size - 1)
    return np.asarray(np.bincount(idx, weights=pmf, minlength=pmf.size), dtype=float)


def _check_layers(portfolio: Portfolio, basis: str) -> None:
    for s in portfolio.scenarios:
        ins = s.insurance
        if basis == "net" and ins is not None and ins.per_event and ins.annual:
            raise ValidationError(
                [
                    Issue(
                        "engine",
                        f"'fft' cannot give the net loss of {s.id}: with both a per-event "
                        f"and an annual layer it depends on two sums at once; use "
                        f"engine='local' (or basis='gross'/'ceded')",
                    )
                ]
            )


def aggregate(
    portfolio: Portfolio,
    *,
    basis: str = "net",
    grid_size: int = 1 << 20,
    max_loss: float | None = None,
) -> ExactResult:
    """The exact distribution of each scenario's and the portfolio's annual loss.

    Parameters
    ----------
    portfolio
        Scenarios with no correlation between them (the FFT needs independence).
    basis
        ``"net"``, ``"gross"`` or ``"ceded"``, as in :func:`riskbench.simulate`.
    grid_size
        Number of grid points (a power of two is fastest).
    max_loss
        Top of the grid; by default a bound the portfolio exceeds with
        probability below about 1e-6.
    """
    nonzero = [c for c in portfolio.correlation if c[2] != 0]
    if nonzero:
        a, b, rho = nonzero[0]
        raise ValidationError(
            [
                Issue(
                    "engine",
                    f"'fft' is exact only for independent scenarios, but the portfolio "
                    f"correlates {a} and {b} ({rho}); use engine='local'",
                )
            ]
        )
    _check_layers(portfolio, basis)
    if not isinstance(grid_size, int) or grid_size < 256:
        raise ValidationError([Issue("grid_size", f"must be an integer >= 256, got {grid_size!r}")])
    top = max_loss
    if top is None:
        top = sum(_upper_bound(s, basis) for s in portfolio.scenarios)
    if not (isinstance(top, int | float) and math.isfinite(top) and top > 0):
        top = 1.0
    h = float(top) / (grid_size - 1)
    k = np.arange(grid_size)
    theta = _TILT / grid_size
    tilt = np.exp(-theta * k)
    edges = (np.arange(grid_size + 1, dtype=float) - 0.5) * h

    pmfs: list[FloatArray] = []
    p_any: list[float] = []
    port_hat = np.ones(grid_size, dtype=complex)
    for s in portfolio.scenarios:
        cdf = _event_amount_cdf(s, edges, basis)
        cdf[0] = 0.0
        sev = np.diff(cdf)
        sev[-1] += 1.0 - cdf[-1]  # mass beyond the grid is kept in the last cell
        freq: Any = s.frequency
        agg_hat = freq.pgf(np.fft.fft(sev * tilt))
        pmf = np.real(np.fft.ifft(agg_hat)) / tilt
        pmf = np.clip(pmf, 0.0, None)
        pmf = _apply_annual_layer(s, pmf, h, basis)
        pmfs.append(pmf)
        p_any.append(float(1.0 - np.real(freq.pgf(np.array([0j])))[0]))
        port_hat *= np.fft.fft(pmf * tilt)
    port = np.clip(np.real(np.fft.ifft(port_hat)) / tilt, 0.0, None)
    # Mass that fell beyond the grid (below ~1e-7) is reported, not spread back.
    aliasing = abs(1.0 - float(port.sum()))
    return ExactResult(
        portfolio,
        h=h,
        scenario_pmfs=pmfs,
        portfolio_pmf=port,
        p_any=p_any,
        portfolio_p_any=float(1.0 - np.prod([1.0 - p for p in p_any])),
        basis=basis,
        aliasing=aliasing,
    )
