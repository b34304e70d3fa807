"""Plain-text tables: a label column and right-aligned figures."""

LABEL_WIDTH = 47
FIGURE_WIDTH = 13
TABLE_WIDTH = LABEL_WIDTH + 2 * FIGURE_WIDTH + 8


def heading(title: str) -> None:
    print(f"\n=== {title} ".ljust(TABLE_WIDTH + 1, "="))


def row(label: str, *figures: object) -> None:
    print((f"{label:<{LABEL_WIDTH}}" + "".join(f"{f!s:>{FIGURE_WIDTH}}" for f in figures)).rstrip())
