"""An asset's last output read back inside a step, through the IO manager that stored it: the
history's last version (``history_assets``), a source's stored file (``raw_sources``) and the
last load's rows (``dynamodb_records``)."""

from typing import Any

from dagster import AssetExecutionContext, AssetKey, InputContext, IOManager, OpExecutionContext


def stored_output(
    context: AssetExecutionContext | OpExecutionContext, io_manager: IOManager, asset: str
) -> Any:
    """The asset's last stored output. The step's resources and log are handed on:
    ``build_input_context`` would build a set of resources of its own, and for that a new
    ephemeral instance (a fifth of a quiet national run), and log to the console."""
    return io_manager.load_input(
        InputContext(
            asset_key=AssetKey(asset),
            instance=context.instance,
            resources=context.resources,
            log_manager=context.log,
        )
    )
