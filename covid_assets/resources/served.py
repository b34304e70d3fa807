"""What is served now, read back for the merged table's checks against it, and the tolerances
a new table is held to: the Athena export as users query it, read through its Glue table
(GetTable, a List and a Get of one small Parquet file)."""

from dataclasses import dataclass

import pandas as pd
from dagster import ConfigurableResource
from pydantic import Field

from covid_assets.domain.history import Version, stale_reason
from covid_assets.domain.rules import MERGED_COLUMNS, ServedTolerances
from covid_assets.resources.glue import GlueCatalogResource
from covid_assets.resources.glue_export import ExportUnreadableError, read_glue_export
from covid_assets.resources.s3 import S3BucketResource


@dataclass(frozen=True)
class ServedTable:
    """The served export's rows (None when nothing is served yet), and where they come from or
    why there are none."""

    rows: pd.DataFrame | None
    note: str


class ServedExportResource(ConfigurableResource):
    """The served export, and how far a new merged table may fall short of it."""

    glue: GlueCatalogResource = Field(description="The Glue table users query.")
    history: GlueCatalogResource = Field(
        description="The Glue table of its history, which records the newest version: an older "
        "one is never served, so it is not held to what is served."
    )
    bucket: S3BucketResource = Field(description="The bucket that holds the export's files.")
    max_lost_days_percent: int = Field(
        description="Served days a new table may lose, in percent (COVID_MAX_LOST_DAYS_PERCENT).",
    )
    protected_recent_days: int = Field(
        description="The last served days none of which may be lost (COVID_PROTECTED_RECENT_DAYS).",
    )
    max_count_drop_percent: int = Field(
        description="How far a count may fall below the served one, in percent "
        "(COVID_MAX_COUNT_DROP_PERCENT).",
    )
    count_drop_floor: int = Field(
        description="A fall of this many or fewer is always allowed (COVID_COUNT_DROP_FLOOR).",
    )

    @property
    def tolerances(self) -> ServedTolerances:
        return ServedTolerances(
            self.max_lost_days_percent,
            self.protected_recent_days,
            self.max_count_drop_percent,
            self.count_drop_floor,
        )

    def read(self, version: Version) -> ServedTable:
        """What a new table of ``version`` is compared with: nothing when the version is older
        than the newest one in the history (it will not be served: the newest stays)."""
        older = stale_reason(self.history.get_table(), version)
        if older is not None:
            return ServedTable(None, f"not compared: {older}, so it will not be served")
        try:
            export = read_glue_export(self.glue, self.bucket)
            rows = export.to_arrow(MERGED_COLUMNS).to_pandas()
        except ExportUnreadableError as error:
            return ServedTable(None, f"nothing served yet ({error}): nothing to compare with")
        return ServedTable(rows, f"compared with the {len(rows)} days served at {export.location}")
