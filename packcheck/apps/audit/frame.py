"""The audit's results as a pandas DataFrame: for its summary, its report, and an analyst's notebook.

``load_results`` reads the result CSV of ``packcheck audit`` with typed columns
(the status an ordered categorical, scores and seconds as floats, the
``;``-separated lists as tuples); ``summary_by`` counts orders per SKU, station,
reason or status and per status, which the audit's summary and the HTML report's
per-SKU and per-station tables print. In a notebook::

    from packcheck.apps.audit.frame import load_results, summary_by

    df = load_results("out/results.csv")
    summary_by(df, "sku").sort_values("FLAG", ascending=False).head(10)   # SKUs most often flagged
    df[df.status >= "REVIEW"].groupby("station").item_score.describe()   # scores of orders needing a person

This is the only module, with :mod:`packcheck.apps.report`, that imports pandas.
"""
from __future__ import annotations

import os
from typing import Iterable

import numpy as np
import pandas as pd

from .rows import COLUMNS, spreadsheet_safe

STATUSES = ("PASS", "REVIEW", "FLAG", "ERROR")
#: Columns holding ";"-separated lists (several reasons, SKUs, photos per order), as tuples.
LIST_COLUMNS = ("reasons", "skus", "photo", "photo_sha256")
FLOAT_COLUMNS = ("item_score", "item_limit", "variant_score", "variant_limit", "seconds")
#: What :func:`summary_by` can count by, and the column each reads.
KEYS = {"status": "status", "reason": "reasons", "sku": "skus", "station": "station"}


def to_frame(rows: Iterable[dict]) -> pd.DataFrame:
    """Result rows (dicts of the CSV's text, as the audit's journal keeps them) as a typed DataFrame."""
    return _typed(pd.DataFrame([{c: r.get(c, "") for c in COLUMNS} for r in rows], columns=list(COLUMNS)))


def load_results(csv_path: str | os.PathLike) -> pd.DataFrame:
    """The result CSV of ``packcheck audit`` as a typed DataFrame, one row per order in input order.

    Cells the audit prefixed with ``'`` for spreadsheets (text starting ``=``, ``+``,
    ``-``, ``@``) are read back without it.
    """
    df = pd.read_csv(csv_path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{csv_path} is not a packcheck audit result (no column {', '.join(missing)})")
    for c in df.columns:
        df[c] = [_unprefix(v) for v in df[c]]
    return _typed(df)


def _unprefix(value: str) -> str:
    return value[1:] if value.startswith("'") and spreadsheet_safe(value[1:]) == value else value


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["status"] = pd.Categorical(df["status"], categories=STATUSES, ordered=True)
    for c in LIST_COLUMNS:
        df[c] = [tuple(x for x in str(v).split(";") if x) for v in df[c]]
    for c in FLOAT_COLUMNS:
        df[c] = pd.to_numeric(df[c].replace("", np.nan), errors="coerce").astype(float)
    df["first_row"] = pd.to_numeric(df["first_row"].replace("", np.nan), errors="coerce").astype("Int64")
    return df


def summary_by(df: pd.DataFrame, key: str) -> pd.DataFrame:
    """Orders per value of ``key`` ("sku", "station", "reason" or "status") and per status.

    Returns
    -------
    DataFrame
        One row per value, in order of first appearance (an order with no station or
        no reason counts in no row); columns PASS, REVIEW, FLAG, ERROR and ``orders``.
        An order with the same SKU on two lines counts once for it.

    Examples
    --------
    >>> df = to_frame([{"order_id": "A", "status": "FLAG", "skus": "X;Y"}, {"order_id": "B", "status": "PASS", "skus": "X"}])
    >>> summary_by(df, "sku")[["PASS", "FLAG", "orders"]].to_dict("index")
    {'X': {'PASS': 1, 'FLAG': 1, 'orders': 2}, 'Y': {'PASS': 0, 'FLAG': 1, 'orders': 1}}
    """
    if key not in KEYS:
        raise ValueError(f"key must be one of {', '.join(KEYS)}, got {key!r}")
    col = KEYS[key]
    part = pd.DataFrame({key: df[col].astype(object), "_status": df["status"].astype(str)})
    if col in LIST_COLUMNS:
        part[key] = [tuple(dict.fromkeys(v)) for v in part[key]]
        part = part.explode(key)
    part = part[part[key].notna() & (part[key] != "")]
    if part.empty:
        return pd.DataFrame(columns=[*STATUSES, "orders"], dtype=int).rename_axis(key)
    counts = part.groupby([key, "_status"], sort=False).size().unstack("_status", fill_value=0)
    counts = counts.reindex(index=pd.unique(part[key]), columns=list(STATUSES), fill_value=0).astype(int)
    counts["orders"] = counts.sum(axis=1)
    counts.index.name = key
    counts.columns.name = None
    return counts


def add_summaries(total: pd.DataFrame | None, part: pd.DataFrame) -> pd.DataFrame:
    """Two :func:`summary_by` tables of consecutive chunks of rows as one (order of first appearance kept)."""
    if total is None:
        return part
    return pd.concat([total, part]).groupby(level=0, sort=False).sum()
