"""Which assets carry a freshness policy, and its window (the setting COVID_FRESHNESS_HOURS)."""

from datetime import timedelta

import pytest

from covid_assets.definitions import build_definitions
from covid_assets.defs.automation.freshness import served_freshness_policy
from covid_assets.domain.tables import LEVELS
from covid_assets_tests.helpers import (
    SERVED_ASSETS,
    every_level_at_its_default,
)

pytestmark = pytest.mark.unit


def test_only_the_serving_assets_carry_the_freshness_policy_of_36_hours(monkeypatch):
    every_level_at_its_default(monkeypatch)
    policies = {
        node.key.to_user_string(): node.freshness_policy
        for node in build_definitions().get_repository_def().asset_graph.asset_nodes
    }
    served = SERVED_ASSETS | {
        name for level in LEVELS for name in (level.records_asset, level.export_asset)
    }
    assert {name for name, policy in policies.items() if policy is not None} == served
    assert {policies[name].fail_window.to_timedelta() for name in served} == {timedelta(hours=36)}


def test_the_window_is_the_setting(monkeypatch):
    monkeypatch.setenv("COVID_FRESHNESS_HOURS", "12")
    assert served_freshness_policy().fail_window.to_timedelta() == timedelta(hours=12)
