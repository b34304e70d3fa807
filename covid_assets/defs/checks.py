"""What every asset's checks share: specs made from rules, results made from problems, and the
results a run selected. Each asset's own checks live in its module, beside the asset."""

from collections.abc import Iterator, Sequence

from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    MetadataValue,
)

from covid_assets.domain.rules import Problem, Rule, format_problems

LISTED_PROBLEMS = 20


def rule_check_specs(
    asset: str, rules: Sequence[Rule], blocking: bool = True
) -> list[AssetCheckSpec]:
    """One check per rule, of the rule's name and description."""
    return [
        AssetCheckSpec(rule.name, asset=asset, blocking=blocking, description=rule.description)
        for rule in rules
    ]


def check_result(
    asset: str,
    check_name: str,
    problems: Sequence[Problem],
    severity: AssetCheckSeverity = AssetCheckSeverity.ERROR,
    quarantine: str | None = None,
    extra_metadata: dict | None = None,
) -> AssetCheckResult:
    """A check's result, with the problems listed so the UI explains a failure on its own."""
    metadata: dict = {"problem_count": len(problems), **(extra_metadata or {})}
    if problems:
        metadata["problems"] = MetadataValue.md(format_problems(problems, LISTED_PROBLEMS))
    if quarantine:
        metadata["quarantine"] = MetadataValue.path(quarantine)
    return AssetCheckResult(
        asset_key=asset,
        check_name=check_name,
        passed=not problems,
        severity=severity,
        description=str(problems[0]) if problems else None,
        metadata=metadata,
    )


def selected_results(
    selected: set[AssetCheckKey], results: Sequence[AssetCheckResult]
) -> Iterator[AssetCheckResult]:
    """The results of the checks the run selected (a run may select some checks of a step)."""
    for result in results:
        if AssetCheckKey(result.asset_key, result.check_name) in selected:
            yield result
