"""Plain-text tables: a label column and right-aligned figures, and the targets' verdicts."""

from covid_assets_dev.targets import Target

LABEL_WIDTH = 47
FIGURE_WIDTH = 13
TABLE_WIDTH = LABEL_WIDTH + 2 * FIGURE_WIDTH + 8


def heading(title: str) -> None:
    print(f"\n=== {title} ".ljust(TABLE_WIDTH + 1, "="))


def row(label: str, *figures: object) -> None:
    print((f"{label:<{LABEL_WIDTH}}" + "".join(f"{f!s:>{FIGURE_WIDTH}}" for f in figures)).rstrip())


def print_targets(targets: list[Target]) -> None:
    """The targets as a table: what, wanted, measured, and the verdict."""
    heading("targets")
    print(f"{'target':<62}{'wanted':>10}{'measured':>10}  result")
    for target in targets:
        print(f"{target.what:<62}{target.wanted:>10}{target.measured:>10}  {target.verdict}")
