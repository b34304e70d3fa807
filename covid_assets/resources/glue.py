"""The Glue Data Catalog: the tables through which Athena reads the exports and histories."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from pydantic import Field

from covid_assets.resources.aws_client import AwsClientResource

GLUE_BATCH_GET_PARTITIONS = 1000  # BatchGetPartition's hard limit
GLUE_BATCH_WRITE_PARTITIONS = 100  # BatchCreatePartition's and BatchUpdatePartition's


class GluePartitionError(RuntimeError):
    """Glue refused to create or update some partitions."""


def _raise_partition_errors(errors: list[dict[str, Any]], action: str) -> None:
    if errors:
        first = errors[0]
        raise GluePartitionError(
            f"Glue could not {action} {len(errors)} partition(s), the first "
            f"{first.get('PartitionValues') or first.get('PartitionValueList')}: "
            f"{first.get('ErrorDetail', {}).get('ErrorMessage', first)}"
        )


class GlueCatalogResource(AwsClientResource):
    """The Glue Data Catalog entry through which Athena reads the export, and its partitions
    when it has some."""

    database: str = Field(description="Glue database (COVID_GLUE_DATABASE).")
    table_name: str = Field(description="Glue table (COVID_GLUE_TABLE).")

    def ensure_database(self) -> None:
        glue = self.client("glue")
        with contextlib.suppress(glue.exceptions.AlreadyExistsException):
            glue.create_database(DatabaseInput={"Name": self.database})

    def get_table(self) -> dict[str, Any] | None:
        glue = self.client("glue")
        try:
            return glue.get_table(DatabaseName=self.database, Name=self.table_name)["Table"]
        except glue.exceptions.EntityNotFoundException:
            return None

    def put_table(self, table_input: dict[str, Any]) -> None:
        """Create the table or replace its definition: one call, so readers switch atomically.
        The database is created only when it turns out to be missing."""
        glue = self.client("glue")
        try:
            glue.update_table(DatabaseName=self.database, TableInput=table_input)
        except glue.exceptions.EntityNotFoundException:
            self.ensure_database()
            glue.create_table(DatabaseName=self.database, TableInput=table_input)

    def get_partitions(self, values: Sequence[Sequence[str]]) -> dict[tuple[str, ...], Any]:
        """The partitions with these values that exist (BatchGetPartition, 1,000 a call),
        keyed by their values."""
        glue = self.client("glue")
        found: dict[tuple[str, ...], Any] = {}
        for start in range(0, len(values), GLUE_BATCH_GET_PARTITIONS):
            pending = [
                {"Values": list(v)} for v in values[start : start + GLUE_BATCH_GET_PARTITIONS]
            ]
            while pending:
                response = glue.batch_get_partition(
                    DatabaseName=self.database, TableName=self.table_name, PartitionsToGet=pending
                )
                for partition in response.get("Partitions", []):
                    found[tuple(partition["Values"])] = partition
                pending = response.get("UnprocessedKeys", [])
        return found

    def create_partitions(self, partitions: Sequence[dict[str, Any]]) -> None:
        glue = self.client("glue")
        for start in range(0, len(partitions), GLUE_BATCH_WRITE_PARTITIONS):
            response = glue.batch_create_partition(
                DatabaseName=self.database,
                TableName=self.table_name,
                PartitionInputList=list(partitions[start : start + GLUE_BATCH_WRITE_PARTITIONS]),
            )
            _raise_partition_errors(response.get("Errors", []), "create")

    def update_partitions(self, partitions: Sequence[dict[str, Any]]) -> None:
        """Point each partition at its new files: one partition switches atomically, the way
        the table's location does."""
        glue = self.client("glue")
        for start in range(0, len(partitions), GLUE_BATCH_WRITE_PARTITIONS):
            entries = [
                {"PartitionValueList": partition["Values"], "PartitionInput": partition}
                for partition in partitions[start : start + GLUE_BATCH_WRITE_PARTITIONS]
            ]
            response = glue.batch_update_partition(
                DatabaseName=self.database, TableName=self.table_name, Entries=entries
            )
            _raise_partition_errors(response.get("Errors", []), "update")
