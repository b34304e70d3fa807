"""The Glue Data Catalog: the tables through which Athena reads the exports and histories."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from dagster import InitResourceContext
from pydantic import Field, PrivateAttr

from covid_assets.resources.aws_client import AwsClientResource

GLUE_BATCH_GET_PARTITIONS = 1000  # BatchGetPartition's hard limit
GLUE_BATCH_WRITE_PARTITIONS = 100  # BatchCreatePartition's and BatchUpdatePartition's

Partition = dict[str, Any]
PartitionValues = tuple[str, ...]


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
    """The Glue database of the exports and histories: its tables and their partitions.

    Within a run (or a tick), each table and partition is read once: the run holds the serving
    lock, so the catalog changes only by the run's own writes, which drop what was read of the
    tables they write. Outside a run (a script, a test) every call reads."""

    database: str = Field(description="Glue database (COVID_GLUE_DATABASE).")
    _tables: dict[str, dict[str, Any] | None] | None = PrivateAttr(default=None)
    _partitions: dict[tuple[str, PartitionValues], Partition | None] | None = PrivateAttr(
        default=None
    )

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._tables, self._partitions = {}, {}

    def ensure_database(self) -> None:
        glue = self.client("glue")
        with contextlib.suppress(glue.exceptions.AlreadyExistsException):
            glue.create_database(DatabaseInput={"Name": self.database})

    def get_table(self, name: str) -> dict[str, Any] | None:
        """The table, or None when there is no such table (or database)."""
        if self._tables is not None and name in self._tables:
            return self._tables[name]
        glue = self.client("glue")
        try:
            table = glue.get_table(DatabaseName=self.database, Name=name)["Table"]
        except glue.exceptions.EntityNotFoundException:
            table = None
        if self._tables is not None:
            self._tables[name] = table
        return table

    def get_tables(self, names: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        """These tables, read together: one paginated GetTables of the database, whatever
        their number (None for each that does not exist)."""
        wanted = [name for name in names if self._tables is None or name not in self._tables]
        found: dict[str, dict[str, Any] | None] = dict.fromkeys(wanted)
        if wanted:
            glue = self.client("glue")
            try:
                pages = glue.get_paginator("get_tables").paginate(DatabaseName=self.database)
                for page in pages:
                    found |= {t["Name"]: t for t in page["TableList"] if t["Name"] in found}
            except glue.exceptions.EntityNotFoundException:
                pass
            if self._tables is not None:
                self._tables |= found
        return {name: found[name] if name in found else self._tables[name] for name in names}

    def put_table(self, table_input: dict[str, Any]) -> None:
        """Create the table or replace its definition: one call, so readers switch atomically.
        The database is created only when it turns out to be missing."""
        if self._tables is not None:
            self._tables.pop(table_input["Name"], None)
        glue = self.client("glue")
        try:
            glue.update_table(DatabaseName=self.database, TableInput=table_input)
        except glue.exceptions.EntityNotFoundException:
            self.ensure_database()
            glue.create_table(DatabaseName=self.database, TableInput=table_input)

    def get_partitions(
        self, table: str, values: Sequence[Sequence[str]]
    ) -> dict[PartitionValues, Partition]:
        """The table's partitions with these values that exist (BatchGetPartition, 1,000 a
        call), keyed by their values."""
        wanted = [tuple(v) for v in values]
        known = {} if self._partitions is None else self._partitions
        missing = [v for v in wanted if (table, v) not in known]
        glue = self.client("glue")
        read: dict[PartitionValues, Partition | None] = dict.fromkeys(missing)
        for start in range(0, len(missing), GLUE_BATCH_GET_PARTITIONS):
            pending = [
                {"Values": list(v)} for v in missing[start : start + GLUE_BATCH_GET_PARTITIONS]
            ]
            while pending:
                response = glue.batch_get_partition(
                    DatabaseName=self.database, TableName=table, PartitionsToGet=pending
                )
                for partition in response.get("Partitions", []):
                    read[tuple(partition["Values"])] = partition
                pending = response.get("UnprocessedKeys", [])
        if self._partitions is not None:
            self._partitions |= {(table, v): partition for v, partition in read.items()}
        every = {**{v: known.get((table, v)) for v in wanted if (table, v) in known}, **read}
        return {v: partition for v, partition in every.items() if partition is not None}

    def _forget_partitions(self, table: str, partitions: Sequence[Partition]) -> None:
        if self._partitions is not None:
            for partition in partitions:
                self._partitions.pop((table, tuple(partition["Values"])), None)

    def create_partitions(self, table: str, partitions: Sequence[Partition]) -> None:
        self._forget_partitions(table, partitions)
        glue = self.client("glue")
        for start in range(0, len(partitions), GLUE_BATCH_WRITE_PARTITIONS):
            response = glue.batch_create_partition(
                DatabaseName=self.database,
                TableName=table,
                PartitionInputList=list(partitions[start : start + GLUE_BATCH_WRITE_PARTITIONS]),
            )
            _raise_partition_errors(response.get("Errors", []), "create")

    def update_partitions(self, table: str, partitions: Sequence[Partition]) -> None:
        """Point each partition at its new files: one partition switches atomically, the way
        the table's location does."""
        self._forget_partitions(table, partitions)
        glue = self.client("glue")
        for start in range(0, len(partitions), GLUE_BATCH_WRITE_PARTITIONS):
            entries = [
                {"PartitionValueList": partition["Values"], "PartitionInput": partition}
                for partition in partitions[start : start + GLUE_BATCH_WRITE_PARTITIONS]
            ]
            response = glue.batch_update_partition(
                DatabaseName=self.database, TableName=table, Entries=entries
            )
            _raise_partition_errors(response.get("Errors", []), "update")
