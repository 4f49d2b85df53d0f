"""Mitigation files: read the options a register's owners can buy from YAML.

A mitigation file has a ``mitigations`` list; each entry holds the keys of a
:class:`~riskbench.mitigation.Mitigation` (an uncertain factor as a distribution
card, insurance as its layers). Every problem in a file is reported at once,
located as ``file: mitigations[i] (id).field: message``. The model, its effect
on a scenario, the evaluation and the optimiser live in :mod:`riskbench.mitigation`,
which re-exports :func:`load_mitigations` and :func:`mitigations_from_dict`.

Examples
--------
>>> ms = mitigations_from_dict(
...     {"mitigations": [{"id": "edr", "name": "EDR", "scenarios": ["ransomware-erp"],
...                       "cost_per_year": 150_000, "frequency_factor": 0.6}]})
>>> [m.id for m in ms]
['edr']
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from riskbench.errors import Issue, ValidationError
from riskbench.files import read_yaml
from riskbench.mitigation import Mitigation, check_mitigations
from riskbench.scenario import Insurance, Portfolio

__all__ = ["load_mitigations", "mitigations_from_dict"]


def mitigations_from_dict(data: Any, *, source: str | None = None) -> tuple[Mitigation, ...]:
    """Mitigations from ``{"mitigations": [...]}``; every problem is reported at once."""
    if not isinstance(data, Mapping) or not isinstance(data.get("mitigations"), list):
        raise ValidationError(
            [Issue("", f"must be a mapping with a 'mitigations' list, got {data!r}")],
            source=source,
        )
    out = []
    issues: list[Issue] = []
    for i, item in enumerate(data["mitigations"]):
        label = f"mitigations[{i}]"
        if not isinstance(item, Mapping):
            issues.append(Issue(label, f"must be a mapping, got {item!r}"))
            continue
        if isinstance(item.get("id"), str):
            label += f" ({item['id']})"
        try:
            out.append(Mitigation(**_insurance_card(dict(item))))
        except ValidationError as err:
            issues.extend(err.within(label).issues)
    if issues:
        raise ValidationError(issues, source=source)
    return tuple(out)


def _insurance_card(item: dict[str, Any]) -> dict[str, Any]:
    ins = item.get("insurance")
    if isinstance(ins, Mapping):
        item["insurance"] = Insurance(**dict(ins))
    return item


def load_mitigations(
    path: str | os.PathLike[str], *, portfolio: Portfolio | None = None
) -> tuple[Mitigation, ...]:
    """Read mitigations from a YAML file; with ``portfolio``, check their scenario ids.

    Raises
    ------
    ValidationError
        Each problem located as ``file: mitigations[i] (id).field: message``.

    Examples
    --------
    >>> import riskbench as rb
    >>> ms = load_mitigations("examples/mitigations.yaml",
    ...                       portfolio=rb.load_portfolio("examples/register.yaml"))
    >>> len(ms) >= 6
    True
    """
    data, _ = read_yaml(path)
    p = Path(path)
    out = mitigations_from_dict(data, source=p.name)
    if portfolio is not None:
        try:
            check_mitigations(portfolio, out)
        except ValidationError as err:
            raise ValidationError(err.issues, source=p.name) from None
    return out
