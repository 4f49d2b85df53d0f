"""The :class:`Workspace`: an organisation's scenarios, runs, register and audit log
in PostgreSQL.

Every method runs in one transaction, as the application role, with the
transaction's ``app.org_id`` set to the workspace's organisation: row-level security
in the database (not only this code) keeps organisations apart. Every write appends
an audit entry in the same transaction, so a write and its audit entry land together
or not at all.

The pieces: :mod:`~riskbench.workspace.session` (connection, transactions, roles,
members, audit), :mod:`~riskbench.workspace.objects` (assets, mitigations, exports),
:mod:`~riskbench.workspace.bulk` (COPY loading) and, here, scenarios and runs.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from riskbench.errors import Issue, PermissionDenied, StoreError, ValidationError
from riskbench.results import SUMMARY_COLUMNS, SimulationResult
from riskbench.scenario import Portfolio, Scenario
from riskbench.workspace.models import Run, RunScenario, ScenarioRow, ScenarioVersion
from riskbench.workspace.objects import RegisterAPI
from riskbench.workspace.records import (
    RunInfo,
    ScenarioInfo,
    finite,
    json_sha256,
    scenario_text,
)

__all__ = ["PermissionDenied", "RunInfo", "ScenarioInfo", "Workspace"]


class Workspace(RegisterAPI):
    """An organisation's stored scenarios, runs, assets, mitigations, exports and
    audit log.

    With no ``url`` (and no ``RISKBENCH_DATABASE_URL``) the workspace starts, or joins,
    the embedded PostgreSQL under ``$RISKBENCH_HOME/pg`` and migrates it. With a URL
    it connects to that database: as given when the URL's role is an ordinary role,
    or as the application role ``riskbench_app`` (password from
    ``RISKBENCH_APP_PASSWORD``) when it is a superuser's; run :func:`upgrade` with an
    administrator's URL first.

    The first user to open a new organisation becomes its admin.

    Parameters
    ----------
    url
        A PostgreSQL URL, or None for the embedded store.
    org
        The organisation: every read and write is confined to its rows.
    user
        Who is acting; their role in ``org`` decides what they may do.
    home
        The embedded store's home (default ``$RISKBENCH_HOME``, else ``~/.riskbench``).
    embedder
        Turns scenario text into vectors for :meth:`similar`; default
        :class:`LexicalEmbedder`; its ``dim`` must be the column's width
        (``models.EMBEDDING_DIM``). An organisation keeps the embedder it
        started with: another one is refused.
    pool_size
        Connections kept open to the database.

    Examples
    --------
    >>> ws = Workspace(org="acme", user="ana")          # doctest: +SKIP
    >>> ws.save_scenario(portfolio["ransomware-erp"])   # doctest: +SKIP
    1
    """

    # -- scenarios --------------------------------------------------------------------
    def save_scenario(self, scenario: Scenario) -> int:
        """Store ``scenario`` as its next version; the version number.

        Saving a card identical to the current version stores nothing and returns
        the current version. Needs role analyst.
        """
        if not isinstance(scenario, Scenario):
            raise ValidationError(
                [Issue("scenario", f"must be a riskbench.Scenario, got {type(scenario).__name__}")]
            )
        with self._tx() as s:
            self._require(s, "analyst", f"save scenario {scenario.id!r}")
            return self._save_scenario(s, scenario)

    def _save_scenario(self, s: Any, scenario: Scenario) -> int:
        from sqlalchemy import select, update
        from sqlalchemy.dialects.postgresql import insert

        card = scenario.to_dict()
        digest = json_sha256(card)
        s.execute(
            insert(ScenarioRow)
            .values(org_id=self.org, scenario_id=scenario.id, current_version=0)
            .on_conflict_do_nothing()
        )
        row = s.execute(
            select(ScenarioRow)
            .where(ScenarioRow.org_id == self.org, ScenarioRow.scenario_id == scenario.id)
            .with_for_update()
        ).scalar_one()
        current = row.current_version
        if current:
            current_digest = s.execute(
                select(ScenarioVersion.card_sha256).where(
                    ScenarioVersion.org_id == self.org,
                    ScenarioVersion.scenario_id == scenario.id,
                    ScenarioVersion.version == current,
                )
            ).scalar_one()
            if current_digest == digest:
                if row.deleted_at is not None:
                    row.deleted_at = None
                    self._audit(s, "scenario.restore", scenario.id, {"version": current})
                return int(current)
        version = int(current) + 1
        vector = self.embedder.embed([scenario_text(scenario)])[0]
        s.add(
            ScenarioVersion(
                org_id=self.org,
                scenario_id=scenario.id,
                version=version,
                card=card,
                card_sha256=digest,
                created_by=self.user,
                embedding=vector,
            )
        )
        s.flush()
        s.execute(
            update(ScenarioRow)
            .where(ScenarioRow.org_id == self.org, ScenarioRow.scenario_id == scenario.id)
            .values(current_version=version, deleted_at=None)
        )
        self._audit(s, "scenario.save", scenario.id, {"version": version, "card_sha256": digest})
        return version

    def bulk_load_scenarios(self, scenarios: Iterable[Scenario]) -> int:
        """Store many new scenarios in one transaction, each as version 1; how many.

        Much faster than :meth:`save_scenario` in a loop: the cards and their vectors
        are sent with one binary ``COPY`` and moved into place with one insert per
        table, still as the application role under row-level security (see
        :mod:`riskbench.workspace.bulk`). One audit entry, ``scenario.bulk_load``,
        records the count and the SHA-256 of the sorted ``[id, card_sha256]`` pairs.
        Every id must be new to the organisation: otherwise nothing is stored and a
        StoreError names the ones already there. Needs role analyst.
        """
        from riskbench.workspace.bulk import copy_new_scenarios, vector_binary

        items = list(scenarios)
        issues = [
            Issue(f"scenarios[{i}]", f"must be a riskbench.Scenario, got {type(x).__name__}")
            for i, x in enumerate(items)
            if not isinstance(x, Scenario)
        ]
        repeated = sorted(i for i, n in Counter(x.id for x in items if not issues).items() if n > 1)
        if repeated:
            issues.append(Issue("scenarios", f"ids must be unique, repeated: {repeated[:20]}"))
        if issues:
            raise ValidationError(issues)
        if not items:
            with self._tx() as s:
                self._require(s, "analyst", "bulk-load scenarios")
            return 0
        cards = [x.to_dict() for x in items]
        digests = [json_sha256(card) for card in cards]
        vectors = self.embedder.embed([scenario_text(x) for x in items])
        rows = (
            (x.id, card, digest, vector_binary(vector))
            for x, card, digest, vector in zip(items, cards, digests, vectors, strict=True)
        )
        with self._tx() as s:
            self._require(s, "analyst", f"bulk-load {len(items)} scenarios")
            count = copy_new_scenarios(s.connection(), org=self.org, user=self.user, rows=rows)
            pairs = sorted([x.id, digest] for x, digest in zip(items, digests, strict=True))
            detail = {"count": count, "scenarios_sha256": json_sha256(pairs)}
            self._audit(s, "scenario.bulk_load", f"{count} scenarios", detail)
        return count

    def scenario(self, scenario_id: str, version: int | None = None) -> Scenario:
        """A stored scenario: its current version, or ``version`` (deleted ones too)."""
        from sqlalchemy import select

        with self._tx() as s:
            self._require(s, "viewer", f"read scenario {scenario_id!r}")
            query = select(ScenarioVersion.card).where(
                ScenarioVersion.org_id == self.org, ScenarioVersion.scenario_id == scenario_id
            )
            if version is None:
                query = query.join(
                    ScenarioRow,
                    (ScenarioRow.org_id == ScenarioVersion.org_id)
                    & (ScenarioRow.scenario_id == ScenarioVersion.scenario_id)
                    & (ScenarioRow.current_version == ScenarioVersion.version),
                ).where(ScenarioRow.deleted_at.is_(None))
            else:
                query = query.where(ScenarioVersion.version == version)
            card = s.execute(query).scalar_one_or_none()
        if card is None:
            which = "" if version is None else f" version {version}"
            raise StoreError(
                f"organisation {self.org!r} has no scenario {scenario_id!r}{which}; "
                f"stored: {[i.scenario_id for i in self.scenarios()]}"
            )
        return Scenario(**card)

    def scenarios(self) -> list[ScenarioInfo]:
        """The organisation's scenarios (not deleted), by id, at their current version."""
        from sqlalchemy import select

        with self._tx() as s:
            self._require(s, "viewer", "list scenarios")
            rows = s.execute(
                select(ScenarioVersion)
                .join(
                    ScenarioRow,
                    (ScenarioRow.org_id == ScenarioVersion.org_id)
                    & (ScenarioRow.scenario_id == ScenarioVersion.scenario_id)
                    & (ScenarioRow.current_version == ScenarioVersion.version),
                )
                .where(ScenarioRow.deleted_at.is_(None))
                .order_by(ScenarioVersion.scenario_id)
            ).scalars()
            return [
                ScenarioInfo(
                    r.scenario_id,
                    r.version,
                    r.card.get("title", ""),
                    r.card.get("category", ""),
                    r.created_at,
                    r.created_by,
                )
                for r in rows
            ]

    def portfolio(
        self,
        ids: Sequence[str] | None = None,
        *,
        name: str = "Risk register",
        currency: str = "USD",
    ) -> Portfolio:
        """A portfolio of the latest versions of ``ids`` (default: every scenario)."""
        known = [i.scenario_id for i in self.scenarios()]
        wanted = list(known if ids is None else ids)
        missing = [i for i in wanted if i not in known]
        if missing or not wanted:
            raise StoreError(
                f"organisation {self.org!r} has no scenario {missing}; stored: {known}"
                if missing
                else f"organisation {self.org!r} has no scenarios to make a portfolio of"
            )
        return Portfolio([self.scenario(i) for i in wanted], name=name, currency=currency)

    def delete_scenario(self, scenario_id: str) -> None:
        """Hide a scenario from listings, portfolios and searches (admin only).

        Its versions stay, so runs that used them still resolve; saving it again
        brings it back.
        """
        from sqlalchemy import func, update

        with self._tx() as s:
            self._require(s, "admin", f"delete scenario {scenario_id!r}")
            done = s.execute(
                update(ScenarioRow)
                .where(
                    ScenarioRow.org_id == self.org,
                    ScenarioRow.scenario_id == scenario_id,
                    ScenarioRow.deleted_at.is_(None),
                )
                .values(deleted_at=func.now())
                .returning(ScenarioRow.current_version)
            ).first()
            if done is None:
                raise StoreError(f"organisation {self.org!r} has no scenario {scenario_id!r}")
            self._audit(s, "scenario.delete", scenario_id, {"version": int(done[0])})

    def similar(self, query: str | Scenario, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` stored scenarios nearest to ``query``: ``(scenario_id, distance)``.

        Distance is the cosine distance (0 = same direction, 2 = opposite) between
        the embedder's vectors; with the default :class:`LexicalEmbedder` it
        measures shared wording, not meaning. A :class:`Scenario` query leaves out
        the stored scenario with its id. Only this organisation's scenarios count.
        """
        from sqlalchemy import select

        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValidationError([Issue("k", f"must be a positive integer, got {k!r}")])
        if isinstance(query, Scenario):
            text, exclude = scenario_text(query), query.id
        elif isinstance(query, str):
            text, exclude = query, None
        else:
            raise ValidationError(
                [Issue("query", f"must be text or a Scenario, got {type(query).__name__}")]
            )
        vector = self.embedder.embed([text])[0]
        distance = ScenarioVersion.embedding.cosine_distance(vector).label("distance")
        stmt = (
            select(ScenarioVersion.scenario_id, distance)
            .join(
                ScenarioRow,
                (ScenarioRow.org_id == ScenarioVersion.org_id)
                & (ScenarioRow.scenario_id == ScenarioVersion.scenario_id)
                & (ScenarioRow.current_version == ScenarioVersion.version),
            )
            .where(ScenarioRow.deleted_at.is_(None), ScenarioVersion.org_id == self.org)
            .order_by(distance)
            .limit(k)
        )
        if exclude is not None:
            stmt = stmt.where(ScenarioVersion.scenario_id != exclude)
        with self._tx() as s:
            self._require(s, "viewer", "search scenarios")
            return [(str(sid), float(d)) for sid, d in s.execute(stmt)]

    # -- runs -------------------------------------------------------------------------
    def save_run(
        self, result: SimulationResult, *, artefact_dir: str | os.PathLike[str] | None = None
    ) -> str:
        """Store a simulation run and the scenario versions it used; its run id.

        The id is the SHA-256 of the result's input hash and the scenario versions,
        so saving the same run twice stores it once. Scenarios are saved first (as
        new versions where their cards changed). With ``artefact_dir`` the result's
        years are written to ``artefact_dir / run_id`` and that path is stored.
        Needs role analyst.
        """
        from sqlalchemy import select
        from sqlalchemy.dialects.postgresql import insert

        from riskbench import __version__

        if not isinstance(result, SimulationResult):
            raise ValidationError(
                [
                    Issue(
                        "result",
                        f"must be a SimulationResult (a Monte Carlo run), "
                        f"got {type(result).__name__}",
                    )
                ]
            )
        with self._tx() as s:
            self._require(s, "analyst", "save a run")
            versions = {sc.id: self._save_scenario(s, sc) for sc in result.portfolio.scenarios}
            input_hash = result.input_hash()
            run_id = json_sha256({"input_hash": input_hash, "versions": versions})
            exists = s.execute(
                select(Run.run_id).where(Run.org_id == self.org, Run.run_id == run_id)
            ).first()
            if exists:
                return run_id
            artefact = None
            if artefact_dir is not None:
                artefact = str(result.save(Path(artefact_dir) / run_id).resolve())
            summary = result.summary().reset_index()
            records = [{k: finite(v) for k, v in row.items()} for row in summary.to_dict("records")]
            parameters = {
                "trials": result.trials,
                "seed": str(result.seed),
                "basis": result.basis,
                "block_size": result.block_size,
                "engine": result.engine,
                "engine_version": result.engine_version,
                "currency": result.currency,
                "portfolio": result.portfolio.name,
                "correlation": [list(c) for c in result.portfolio.correlation],
            }
            inserted = s.execute(
                insert(Run)
                .values(
                    org_id=self.org,
                    run_id=run_id,
                    input_hash=input_hash,
                    parameters=parameters,
                    seed=str(result.seed),
                    engine=result.engine,
                    engine_version=result.engine_version,
                    package_version=__version__,
                    summary=records,
                    artefact=artefact,
                    created_by=self.user,
                )
                .on_conflict_do_nothing()
                .returning(Run.run_id)
            ).first()
            if inserted is None:  # another session stored it meanwhile
                return run_id
            s.execute(
                insert(RunScenario),
                [
                    {"org_id": self.org, "run_id": run_id, "scenario_id": sid, "version": v}
                    for sid, v in versions.items()
                ],
            )
            self._audit(s, "run.save", run_id, {"scenarios": versions, "input_hash": input_hash})
        return run_id

    def runs(self) -> pd.DataFrame:
        """The stored runs, oldest first: one row per run, indexed by ``run_id``."""
        from sqlalchemy import select

        with self._tx() as s:
            self._require(s, "viewer", "list runs")
            rows = s.execute(select(Run).order_by(Run.created_at, Run.run_id)).scalars().all()
            frame = pd.DataFrame(
                {
                    "run_id": [r.run_id for r in rows],
                    "created_at": [r.created_at for r in rows],
                    "created_by": [r.created_by for r in rows],
                    "engine": [r.engine for r in rows],
                    "trials": [r.parameters.get("trials") for r in rows],
                    "seed": [r.seed for r in rows],
                    "scenarios": [len(r.summary) - 1 for r in rows],
                    "artefact": [r.artefact for r in rows],
                }
            )
        return frame.set_index("run_id")

    def run(self, run_id: str) -> RunInfo:
        """A stored run's metadata, scenario versions and summary table."""
        from sqlalchemy import select

        with self._tx() as s:
            self._require(s, "viewer", f"read run {run_id!r}")
            row = s.execute(
                select(Run).where(Run.org_id == self.org, Run.run_id == run_id)
            ).scalar_one_or_none()
            if row is None:
                raise StoreError(f"organisation {self.org!r} has no run {run_id!r}")
            used = s.execute(
                select(RunScenario.scenario_id, RunScenario.version).where(
                    RunScenario.org_id == self.org, RunScenario.run_id == run_id
                )
            ).all()
            summary = pd.DataFrame.from_records(row.summary).set_index("scenario")
            # jsonb keeps object keys sorted: put the columns back in summary() order.
            summary = summary[[c for c in SUMMARY_COLUMNS if c in summary.columns]]
            return RunInfo(
                run_id=row.run_id,
                created_at=row.created_at,
                created_by=row.created_by,
                parameters=dict(row.parameters),
                seed=row.seed,
                engine=row.engine,
                engine_version=row.engine_version,
                package_version=row.package_version,
                artefact=row.artefact,
                scenarios={str(sid): int(v) for sid, v in used},
                summary=summary.astype(float),
            )
