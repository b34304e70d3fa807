"""The code location loaded in process as the daemon loads it, for launching runs through an
instance's run launcher without a daemon (the runtime test's ECS runs).

A second place outside the package that uses Dagster's private API: dagster 1.13 offers no public
way to load a code location into a workspace that ``DagsterInstance.launch_run`` accepts; the
daemon and the webserver build theirs internally.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster import DagsterInstance

from covid_assets_dev.local_stack import PROJECT_ROOT

CODE_LOCATION_MODULE = "covid_assets.code_location"


@contextmanager
def code_location_workspace(instance: DagsterInstance, container_image: str) -> Iterator[Any]:
    """A workspace holding the code location ``covid_assets.code_location``, whose runs carry
    ``container_image`` (as a deployed code server tells the launcher)."""
    # Private: not exported by dagster 1.13 (see the module's docstring).
    from dagster._core.test_utils import in_process_test_workspace
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    origin = LoadableTargetOrigin(
        module_name=CODE_LOCATION_MODULE, working_directory=str(PROJECT_ROOT)
    )
    with in_process_test_workspace(instance, origin, container_image=container_image) as workspace:
        yield workspace
