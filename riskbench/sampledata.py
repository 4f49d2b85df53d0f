"""Synthetic logs of Northwind Components, the fictional company of the example register.

:func:`write_sample_data` writes, for a number of years ending last year:

- ``incidents.csv``: incidents simulated from ``examples/register.yaml`` (per scenario per
  year, counts from its frequency and losses from its severity), plus minor incidents
  without a scenario;
- ``ledger_erp.csv`` with ``ledger_mapping.yaml``: a German ERP export (``;``-separated,
  ``dd.mm.yyyy`` dates, decimal commas, German headers) and the mapping that reads it;
- ``revenue_daily.csv``: revenue per day for four products;
- ``deliveries.xlsx``: supplier deliveries, some late, a few open;
- ``cyber_events.csv``: many alerts and a few incidents, timestamps with UTC offsets.

Everything is drawn from one seeded generator: the same seed gives the same files.

Examples
--------
>>> import tempfile
>>> files = write_sample_data(tempfile.mkdtemp(), seed=1, years=2)
>>> sorted(files)
['cyber', 'deliveries', 'incidents', 'ledger', 'ledger_mapping', 'revenue']
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import pandas as pd

from riskbench.errors import Issue, ValidationError

__all__ = ["EXAMPLE_REGISTER", "PRODUCTS", "write_sample_data"]

EXAMPLE_REGISTER = Path(__file__).resolve().parents[1] / "examples" / "register.yaml"
# product: mean revenue per working day, in EUR
PRODUCTS = {
    "gearboxes": 900_000.0,
    "pumps": 600_000.0,
    "valves": 450_000.0,
    "spare-parts": 250_000.0,
}
SUPPLIERS = {  # supplier: (mean days late when late, probability of being late)
    "Rheinstahl GmbH": (3.0, 0.15),
    "Silesia Castings": (6.0, 0.30),
    "Po Valley Bearings": (4.0, 0.20),
    "Shenzhen MicroChips": (12.0, 0.35),
    "Nordic Polymers": (2.0, 0.10),
    "Danube Electronics": (5.0, 0.25),
}
SYSTEMS = ("erp", "mes", "email", "vpn", "file-server", "web-portal", "ot-network")

LEDGER_MAPPING = """\
# Maps the German ERP export (ledger_erp.csv) onto riskbench's ledger schema.
columns:
  Belegnummer: entry_id
  Buchungsdatum: posted_on
  Sachkonto: account
  Produktgruppe: product
  Betrag: amount
  Währung: currency
date_format: "%d.%m.%Y"
decimal: ","
thousands: "."
delimiter: ";"
timezone: Europe/Berlin
"""


def _days(first: dt.date, last: dt.date) -> pd.DatetimeIndex:
    return pd.date_range(first, last, freq="D")


def _incidents(rng: np.random.Generator, years: list[int], register: Path) -> pd.DataFrame:
    from riskbench.cards import load_portfolio

    portfolio = load_portfolio(register)
    rows: list[dict[str, object]] = []
    for s in portfolio.scenarios:
        counts = s.frequency.sample(len(years), rng).astype(int)
        for year, n in zip(years, counts, strict=True):
            if n == 0:
                continue
            losses = s.severity.sample(int(n), rng)
            days = rng.integers(0, 365, size=int(n))
            for loss, day in zip(losses, days, strict=True):
                rows.append(
                    {
                        "occurred_on": dt.date(year, 1, 1) + dt.timedelta(days=int(day)),
                        "category": s.category,
                        "scenario_id": s.id,
                        "asset": "",
                        "loss": round(float(loss), 2),
                        "description": s.title,
                    }
                )
    # Minor incidents no register scenario covers: a few a year, small losses.
    minor = {
        "operational": "machine breakdown on line {}",
        "supply-chain": "short shipment from supplier, line {} stopped",
        "cyber": "phishing click contained on workstation {}",
    }
    for year in years:
        for category, text in minor.items():
            for _ in range(int(rng.poisson(3.0))):
                rows.append(
                    {
                        "occurred_on": dt.date(year, 1, 1)
                        + dt.timedelta(days=int(rng.integers(0, 365))),
                        "category": category,
                        "scenario_id": "",
                        "asset": f"plant-{int(rng.integers(1, 5))}",
                        "loss": round(float(rng.lognormal(np.log(20_000), 1.0)), 2),
                        "description": text.format(int(rng.integers(1, 9))),
                    }
                )
    df = pd.DataFrame(rows).sort_values(["occurred_on", "category"], kind="stable")
    df.insert(0, "incident_id", [f"INC-{i:05d}" for i in range(1, len(df) + 1)])
    df["currency"] = "EUR"
    return df


def _revenue(rng: np.random.Generator, first: dt.date, last: dt.date) -> pd.DataFrame:
    days = _days(first, last)
    working = days.day_of_week < 5
    season = 1.0 + 0.1 * np.sin(2 * np.pi * days.day_of_year.to_numpy() / 365.25)
    frames = []
    for product, mean in PRODUCTS.items():
        noise = rng.lognormal(-0.02, 0.2, size=len(days))
        revenue = np.where(working, mean * season * noise, mean * 0.05 * noise)
        frames.append(
            pd.DataFrame({"day": days.date, "product": product, "revenue": revenue.round(2)})
        )
    df = pd.concat(frames, ignore_index=True)
    df["currency"] = "EUR"
    return df


def _ledger(rng: np.random.Generator, revenue: pd.DataFrame) -> pd.DataFrame:
    """Weekly postings per product: sales, material cost, freight, in the ERP's format."""
    rev = revenue.assign(week=pd.to_datetime(revenue["day"]).dt.to_period("W").dt.end_time)
    weekly = rev.groupby(["week", "product"], as_index=False)["revenue"].sum()
    rows = []
    accounts = {"8400 Umsatzerlöse": 1.0, "5400 Materialaufwand": -0.55, "4730 Frachtkosten": -0.03}
    for _, r in weekly.iterrows():
        for account, share in accounts.items():
            amount = r["revenue"] * share * float(rng.lognormal(0.0, 0.05))
            rows.append((r["week"].date(), account, r["product"], round(amount, 2)))
    df = pd.DataFrame(rows, columns=["posted_on", "account", "product", "amount"])
    return pd.DataFrame(
        {
            "Belegnummer": [f"BN{i:07d}" for i in range(1, len(df) + 1)],
            "Buchungsdatum": pd.to_datetime(df["posted_on"]).dt.strftime("%d.%m.%Y"),
            "Sachkonto": df["account"],
            "Produktgruppe": df["product"],
            # German number format: 1.234.567,89
            "Betrag": [
                f"{a:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
                for a in df["amount"]
            ],
            "Währung": "EUR",
        }
    )


def _deliveries(rng: np.random.Generator, first: dt.date, last: dt.date) -> pd.DataFrame:
    rows = []
    today = last
    for supplier, (mean_late, p_late) in SUPPLIERS.items():
        n = int((last - first).days / 365.25 * 24)  # about two orders a month
        ordered = np.sort(rng.integers(0, (last - first).days, size=n))
        for o in ordered:
            ordered_on = first + dt.timedelta(days=int(o))
            promised_on = ordered_on + dt.timedelta(days=int(rng.integers(14, 60)))
            late = rng.random() < p_late
            delay = int(rng.geometric(1.0 / mean_late)) if late else -int(rng.integers(0, 3))
            delivered_on: dt.date | None = promised_on + dt.timedelta(days=delay)
            status = "delivered"
            assert delivered_on is not None
            if delivered_on > today:
                delivered_on, status = None, "open"
            elif rng.random() < 0.01:
                delivered_on, status = None, "cancelled"
            rows.append(
                {
                    "supplier": supplier,
                    "ordered_on": ordered_on,
                    "promised_on": promised_on,
                    "delivered_on": delivered_on,
                    "quantity": int(rng.integers(1, 50)) * 100,
                    "status": status,
                }
            )
    df = pd.DataFrame(rows).sort_values(["ordered_on", "supplier"], kind="stable")
    df.insert(0, "delivery_id", [f"PO-{i:06d}" for i in range(1, len(df) + 1)])
    return df


def _cyber(rng: np.random.Generator, first: dt.date, last: dt.date) -> pd.DataFrame:
    span_s = (last - first).days * 86_400
    n_alerts = int((last - first).days * 2.5)
    n_incidents = max(1, int((last - first).days / 365.25 * 4))
    kinds = ["alert"] * n_alerts + ["incident"] * n_incidents
    seconds = np.sort(rng.integers(0, span_s, size=len(kinds)))
    order = rng.permutation(len(kinds))
    start = pd.Timestamp(first, tz="UTC")
    stamps = (start + pd.to_timedelta(seconds, unit="s")).tz_convert("Europe/Berlin")
    kind = np.asarray(kinds)[order]
    severity = np.where(
        kind == "incident",
        rng.choice(["medium", "high", "critical"], size=len(kind), p=[0.3, 0.5, 0.2]),
        rng.choice(["low", "medium", "high"], size=len(kind), p=[0.7, 0.25, 0.05]),
    )
    systems = rng.choice(SYSTEMS, size=len(kind))
    return pd.DataFrame(
        {
            "event_id": [f"SIEM-{i:07d}" for i in range(1, len(kind) + 1)],
            "observed_at": stamps.strftime("%Y-%m-%dT%H:%M:%S%z").str.replace(
                r"(\d\d)(\d\d)$", r"\1:\2", regex=True
            ),
            "kind": kind,
            "severity": severity,
            "system": systems,
            "description": [f"{k} on {s}" for k, s in zip(kind, systems, strict=True)],
        }
    )


def write_sample_data(
    folder: str | os.PathLike[str],
    *,
    seed: int = 2026,
    years: int = 6,
    register: str | os.PathLike[str] | None = None,
) -> dict[str, Path]:
    """Write Northwind Components' synthetic logs for ``years`` full years into ``folder``.

    ``register`` is the scenario card the incidents are simulated from (default: the
    repository's ``examples/register.yaml``). Returns the files by ingest kind (and
    ``ledger_mapping`` for the ledger's mapping).
    """
    if years < 1:
        raise ValidationError([Issue("years", f"must be >= 1, got {years}")])
    card = Path(register) if register is not None else EXAMPLE_REGISTER
    if not card.is_file():
        raise ValidationError(
            [Issue("register", f"{card} not found: pass register= (a scenario card file)")]
        )
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    last_year = 2025
    year_list = list(range(last_year - years + 1, last_year + 1))
    first, last = dt.date(year_list[0], 1, 1), dt.date(last_year, 12, 31)

    files = {
        "incidents": out / "incidents.csv",
        "ledger": out / "ledger_erp.csv",
        "ledger_mapping": out / "ledger_mapping.yaml",
        "revenue": out / "revenue_daily.csv",
        "deliveries": out / "deliveries.xlsx",
        "cyber": out / "cyber_events.csv",
    }
    _incidents(rng, year_list, card).to_csv(files["incidents"], index=False)
    revenue = _revenue(rng, first, last)
    revenue.to_csv(files["revenue"], index=False)
    _ledger(rng, revenue).to_csv(files["ledger"], index=False, sep=";", encoding="utf-8")
    files["ledger_mapping"].write_text(LEDGER_MAPPING, encoding="utf-8")
    _deliveries(rng, first, last).to_excel(
        files["deliveries"], index=False, sheet_name="deliveries", engine="openpyxl"
    )
    _cyber(rng, first, last).to_csv(files["cyber"], index=False)
    return files
