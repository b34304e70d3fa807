"""The national history on small hand-written sources: what an append costs, and that the
history asset trusts neither its last output nor the Glue table's record over the files
themselves."""

import datetime as dt
import pickle

import pytest

from covid_assets.domain.tables import NATIONAL
from covid_assets.resources.parquet_tables import ROW_COUNT_PARAMETER
from covid_assets.resources.revision_summaries import REVISION_TABLES_SHA256
from covid_assets_dev.aws_calls import recorded_calls
from covid_assets_dev.figures import is_history_glue_write, is_history_object_write
from covid_assets_dev.history_backfill import national_revisions
from covid_assets_dev.real_files import history_files
from covid_assets_tests.helpers import (
    JHU_FOUR_DAYS,
    JHU_THREE_DAYS,
    NYT_FOUR_DAYS,
    NYT_THREE_DAYS,
    materialization_metadata,
    run_daily_job,
    s3_keys,
    served_tables,
    stored_output_path,
)

pytestmark = pytest.mark.integration

GLUE_HISTORY = "us_daily_history"


def history_metadata(result) -> dict:
    return materialization_metadata(result, NATIONAL.history_asset)


def test_a_next_day_appends_one_object_with_its_new_day_and_makes_one_glue_write(
    aws, instance, write_sources
):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    run_daily_job(instance)
    write_sources(NYT_FOUR_DAYS, JHU_FOUR_DAYS)
    with recorded_calls() as calls:
        result = run_daily_job(instance)
    assert sum(map(is_history_object_write, calls)) == 1
    assert sum(map(is_history_glue_write, calls)) == 1
    assert history_metadata(result)["rows_appended"] == 1
    assert history_files(GLUE_HISTORY).num_rows == 4


def test_the_same_version_again_appends_nothing(aws, instance, write_sources):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    run_daily_job(instance)
    with recorded_calls() as calls:
        result = run_daily_job(instance)
    assert not any(map(is_history_object_write, calls))
    assert not any(map(is_history_glue_write, calls))
    metadata = history_metadata(result)
    assert (metadata["status"], metadata["rows_appended"]) == ("unchanged", 0)
    assert metadata["newest_compared_with"] == "the last output, as the Glue table records it"


def test_a_history_object_deleted_behind_the_pipelines_back_is_appended_again(
    aws, instance, write_sources
):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    run_daily_job(instance)
    [key] = s3_keys(aws, "history/")
    aws.client("s3").delete_object(Bucket=aws.bucket, Key=key)
    metadata = history_metadata(run_daily_job(instance))
    assert metadata["newest_compared_with"].startswith("read from the history's 0 versions (")
    assert (
        f"s3://{aws.bucket}/{key} is not the object the history recorded"
        in (metadata["newest_compared_with"])
    )
    assert metadata["rows_appended"] == 3
    assert history_files(GLUE_HISTORY).num_rows == 3


def test_a_last_output_that_is_not_the_recorded_newest_version_is_not_trusted(
    aws, instance, write_sources
):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    run_daily_job(instance)
    stored = stored_output_path(instance, NATIONAL.history_asset)
    published = pickle.loads(stored.read_bytes())
    published.table.loc[0, "cases"] += 1
    stored.write_bytes(pickle.dumps(published))
    metadata = history_metadata(run_daily_job(instance))
    assert metadata["newest_compared_with"] == (
        "read from the history's 1 versions (the last output is not the newest version the "
        "Glue table records)"
    )
    assert metadata["rows_appended"] == 0


def test_the_as_of_helper_gives_the_table_as_each_version_published_it(
    aws, instance, write_sources
):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    first = run_daily_job(instance)
    write_sources(NYT_FOUR_DAYS, JHU_FOUR_DAYS)
    second = run_daily_job(instance)
    store = served_tables(aws).history(NATIONAL)
    for result, days in ((first, 3), (second, 4)):
        published = dt.datetime.fromisoformat(history_metadata(result)["published"])
        table = store.as_of(published)
        assert len(table) == days
        assert table["cases"].tolist() == [10 * day for day in range(1, days + 1)]


def test_a_history_older_than_its_revision_summary_gets_every_publication_of_it(
    aws, instance, write_sources
):
    """The summary's definitions are not those recorded: its every publication is recomputed
    from the history's files, the version before the run's too."""
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    run_daily_job(instance)
    for key in s3_keys(aws, "revisions/"):
        aws.client("s3").delete_object(Bucket=aws.bucket, Key=key)
    store = served_tables(aws).history(NATIONAL)
    recorded = store.parameters(store.current())
    del recorded[REVISION_TABLES_SHA256]
    store.glue.put_table(store.table_input(int(recorded[ROW_COUNT_PARAMETER]), recorded))
    write_sources(NYT_FOUR_DAYS, JHU_FOUR_DAYS)
    run_daily_job(instance)
    days = [(revised, added) for _, revised, added, *_ in national_revisions()]
    assert days == [(0, 3), (0, 1)]
