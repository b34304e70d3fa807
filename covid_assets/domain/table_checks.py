"""A version of a served table, made and checked: the problems of each check, as the table's
asset reports them and as a backfill refuses a version. One function per way a table is made
(the nation's merge, a level's file), so that a version meets the same checks whichever path
brings it.

Plain pandas: no Dagster or AWS.
"""

from dataclasses import dataclass, field

import pandas as pd

from covid_assets.domain.reading import RawSourceFile
from covid_assets.domain.rules import (
    CUMULATIVE_TOTALS_RULE,
    MERGED_BLOCKING_RULES,
    KnownProblem,
    Problem,
    ServedTolerances,
    SourceDataError,
    common_dates_mismatch,
    lost_served_days,
    no_common_dates,
    served_counts_dropped,
    served_days_lost_beyond_tolerance,
)
from covid_assets.domain.tables import NATIONAL, ServedTable
from covid_assets.domain.transform import merge_daily

ROW_COUNT_CHECK = "row_count_matches_common_dates"
COMMON_DATES_CHECK = "sources_share_dates"
SERVED_DAYS_CHECK = "served_days_kept"
SERVED_COUNTS_CHECK = "served_counts_kept"
LOST_DAYS_WARNING = "no_served_day_lost"
# The national checks that compare the table with what is served.
AGAINST_SERVED = (SERVED_DAYS_CHECK, SERVED_COUNTS_CHECK, LOST_DAYS_WARNING)


@dataclass(frozen=True)
class CheckedVersion:
    """A version's table, and the problems of each of its checks: the blocking ones refuse the
    version (nothing of it is written), the warnings are reported. ``known``: by check, the
    differences a known discrepancy explains, reported with their reason and never failed."""

    table: pd.DataFrame
    blocking: dict[str, list[Problem]]
    warnings: dict[str, list[Problem]]
    known: dict[str, list[KnownProblem]] = field(default_factory=dict)

    @property
    def refused(self) -> bool:
        return any(self.blocking.values())

    def table_or_refusal(self) -> pd.DataFrame:
        """The table, or SourceDataError listing every blocking problem."""
        if self.refused:
            raise SourceDataError([p for found in self.blocking.values() for p in found])
        return self.table


def readable(*files: RawSourceFile) -> None:
    """SourceDataError when a file is not a readable CSV (its raw asset's checks say so too)."""
    problems = [problem for file in files for problem in file.read_problems]
    if problems:
        raise SourceDataError(problems)


def checked_national(
    nyt: RawSourceFile,
    jhu: RawSourceFile,
    served: pd.DataFrame | None,
    tolerances: ServedTolerances,
) -> CheckedVersion:
    """The national table of these files (``merge_daily``, which refuses files that break their
    sources' rules), checked: its own rules, one row per date the sources share, at least one
    such date, and what it would publish against ``served`` (the table served now; None when
    nothing is, or when the version is older than the newest and will not be served)."""
    readable(nyt, jhu)
    table = merge_daily(nyt.table, jhu.table, nyt.url, jhu.url)
    name = NATIONAL.table_asset
    blocking = {rule.name: rule.find_problems(table, name) for rule in MERGED_BLOCKING_RULES}
    blocking[ROW_COUNT_CHECK] = common_dates_mismatch(table, nyt.table, jhu.table, name)
    blocking[COMMON_DATES_CHECK] = no_common_dates(nyt.table, jhu.table, name)
    blocking[SERVED_DAYS_CHECK] = blocking[SERVED_COUNTS_CHECK] = []
    warnings = {
        CUMULATIVE_TOTALS_RULE.name: CUMULATIVE_TOTALS_RULE.find_problems(table, name),
        LOST_DAYS_WARNING: [],
    }
    if served is not None:
        blocking[SERVED_DAYS_CHECK] = served_days_lost_beyond_tolerance(
            table, served, tolerances, name
        )
        blocking[SERVED_COUNTS_CHECK] = served_counts_dropped(table, served, tolerances, name)
        warnings[LOST_DAYS_WARNING] = lost_served_days(table, served, name)
    return CheckedVersion(table, blocking, warnings)


def checked_level(
    table: ServedTable, raw: RawSourceFile, upstream: RawSourceFile | None
) -> CheckedVersion:
    """A level's table of its file (the level's transform, which refuses a file that breaks its
    source's rules), checked with the table's rules and reconciled with ``upstream``, the file
    of the level above of the same version. Without it, a blocking reconciliation refuses the
    version (it cannot be held to it), and a warning is not evaluated."""
    readable(raw)
    level = table.level
    rows = level.build_table(raw.table, raw.url)
    blocking = {
        rule.name: rule.find_problems(rows, table.table_asset) for rule in level.table_rules
    }
    rule = level.reconciliation
    if upstream is None:
        missing = Problem(
            table.table_asset, None, None, None, f"the {rule.against.label} of the same version"
        )
        found = [missing] if rule.blocking else None
        known = {}
    else:
        readable(upstream)
        reconciled = table.reconciliation_problems(rows, upstream.table)
        found = reconciled.problems
        known = {rule.check_name: reconciled.known}
    warnings = {}
    if rule.blocking:
        blocking[rule.check_name] = found
    elif found is not None:
        warnings[rule.check_name] = found
    return CheckedVersion(rows, blocking, warnings, known)
