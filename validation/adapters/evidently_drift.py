"""Evidently's column-drift engine, ``evidently.legacy.calculations.data_drift.get_drift_for_columns``.

The engine behind ``DataDriftPreset``, called directly instead of ``Report.run`` (which renders a Plotly widget per
column, about three times the cost of the statistics, only to be thrown away). A legacy, undocumented API (written
against evidently 0.7.x); this module is the only one that imports it.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class ColumnDrift:
    method: str
    threshold: float
    score: float
    drifted: bool


@dataclass(frozen=True)
class DatasetDrift:
    columns: dict[str, ColumnDrift]
    drifted_share: float
    drifted_count: int


def column_drift(reference: pd.DataFrame, current: pd.DataFrame, *, numerical: list[str], categorical: list[str],
                 drift_share: float) -> DatasetDrift:
    """Per column, the statistical test Evidently picks (by type and size), its score and verdict; and the share of
    drifted columns. ``reference`` and ``current`` hold exactly the columns named."""
    os.environ["DO_NOT_TRACK"] = "1"  # Evidently sends usage telemetry unless told not to, from its import on
    # Imported on first use, after DO_NOT_TRACK is set; and Evidently takes seconds to import.
    from evidently.legacy.calculations.data_drift import get_drift_for_columns
    from evidently.legacy.metric_results import DatasetColumns, DatasetUtilityColumns
    from evidently.legacy.options.data_drift import DataDriftOptions

    columns = DatasetColumns(
        utility_columns=DatasetUtilityColumns(date=None, id=None, target=None, prediction=None), target_type=None,
        task=None, num_feature_names=list(numerical), cat_feature_names=list(categorical),
        text_feature_names=[], datetime_feature_names=[], target_names=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns about empty categories in chi-square; harmless here
        drift = get_drift_for_columns(current_data=current, reference_data=reference, dataset_columns=columns,
                                      columns=[*numerical, *categorical],
                                      data_drift_options=DataDriftOptions(drift_share=drift_share), agg_data=True)
    return DatasetDrift(
        columns={name: ColumnDrift(method=d.stattest_name, threshold=d.stattest_threshold, score=d.drift_score,
                                   drifted=bool(d.drift_detected)) for name, d in drift.drift_by_columns.items()},
        drifted_share=drift.share_of_drifted_columns, drifted_count=drift.number_of_drifted_columns)
