"""Where the code location is loaded from: ``workspace.yaml``, ``dg`` and every run worker
(``dagster api execute_run``) import this module, and find the definitions here.

Python's collector is paused while the libraries are imported and the definitions are built,
then everything alive is frozen and the collector switched back on: those objects live as long
as the process, so a collection would only walk them again (on this machine the import takes
about a third less time; the benchmark's whole-process figures include it). At exit, what the
run left alive is frozen too: Python promises no finalizer then, and nothing here relies on one.
"""

import atexit
import gc

gc.disable()

from covid_assets.definitions import defs  # noqa: E402

gc.freeze()
gc.enable()
atexit.register(gc.freeze)

__all__ = ["defs"]
