"""Freshness: what is served turns stale when no run has built it for COVID_FRESHNESS_HOURS,
the UI's freshness state says so (Dagster's freshness daemon, run here one iteration at a time),
and one SNS alert is sent for it."""

import datetime as dt
from datetime import timedelta

from covid_assets.definitions import build_definitions
from covid_assets.defs.automation.freshness import served_freshness_policy
from covid_assets.domain.tables import LEVELS
from covid_assets_tests.helpers import (
    JHU_FOUR_DAYS,
    JHU_THREE_DAYS,
    NYT_FOUR_DAYS,
    NYT_THREE_DAYS,
    every_level_at_its_default,
    freshness_alert_tick,
    freshness_states,
    run_daily_job,
)

SERVED = {"dynamodb_records", "athena_export", "dashboard"}


def hours_later(hours: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + timedelta(hours=hours)


def test_only_the_serving_assets_carry_the_freshness_policy_of_36_hours(monkeypatch):
    every_level_at_its_default(monkeypatch)
    policies = {
        node.key.to_user_string(): node.freshness_policy
        for node in build_definitions().get_repository_def().asset_graph.asset_nodes
    }
    served = SERVED | {
        name for level in LEVELS for name in (level.records_asset, level.export_asset)
    }
    assert {name for name, policy in policies.items() if policy is not None} == served
    assert {policies[name].fail_window.to_timedelta() for name in served} == {timedelta(hours=36)}


def test_the_window_is_the_setting(monkeypatch):
    monkeypatch.setenv("COVID_FRESHNESS_HOURS", "12")
    assert served_freshness_policy().fail_window.to_timedelta() == timedelta(hours=12)


def test_a_day_after_a_run_what_is_served_is_fresh(aws, instance_on_disk, write_sources):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    run_daily_job(instance_on_disk)

    assert freshness_states(instance_on_disk, hours_later(24)) == dict.fromkeys(SERVED, "PASS")


def test_with_no_run_for_longer_than_the_window_what_is_served_is_stale(
    aws, instance_on_disk, write_sources
):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    run_daily_job(instance_on_disk)

    assert freshness_states(instance_on_disk, hours_later(37)) == dict.fromkeys(SERVED, "FAIL")


def test_going_stale_sends_one_alert_naming_what_is_stale_and_since_when(
    aws, instance_on_disk, write_sources, alert_inbox
):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    run_daily_job(instance_on_disk)
    alert_inbox.messages()  # the load notice
    freshness_states(instance_on_disk, hours_later(37))

    reason, cursor = freshness_alert_tick(instance_on_disk, None)
    again, _ = freshness_alert_tick(instance_on_disk, cursor)

    [(subject, message)] = alert_inbox.messages()
    assert subject == "covid_assets: what is served is stale"
    assert message.startswith(
        "No run has built what is served for more than 36 h (COVID_FRESHNESS_HOURS):"
    )
    for name in sorted(SERVED):
        assert f"\n{name}: last built {dt.datetime.now(dt.UTC):%Y-%m-%d}" in message
    assert reason == "Stale (athena_export, dashboard, dynamodb_records); alert sent"
    assert again == "Stale (athena_export, dashboard, dynamodb_records); the alert was already sent"
    assert alert_inbox.messages() == []


def test_a_run_makes_it_fresh_again_and_a_later_staleness_is_alerted_again(
    aws, instance_on_disk, write_sources, alert_inbox
):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    run_daily_job(instance_on_disk)
    freshness_states(instance_on_disk, hours_later(37))
    _, cursor = freshness_alert_tick(instance_on_disk, None)
    write_sources(NYT_FOUR_DAYS, JHU_FOUR_DAYS)
    run_daily_job(instance_on_disk)

    assert freshness_states(instance_on_disk, hours_later(1)) == dict.fromkeys(SERVED, "PASS")
    reason, cursor = freshness_alert_tick(instance_on_disk, cursor)
    assert (reason, cursor) == ("What is served is fresh", None)
    alert_inbox.messages()
    freshness_states(instance_on_disk, hours_later(40))
    freshness_alert_tick(instance_on_disk, cursor)
    assert [subject for subject, _ in alert_inbox.messages()] == [
        "covid_assets: what is served is stale"
    ]
