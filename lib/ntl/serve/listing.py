"""One page of a ranked list: filtered by tier and cluster, sorted by a column, paginated.

42,000 customers are never one HTML table: the page shows `per_page` rows, and sorting and
filtering run on the whole list with vectorised pandas operations before the page is cut.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ntl.errors import ParameterError
from ntl.frame import ID_COLUMN
from ntl.risk import KNOWN_TIER, TIER_ORDER
from ntl.score import NOT_SCORED_TIER

SORTABLE = ("rank", ID_COLUMN, "risk_score", "probability", "tier", "cluster", "quality_flag")
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 500
# known thefts (the input's FLAG 1) follow the customers to inspect; customers without a reading
# are listed, unscored, last
LIST_TIERS = (*TIER_ORDER, KNOWN_TIER, NOT_SCORED_TIER)
TIER_SEVERITY = {name: len(LIST_TIERS) - position for position, name in enumerate(LIST_TIERS)}


@dataclass
class ListingPage:
    """The rows to show and where they sit in the filtered list."""

    rows: pd.DataFrame
    total: int  # customers after filtering
    page: int
    pages: int
    per_page: int


def _sort_key(column: pd.Series) -> pd.Series:
    """Tiers sort by severity (high above medium above low), everything else as it is."""
    return column.map(TIER_SEVERITY) if column.name == "tier" else column


def listing_page(
    ranked: pd.DataFrame,
    *,
    sort: str = "rank",
    descending: bool = False,
    tier: str | None = None,
    cluster: int | None = None,
    page: int = 1,
    per_page: int = DEFAULT_PER_PAGE,
) -> ListingPage:
    """The `page`-th page (from 1) of `ranked` filtered and sorted; ParameterError for a bad
    option (naming it). Ties keep the list's order; missing values sort last."""
    if sort not in SORTABLE:
        raise ParameterError(f"sort must be one of {list(SORTABLE)}, got {sort!r}")
    if tier is not None and tier not in LIST_TIERS:
        raise ParameterError(f"tier must be one of {list(LIST_TIERS)}, got {tier!r}")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ParameterError(f"per_page must be between 1 and {MAX_PER_PAGE}, got {per_page}")
    if page < 1:
        raise ParameterError(f"page must be 1 or more, got {page}")
    keep = np.ones(len(ranked), dtype=bool)
    if tier is not None:
        keep &= (ranked["tier"].astype(str) == tier).to_numpy()
    if cluster is not None:
        keep &= (ranked["cluster"] == cluster).to_numpy()
    selected = ranked[keep]
    if sort != "rank" or descending:
        selected = selected.sort_values(
            sort, ascending=not descending, kind="stable", na_position="last", key=_sort_key
        )
    total = len(selected)
    pages = max(1, math.ceil(total / per_page))
    page = min(page, pages)
    start = (page - 1) * per_page
    return ListingPage(selected.iloc[start : start + per_page], total, page, pages, per_page)
