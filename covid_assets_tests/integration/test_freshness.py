"""The freshness alert's sequence: stale, fresh again, stale again is two alerts, one per time
what is served turned stale. The freshness states are recorded here as the daemon records them
(``record_freshness_state``): the daemon itself, and the first alert, are tested against the real
daemon in system/test_ui.py."""

import pytest

from covid_assets_dev.freshness import record_freshness_state
from covid_assets_tests.helpers import (
    JHU_FOUR_DAYS,
    JHU_THREE_DAYS,
    NYT_FOUR_DAYS,
    NYT_THREE_DAYS,
    SERVED_ASSETS,
    freshness_alert_tick,
    run_daily_job,
)

pytestmark = pytest.mark.integration

STALE_SUBJECT = "covid_assets: what is served is stale"


def test_a_run_makes_it_fresh_again_and_a_later_staleness_is_alerted_again(
    aws, instance, write_sources, alert_inbox
):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    run_daily_job(instance)
    record_freshness_state(instance, SERVED_ASSETS, "FAIL")
    _, cursor = freshness_alert_tick(instance, None)
    write_sources(NYT_FOUR_DAYS, JHU_FOUR_DAYS)
    run_daily_job(instance)
    record_freshness_state(instance, SERVED_ASSETS, "PASS")

    reason, cursor = freshness_alert_tick(instance, cursor)
    assert (reason, cursor) == ("What is served is fresh", None)
    alert_inbox.messages()
    record_freshness_state(instance, SERVED_ASSETS, "FAIL")
    freshness_alert_tick(instance, cursor)
    assert [subject for subject, _ in alert_inbox.messages()] == [STALE_SUBJECT]


def test_before_anything_is_served_the_alert_says_nothing_is_served_yet(aws, instance):
    reason, cursor = freshness_alert_tick(instance, None)

    assert reason.startswith("Nothing is served yet"), reason
    assert cursor is None


def test_after_a_run_not_yet_evaluated_the_alert_says_which_are_fresh_and_which_not_yet(
    aws, instance, write_sources
):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    run_daily_job(instance)
    record_freshness_state(instance, {"dynamodb_records"}, "PASS")

    reason, _ = freshness_alert_tick(instance, None)

    assert reason == (
        "Nothing is stale; fresh: dynamodb_records; "
        "not evaluated yet by the freshness daemon: athena_export, dashboard"
    )
