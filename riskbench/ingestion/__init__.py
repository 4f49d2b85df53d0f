"""Ingest a customer's logs (CSV, Parquet, xlsx) into the log store.

>>> from riskbench.ingestion import KINDS
>>> list(KINDS)
['incidents', 'ledger', 'revenue', 'deliveries', 'cyber']
"""

from riskbench.ingestion.core import IngestReport, Mapping, ingest, load_mapping
from riskbench.ingestion.schema import KINDS

__all__ = ["KINDS", "IngestReport", "Mapping", "ingest", "load_mapping"]
