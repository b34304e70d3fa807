"""The project's definitions for the environment as it is now. The tests and the benchmark build
them before each run and tick, in processes whose environment changes from test to test;
building them costs more than a small test's run, and depends on nothing but the environment
(the settings are read from it), so they are built once per environment and process."""

import functools
import os

from dagster import Definitions

from covid_assets.definitions import build_definitions


def current_definitions() -> Definitions:
    """``build_definitions()`` for the environment as it is now."""
    return _built_for(frozenset(os.environ.items()))


@functools.lru_cache(maxsize=8)
def _built_for(environment: frozenset[tuple[str, str]]) -> Definitions:
    return build_definitions()
