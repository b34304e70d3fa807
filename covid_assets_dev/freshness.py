"""Freshness states recorded the way Dagster's freshness daemon records them.

The daemon is the only writer of an asset's freshness state, and its fail window cannot be under
a minute (a Dagster invariant): a sequence such as stale, fresh, stale again takes it two windows
or more. The alert sensor only reads the states, so a test of the alert's sequence records them
here instead, and the system tests hold the daemon itself to the same states.

This is the one place outside the package that uses Dagster's private API: dagster 1.13 exports
neither ``FreshnessStateChange`` (the event the daemon reports through the public
``DagsterInstance.report_runless_asset_event``) nor ``FreshnessState``.
"""

import time
from collections.abc import Collection

from dagster import AssetKey, DagsterInstance


def record_freshness_state(instance: DagsterInstance, assets: Collection[str], state: str) -> None:
    """Record ``state`` (``PASS``, ``FAIL``, ...) as each asset's freshness state in
    ``instance``, as the freshness daemon does when it sees a state change."""
    # Private: not exported by dagster 1.13 (see the module's docstring).
    from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange

    records = instance.get_freshness_state_records([AssetKey(name) for name in assets])
    for name in assets:
        key = AssetKey(name)
        previous = records[key].freshness_state if key in records else FreshnessState.UNKNOWN
        instance.report_runless_asset_event(
            FreshnessStateChange(
                key=key,
                previous_state=previous,
                new_state=FreshnessState(state),
                state_change_timestamp=time.time(),
            )
        )
