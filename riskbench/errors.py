"""Exceptions and warnings raised by riskbench.

Every error the package raises on purpose derives from :class:`RiskbenchError`::

    RiskbenchError
    ├── ValidationError          bad input; also a ValueError
    │   └── ScenarioError        a scenario card (file or dict) is invalid
    ├── StoreError               a workspace or log store failed
    │   └── PermissionDenied     the user's role does not allow the action
    ├── CalibrationError         a fit did not converge or is not trustworthy
    ├── RunError                 a parameterised notebook run failed (carries the cell)
    ├── Cancelled                a simulation was cancelled (its cancel event was set)
    └── MissingDependencyError   an optional extra is not installed; also an ImportError

    RiskbenchWarning             base of the package's warnings (a UserWarning)
    └── CorrelationRepairWarning a correlation matrix was repaired to the nearest valid one

A :class:`ValidationError` carries every problem found, not just the first, as
``issues``: tuples of (location, message), where the location is a dotted path
such as ``scenarios[2] (ransomware-erp).severity.high``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Self

__all__ = [
    "CalibrationError",
    "Cancelled",
    "CorrelationRepairWarning",
    "Issue",
    "MissingDependencyError",
    "PermissionDenied",
    "RiskbenchError",
    "RiskbenchWarning",
    "RunError",
    "ScenarioError",
    "StoreError",
    "ValidationError",
]


class RiskbenchError(Exception):
    """Root of every error riskbench raises on purpose."""


@dataclass(frozen=True)
class Issue:
    """One problem with an input: where it is and what is wrong."""

    loc: str
    message: str

    def __str__(self) -> str:
        return f"{self.loc}: {self.message}" if self.loc else self.message

    def within(self, prefix: str) -> Issue:
        """The same issue, located under ``prefix``."""
        if not prefix:
            return self
        if not self.loc:
            return Issue(prefix, self.message)
        sep = "" if self.loc.startswith("[") else "."
        return Issue(f"{prefix}{sep}{self.loc}", self.message)


class ValidationError(RiskbenchError, ValueError):
    """Bad input: names the field, the bad value and what is allowed.

    Parameters
    ----------
    issues
        The problems found, each an :class:`Issue` or a plain message.
    source
        Where the input came from (a file name), printed before each issue.
    """

    def __init__(self, issues: Iterable[Issue | str] | str, *, source: str | None = None):
        if isinstance(issues, str):
            issues = [issues]
        self.issues: tuple[Issue, ...] = tuple(
            i if isinstance(i, Issue) else Issue("", i) for i in issues
        )
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        prefix = f"{self.source}: " if self.source else ""
        lines = [f"{prefix}{issue}" for issue in self.issues]
        if len(lines) == 1:
            return lines[0]
        return f"{len(lines)} problems:\n" + "\n".join(f"  {line}" for line in lines)

    def within(self, prefix: str) -> ValidationError:
        """The same error, with every location placed under ``prefix``."""
        return type(self)([i.within(prefix) for i in self.issues], source=self.source)

    @classmethod
    def collect(cls, errors: Sequence[ValidationError], *, source: str | None = None) -> Self:
        return cls([i for e in errors for i in e.issues], source=source)


class ScenarioError(ValidationError):
    """A scenario card is invalid; ``issues`` lists every problem with its location."""


class StoreError(RiskbenchError):
    """A workspace or log store could not do what was asked."""


ROLES = ("viewer", "analyst", "admin")


class PermissionDenied(StoreError):
    """The workspace user's role does not allow the action.

    The message names the user, their role, the action and the role it needs.
    """

    def __init__(self, *, user: str, role: str | None, org: str, action: str, needed: str):
        self.user = user
        self.role = role
        self.action = action
        self.needed = needed
        has = f"role {role!r}" if role else "no role (not a member)"
        super().__init__(
            f"user {user!r} has {has} in organisation {org!r} and may not {action}: "
            f"that needs role {needed!r} or higher (roles: {', '.join(ROLES)})"
        )


class CalibrationError(RiskbenchError):
    """A calibration did not converge or gave a fit that should not be trusted."""


class RunError(RiskbenchError):
    """A parameterised run failed; ``cell_index`` says where, as papermill does, and
    ``issues`` lists bad parameters (field, value, what is allowed)."""

    def __init__(
        self, message: str, *, cell_index: int | None = None, issues: Iterable[Issue] = ()
    ):
        self.cell_index = cell_index
        self.issues: tuple[Issue, ...] = tuple(issues)
        super().__init__(message if cell_index is None else f"cell {cell_index}: {message}")


class Cancelled(RiskbenchError):
    """A simulation was cancelled before it finished; ``done`` of ``total`` blocks were."""

    def __init__(self, *, done: int, total: int):
        self.done = done
        self.total = total
        super().__init__(f"simulation cancelled after {done} of {total} blocks")


class MissingDependencyError(RiskbenchError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, module: str, extra: str, *, purpose: str):
        self.module = module
        self.extra = extra
        super().__init__(
            f"{purpose} needs the optional package {module!r}, which is not installed. "
            f"Install it with: pip install 'riskbench[{extra}]'"
        )


class RiskbenchWarning(UserWarning):
    """Base of the warnings riskbench issues."""


class CorrelationRepairWarning(RiskbenchWarning):
    """A correlation matrix that was not positive semi-definite was repaired."""
