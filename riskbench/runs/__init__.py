"""Reproducible scenario runs: checked parameters, the analysis, papermill runs with
provenance, and schedules."""

from riskbench.runs.analysis import scenario_run
from riskbench.runs.notebook import NotebookRun, run_dir, run_notebook
from riskbench.runs.outputs import RunOutputs
from riskbench.runs.params import RunParameters
from riskbench.runs.summary import executive_summary

__all__ = [
    "NotebookRun",
    "RunOutputs",
    "RunParameters",
    "executive_summary",
    "run_dir",
    "run_notebook",
    "scenario_run",
]
