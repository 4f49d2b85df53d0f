"""The risk register around the scenarios: assets, mitigations and exports.

- **Assets** are what scenarios threaten (an ERP system, a warehouse), with free-form
  JSON attributes.
- **Mitigations** are proposed or adopted controls on one scenario: a yearly cost and
  the fraction by which they cut its frequency and/or severity.
- **Exports** record a file made from a run (a report, a spreadsheet) with the
  SHA-256 of its bytes, so a file found later can be traced to its run.

As everywhere in the workspace, viewers read, analysts save and admins delete; every
write appends an audit entry in its transaction.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from riskbench.errors import Issue, StoreError, ValidationError
from riskbench.files import sha256_file
from riskbench.workspace.models import (
    Asset,
    Export,
    Mitigation,
    NotebookRun,
    Run,
    ScenarioRow,
    Setting,
)
from riskbench.workspace.records import canonical_json, check_name, json_sha256
from riskbench.workspace.session import WorkspaceBase

if TYPE_CHECKING:
    from riskbench.ai.context import OrgProfile

__all__ = ["MITIGATION_STATUSES", "REDUCTION_KEYS", "RegisterAPI"]

#: What a mitigation may reduce: a scenario's event frequency and/or its loss severity.
REDUCTION_KEYS = ("frequency", "severity")
#: A mitigation's life cycle.
MITIGATION_STATUSES = ("proposed", "approved", "implemented", "rejected")

_ASSET_COLUMNS = ["name", "kind", "attributes", "created_at", "created_by"]
_MITIGATION_COLUMNS = [
    "scenario_id",
    "name",
    "cost_per_year",
    "reduction",
    "status",
    "created_at",
    "created_by",
]
_EXPORT_COLUMNS = ["run_id", "kind", "path", "sha256", "size_bytes", "created_at", "created_by"]


def _name_issues(value: Any, field: str) -> list[Issue]:
    try:
        check_name(value, field)
    except ValidationError as err:
        return list(err.issues)
    return []


def _text_issues(value: Any, field: str) -> list[Issue]:
    if isinstance(value, str) and value.strip():
        return []
    return [Issue(field, f"must be non-empty text, got {value!r}")]


def _is_real(value: Any) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _attribute_issues(attributes: dict[str, Any]) -> list[Issue]:
    issues = []
    for key, value in attributes.items():
        try:
            canonical_json(value)
        except (TypeError, ValueError):
            issues.append(
                Issue(
                    f"attributes.{key}",
                    "must be JSON data (text, finite numbers, booleans, None, lists and "
                    f"dicts of them), got {value!r}",
                )
            )
    return issues


def _reduction_issues(reduction: Any) -> list[Issue]:
    allowed = ", ".join(REDUCTION_KEYS)
    if not isinstance(reduction, dict) or not reduction:
        return [
            Issue(
                "reduction",
                f"must be a non-empty dict with keys among {allowed} and fractions in "
                f"[0, 1] as values, e.g. {{'frequency': 0.3}}, got {reduction!r}",
            )
        ]
    issues = []
    for key, value in reduction.items():
        if key not in REDUCTION_KEYS:
            issues.append(Issue("reduction", f"unknown key {key!r}; allowed: {allowed}"))
        elif not _is_real(value) or not 0.0 <= float(value) <= 1.0:
            issues.append(
                Issue(
                    f"reduction.{key}",
                    f"must be a fraction in [0, 1] (0.3 for a 30 % cut), got {value!r}",
                )
            )
    return issues


def _frame(rows: list[dict[str, Any]], index: str, columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=[index, *columns])
    return frame.set_index(index)


class RegisterAPI(WorkspaceBase):
    """Assets, mitigations and exports of the organisation (part of the Workspace)."""

    # -- profile ----------------------------------------------------------------------
    def set_profile(self, profile: OrgProfile) -> None:
        """Store who the organisation is (industry, regions, currency, size): what
        :func:`~riskbench.suggest_scenarios` matches and scales archetypes by. Needs
        role admin; replaces the stored profile."""
        from sqlalchemy.dialects.postgresql import insert

        from riskbench.ai.context import OrgProfile

        if not isinstance(profile, OrgProfile):
            raise ValidationError(
                [Issue("profile", f"must be an OrgProfile, got {type(profile).__name__}")]
            )
        value = profile.to_dict()
        with self._tx() as s:
            self._require(s, "admin", "set the organisation's profile")
            s.execute(
                insert(Setting)
                .values(org_id=self.org, key="profile", value=value)
                .on_conflict_do_update(index_elements=["org_id", "key"], set_={"value": value})
            )
            self._audit(s, "settings.profile", self.org, value)

    def profile(self) -> OrgProfile | None:
        """The organisation's stored profile, or None if none was set."""
        from sqlalchemy import select

        from riskbench.ai.context import OrgProfile

        with self._tx() as s:
            self._require(s, "viewer", "read the organisation's profile")
            value = s.execute(
                select(Setting.value).where(Setting.org_id == self.org, Setting.key == "profile")
            ).scalar_one_or_none()
        return None if value is None else OrgProfile.from_dict(value)

    # -- assets -----------------------------------------------------------------------
    def save_asset(self, id: str, name: str, kind: str, **attributes: Any) -> None:
        """Store asset ``id``, or replace it; ``attributes`` are kept as JSON.

        Saving an asset identical to the stored one changes nothing. Needs role analyst.

        Examples
        --------
        >>> ws.save_asset("erp", "SAP ERP", "system", owner="finance", rto_days=3)  # doctest: +SKIP
        """
        from sqlalchemy import select
        from sqlalchemy.dialects.postgresql import insert

        issues = _name_issues(id, "id") + _text_issues(name, "name") + _text_issues(kind, "kind")
        issues += _attribute_issues(attributes)
        if issues:
            raise ValidationError(issues)
        with self._tx() as s:
            self._require(s, "analyst", f"save asset {id!r}")
            stored = s.execute(
                select(Asset.name, Asset.kind, Asset.attributes)
                .where(Asset.org_id == self.org, Asset.id == id)
                .with_for_update()
            ).first()
            if stored is not None and tuple(stored) == (name, kind, attributes):
                return
            values = {"name": name, "kind": kind, "attributes": attributes}
            s.execute(
                insert(Asset)
                .values(org_id=self.org, id=id, created_by=self.user, **values)
                .on_conflict_do_update(index_elements=["org_id", "id"], set_=values)
            )
            detail = {
                "name": name,
                "kind": kind,
                "attributes_sha256": json_sha256(attributes),
                "replaced": stored is not None,
            }
            self._audit(s, "asset.save", id, detail)

    def assets(self) -> pd.DataFrame:
        """The organisation's assets, indexed by ``asset_id``: name, kind, attributes
        (a dict), created_at and created_by."""
        from sqlalchemy import select

        with self._tx() as s:
            self._require(s, "viewer", "list assets")
            rows = s.execute(select(Asset).order_by(Asset.id)).scalars().all()
            records = [
                {"asset_id": r.id, **{c: getattr(r, c) for c in _ASSET_COLUMNS}} for r in rows
            ]
        return _frame(records, "asset_id", _ASSET_COLUMNS)

    def delete_asset(self, id: str) -> None:
        """Remove asset ``id`` (admin only)."""
        self._delete(Asset, "asset", id, ("name", "kind"))

    def _delete(self, model: Any, noun: str, id: str, recorded: tuple[str, ...]) -> None:
        """Delete one row of ``model`` (admin only), recording ``recorded`` columns of
        what was removed in the audit log."""
        from sqlalchemy import delete

        with self._tx() as s:
            self._require(s, "admin", f"delete {noun} {id!r}")
            gone = s.execute(
                delete(model)
                .where(model.org_id == self.org, model.id == id)
                .returning(*(getattr(model, c) for c in recorded))
            ).first()
            if gone is None:
                raise StoreError(f"organisation {self.org!r} has no {noun} {id!r}")
            self._audit(s, f"{noun}.delete", id, dict(zip(recorded, gone, strict=True)))

    # -- mitigations ------------------------------------------------------------------
    def save_mitigation(
        self,
        id: str,
        scenario_id: str,
        name: str,
        cost_per_year: float,
        reduction: dict[str, float],
        status: str = "proposed",
    ) -> None:
        """Store mitigation ``id`` of a stored scenario, or replace it.

        Parameters
        ----------
        id
            The mitigation's id (letters, digits, ``_.@-``).
        scenario_id
            The (not deleted) scenario it mitigates.
        name
            What it is.
        cost_per_year
            Its yearly cost, >= 0.
        reduction
            By what fraction it cuts the scenario's ``frequency`` and/or ``severity``:
            ``{"frequency": 0.3}`` removes 30 % of the events.
        status
            One of ``MITIGATION_STATUSES``: proposed, approved, implemented, rejected.

        Saving a mitigation identical to the stored one changes nothing. Needs role
        analyst.

        Examples
        --------
        >>> ws.save_mitigation("mfa", "ransomware-erp", "MFA everywhere", 40_000,
        ...                    {"frequency": 0.5})                       # doctest: +SKIP
        """
        from sqlalchemy import select
        from sqlalchemy.dialects.postgresql import insert

        issues = _name_issues(id, "id") + _name_issues(scenario_id, "scenario_id")
        issues += _text_issues(name, "name")
        if not _is_real(cost_per_year) or float(cost_per_year) < 0:
            issues.append(
                Issue("cost_per_year", f"must be a finite number >= 0, got {cost_per_year!r}")
            )
        issues += _reduction_issues(reduction)
        if status not in MITIGATION_STATUSES:
            issues.append(
                Issue("status", f"must be one of {list(MITIGATION_STATUSES)}, got {status!r}")
            )
        if issues:
            raise ValidationError(issues)
        values = {
            "scenario_id": scenario_id,
            "name": name,
            "cost_per_year": float(cost_per_year),
            "reduction": {k: float(v) for k, v in reduction.items()},
            "status": status,
        }
        with self._tx() as s:
            self._require(s, "analyst", f"save mitigation {id!r}")
            live = s.execute(
                select(ScenarioRow.scenario_id).where(
                    ScenarioRow.org_id == self.org,
                    ScenarioRow.scenario_id == scenario_id,
                    ScenarioRow.deleted_at.is_(None),
                )
            ).first()
            if live is None:
                raise StoreError(
                    f"organisation {self.org!r} has no scenario {scenario_id!r} "
                    f"for mitigation {id!r} to mitigate"
                )
            stored = s.execute(
                select(Mitigation)
                .where(Mitigation.org_id == self.org, Mitigation.id == id)
                .with_for_update()
            ).scalar_one_or_none()
            if stored is not None and all(getattr(stored, k) == v for k, v in values.items()):
                return
            s.execute(
                insert(Mitigation)
                .values(org_id=self.org, id=id, created_by=self.user, **values)
                .on_conflict_do_update(index_elements=["org_id", "id"], set_=values)
            )
            self._audit(s, "mitigation.save", id, {**values, "replaced": stored is not None})

    def mitigations(self, scenario_id: str | None = None) -> pd.DataFrame:
        """The organisation's mitigations (of ``scenario_id`` only, if given), indexed
        by ``mitigation_id``; ``reduction`` holds the dict of fractions."""
        from sqlalchemy import select

        query = select(Mitigation).order_by(Mitigation.scenario_id, Mitigation.id)
        if scenario_id is not None:
            query = query.where(Mitigation.scenario_id == scenario_id)
        with self._tx() as s:
            self._require(s, "viewer", "list mitigations")
            rows = s.execute(query).scalars().all()
            records = [
                {"mitigation_id": r.id, **{c: getattr(r, c) for c in _MITIGATION_COLUMNS}}
                for r in rows
            ]
        return _frame(records, "mitigation_id", _MITIGATION_COLUMNS)

    def delete_mitigation(self, id: str) -> None:
        """Remove mitigation ``id`` (admin only)."""
        self._delete(Mitigation, "mitigation", id, ("scenario_id", "name"))

    # -- exports ----------------------------------------------------------------------
    def record_export(self, run_id: str, kind: str, path: str | os.PathLike[str]) -> str:
        """Record that the file at ``path`` was exported from run ``run_id`` (a stored
        simulation run or a notebook run); its export id.

        The file's SHA-256 and size are stored with its absolute path. The id is the
        SHA-256 of the run id, kind, path and file hash, so recording the same file
        twice stores it once; a changed file at the same path is a new export. Needs
        role analyst.
        """
        from sqlalchemy import select
        from sqlalchemy.dialects.postgresql import insert

        issues = _text_issues(run_id, "run_id") + _text_issues(kind, "kind")
        file = Path(path).resolve() if isinstance(path, (str, os.PathLike)) else None
        if file is None or not file.is_file():
            issues.append(Issue("path", f"must be an existing file, got {str(path)!r}"))
        if issues or file is None:
            raise ValidationError(issues)
        digest = sha256_file(file)
        size = file.stat().st_size
        entry = {"run_id": run_id, "kind": kind, "path": str(file), "sha256": digest}
        export_id = json_sha256(entry)
        with self._tx() as s:
            self._require(s, "analyst", f"record an export of run {run_id!r}")
            run = (
                s.execute(
                    select(Run.run_id).where(Run.org_id == self.org, Run.run_id == run_id)
                ).first()
                or s.execute(
                    select(NotebookRun.run_id).where(
                        NotebookRun.org_id == self.org, NotebookRun.run_id == run_id
                    )
                ).first()
            )
            if run is None:
                raise StoreError(f"organisation {self.org!r} has no run or notebook run {run_id!r}")
            inserted = s.execute(
                insert(Export)
                .values(
                    org_id=self.org,
                    id=export_id,
                    size_bytes=size,
                    created_by=self.user,
                    **entry,
                )
                .on_conflict_do_nothing()
                .returning(Export.id)
            ).first()
            if inserted is not None:
                self._audit(s, "export.record", export_id, {**entry, "size_bytes": size})
        return export_id

    def exports(self, run_id: str | None = None) -> pd.DataFrame:
        """The recorded exports (of ``run_id`` only, if given), oldest first, indexed
        by ``export_id``."""
        from sqlalchemy import select

        query = select(Export).order_by(Export.created_at, Export.id)
        if run_id is not None:
            query = query.where(Export.run_id == run_id)
        with self._tx() as s:
            self._require(s, "viewer", "list exports")
            rows = s.execute(query).scalars().all()
            records = [
                {"export_id": r.id, **{c: getattr(r, c) for c in _EXPORT_COLUMNS}} for r in rows
            ]
        return _frame(records, "export_id", _EXPORT_COLUMNS)
