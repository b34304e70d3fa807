"""Where each served table lives in S3 and Glue: its export and its history, one resource for
every table, so that an asset of any table takes it as a typed parameter."""

from dagster import ConfigurableResource
from pydantic import Field

from covid_assets.domain.tables import (
    ServedTable,
    history_prefix_of,
    history_table_of,
    revision_days_table_of,
    revisions_prefix_of,
    revisions_table_of,
)
from covid_assets.resources.exports import ExportStore
from covid_assets.resources.glue import GlueCatalogResource
from covid_assets.resources.histories import HistoryStore
from covid_assets.resources.revision_summaries import RevisionSummaryStore
from covid_assets.resources.s3 import S3BucketResource


class ServedTablesResource(ConfigurableResource):
    """The Glue database and the bucket of the served tables, and each table's Glue table and
    key prefix. A table's history is beside its export: ``<Glue table>_history`` and
    ``history/<prefix>``, and its revision summary beside that: ``<Glue table>_revisions`` and
    ``revisions/<prefix>``, with the view ``<Glue table>_revision_days``."""

    glue: GlueCatalogResource = Field(description="The Glue database of the tables.")
    bucket: S3BucketResource = Field(
        description="The bucket of the exports, the histories and the dashboard page."
    )
    glue_tables: dict[str, str] = Field(
        description="Each table's Glue table, by table name (national, state, county): "
        "COVID_GLUE_TABLE, COVID_GLUE_STATES_TABLE, COVID_GLUE_COUNTIES_TABLE."
    )
    export_prefixes: dict[str, str] = Field(
        description="Each table's export prefix in the bucket, by table name: COVID_S3_PREFIX, "
        "COVID_S3_STATES_PREFIX, COVID_S3_COUNTIES_PREFIX."
    )

    def export(self, table: ServedTable) -> ExportStore:
        """The table's export: its Glue table and its files."""
        root = self.export_prefixes[table.name].strip("/") + "/"
        return ExportStore(table, self.glue, self.bucket, self.glue_tables[table.name], root)

    def history(self, table: ServedTable) -> HistoryStore:
        """The table's history: its Glue table and its objects, and its revision summary."""
        glue_table, prefix = self.glue_tables[table.name], self.export_prefixes[table.name]
        summaries = RevisionSummaryStore(
            table,
            self.glue,
            self.bucket,
            revisions_table_of(glue_table),
            revisions_prefix_of(prefix),
            revision_days_table_of(glue_table),
            history_table_of(glue_table),
        )
        return HistoryStore(
            table,
            self.glue,
            self.bucket,
            history_table_of(glue_table),
            history_prefix_of(prefix),
            summaries,
        )
