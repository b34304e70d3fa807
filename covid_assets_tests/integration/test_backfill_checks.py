"""A version meets the same checks whichever path brings it: the daily run and the backfill (by a
manifest, or by a list of files) refuse the same damaging input with the same problem, and
neither writes anything of it: no history object, no DynamoDB item, no export."""

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from covid_assets.defs.automation.failures import failure_reason
from covid_assets.defs.backfills.history_backfill import (
    HISTORY_BACKFILL,
    history_backfill_run_config,
)
from covid_assets.domain.reading import RawSourceFile
from covid_assets.domain.rules import SourceDataError, jhu_us_rows
from covid_assets.domain.table_checks import COMMON_DATES_CHECK, checked_national
from covid_assets.domain.tables import COUNTY, NATIONAL, STATE, ServedTable
from covid_assets_dev.current_definitions import current_definitions
from covid_assets_tests.helpers import (
    COUNTIES_THREE_DAYS,
    JHU_THREE_DAYS,
    NYT_THREE_DAYS,
    STATES_THREE_DAYS,
    check_evaluation,
    run_daily_job,
    s3_keys,
    use_level_source,
    use_sources,
)

pytestmark = pytest.mark.integration

# Sources that share no date: an inner join of them is empty (the reproduction).
NYT_MARCH = "date,cases,deaths\n2020-03-01,10,1\n2020-03-02,20,2\n"
JHU_APRIL = "Date,Country/Region,Province/State,Confirmed,Recovered,Deaths\n2020-04-01,US,,9,3,0\n"
# The served table's last day cut by nine tenths: beyond what a revision does.
NYT_COLLAPSED = NYT_THREE_DAYS.replace("2020-03-03,30,3", "2020-03-03,3,3")
# States that do not add up to NYT_THREE_DAYS's national totals on 2020-03-02.
STATES_SHORT = STATES_THREE_DAYS.replace(
    "2020-03-02,Washington,53,14,2", "2020-03-02,Washington,53,13,2"
)
# A county with a fips of four digits.
COUNTIES_BAD_FIPS = COUNTIES_THREE_DAYS.replace("King,Washington,53033", "King,Washington,5303")
PUBLISHED = dt.datetime(2020, 3, 5, tzinfo=dt.UTC)


def published(path: Path, days_after: int = 0) -> str:
    moment = (PUBLISHED + dt.timedelta(days=days_after)).timestamp()
    os.utime(path, (moment, moment))
    return str(path)


def written(aws) -> tuple:
    """Everything a run could have written of a table: DynamoDB items, history objects and
    export files."""
    items = aws.client("dynamodb").scan(TableName=aws.table_name)["Items"]
    served = sorted((i["region"]["S"], i["date"]["S"]) for i in items if i["region"]["S"][0] != "#")
    return served, s3_keys(aws, "history/"), s3_keys(aws, "athena/")


def backfill(instance, config: dict):
    job = current_definitions().resolve_job_def(HISTORY_BACKFILL)
    return job.execute_in_process(run_config=config, instance=instance, raise_on_error=False)


def backfill_failure(result) -> str:
    [failure] = [event for event in result.all_events if event.is_step_failure]
    return failure_reason(failure.step_failure_data.error)


@dataclass(frozen=True)
class Damage:
    """A damaging version of a table: how its files are set up, the check that refuses it and
    the words of its problem, and the backfill's config of the same files."""

    check: str
    problem: str
    daily: Callable[[Path, pytest.MonkeyPatch], None]
    backfill: Callable[[Path], dict]
    levels: tuple[ServedTable, ...] = ()  # the levels on (with the levels they are held to)


def national_daily(nyt: str, jhu: str) -> Callable:
    def setup(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        (folder / "us.csv").write_text(nyt)
        (folder / "jhu.csv").write_text(jhu)
        use_sources(monkeypatch, published(folder / "us.csv", 1), published(folder / "jhu.csv", 1))

    return setup


def one_version_manifest(folder: Path) -> str:
    """A manifest of one version, run day "v", in ``folder``."""
    manifest = folder / "MANIFEST.csv"
    manifest.write_text("run_day,nyt_commit,committed_utc\nv,c,2020-03-06T12:00:00Z\n")
    return str(manifest)


def national_backfill(nyt: str, jhu: str) -> Callable:
    def config(folder: Path) -> dict:
        (folder / "v.csv").write_text(nyt)
        (folder / "jhu-v.csv").write_text(jhu)
        return history_backfill_run_config(
            "national",
            one_version_manifest(folder),
            f"{folder}/{{run_day}}.csv",
            jhu_url=published(folder / "jhu-v.csv"),
        )

    return config


def states_daily(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (folder / "us-states.csv").write_text(STATES_SHORT)
    use_level_source(monkeypatch, STATE, published(folder / "us-states.csv", 1))


def states_backfill(folder: Path) -> dict:
    (folder / "states-v.csv").write_text(STATES_SHORT)
    (folder / "us-v.csv").write_text(NYT_THREE_DAYS)
    return history_backfill_run_config(
        "state",
        one_version_manifest(folder),
        f"{folder}/states-{{run_day}}.csv",
        upstream_url=f"{folder}/us-{{run_day}}.csv",
    )


def counties_daily(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (folder / "us-counties.csv").write_text(COUNTIES_BAD_FIPS)
    use_level_source(monkeypatch, COUNTY, published(folder / "us-counties.csv", 1))


def counties_backfill(folder: Path) -> dict:
    (folder / "us-counties-2020.csv").write_text(COUNTIES_BAD_FIPS)
    return history_backfill_run_config(
        "county", files=[published(folder / "us-counties-2020.csv", 2)]
    )


DAMAGES = {
    "national: the sources share no date": Damage(
        f"{NATIONAL.table_asset}:{COMMON_DATES_CHECK}",
        "no date in both sources (NYT 2020-03-01..2020-03-02, JHU US 2020-04-01..2020-04-01)",
        national_daily(NYT_MARCH, JHU_APRIL),
        national_backfill(NYT_MARCH, JHU_APRIL),
    ),
    "national: a served count collapses": Damage(
        f"{NATIONAL.table_asset}:served_counts_kept",
        "2020-03-03: 3 (served 30)",
        national_daily(NYT_COLLAPSED, JHU_THREE_DAYS),
        national_backfill(NYT_COLLAPSED, JHU_THREE_DAYS),
    ),
    "state: the states do not add up to the nation": Damage(
        f"{STATE.table_asset}:states_sum_to_national_totals",
        "2020-03-02: sum 19",
        states_daily,
        states_backfill,
        (STATE,),
    ),
    "county: a fips of four digits": Damage(
        "nyt_counties_raw:fips_are_five_digits_or_blank",
        "column 'fips': found '5303', expected 5 digits (01001) or blank",
        counties_daily,
        counties_backfill,
        (STATE, COUNTY),
    ),
}


GOOD_LEVEL_FILES = {
    STATE: ("us-states.csv", STATES_THREE_DAYS),
    COUNTY: ("us-counties.csv", COUNTIES_THREE_DAYS),
}


def served_three_days(aws, instance, folder: Path, monkeypatch, damage: Damage) -> tuple:
    """The three good days served by a daily run (the levels the damage needs on, with good
    files), and what that wrote."""
    national_daily(NYT_THREE_DAYS, JHU_THREE_DAYS)(folder, monkeypatch)
    for level in damage.levels:
        name, text = GOOD_LEVEL_FILES[level]
        (folder / name).write_text(text)
        use_level_source(monkeypatch, level, published(folder / name))
    published(folder / "us.csv")
    published(folder / "jhu.csv")
    assert run_daily_job(instance).success
    return written(aws)


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
def test_the_daily_run_refuses_the_damaging_version_and_writes_nothing_of_it(
    aws, instance, tmp_path, monkeypatch, damage
):
    served = served_three_days(aws, instance, tmp_path, monkeypatch, damage)
    damage.daily(tmp_path, monkeypatch)
    result = run_daily_job(instance, raise_on_error=False)
    evaluation = check_evaluation(result, damage.check)
    assert not evaluation.passed
    assert damage.problem in evaluation.metadata["problems"].value
    assert written(aws) == served


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
def test_the_backfill_refuses_the_same_damaging_version_with_the_same_problem(
    aws, instance, tmp_path, monkeypatch, damage
):
    served = served_three_days(aws, instance, tmp_path, monkeypatch, damage)
    result = backfill(instance, damage.backfill(tmp_path))
    assert not result.success
    assert damage.problem in backfill_failure(result)
    assert written(aws) == served


def test_the_national_checks_refuse_sources_that_share_no_date():
    """The reproduction of the defect: the backfill checked the merged table's blocking rules
    only, so an empty table of sources sharing no date passed."""
    nyt = RawSourceFile.from_bytes("nyt.csv", NYT_MARCH.encode())
    jhu = RawSourceFile.from_bytes("jhu.csv", JHU_APRIL.encode())
    jhu = RawSourceFile(jhu.url, jhu.content, jhu_us_rows(jhu.table), [])
    checked = checked_national(nyt, jhu, None, None)
    assert checked.table.empty
    with pytest.raises(SourceDataError, match="no date in both sources"):
        checked.table_or_refusal()
