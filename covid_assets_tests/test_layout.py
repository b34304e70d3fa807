"""The shape of the package: modules import each other in one direction, and a source is one
declaration."""

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "covid_assets"


def project_imports(module: Path) -> set[str]:
    """The covid_assets modules that ``module`` imports, by name."""
    imported = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "covid_assets":
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("covid_assets."):
            imported.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            imported |= {
                alias.name.split(".")[1]
                for alias in node.names
                if alias.name.startswith("covid_assets.")
            }
    return imported


def import_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path of module names, or None."""
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return [*path[path.index(name) :], name]
        if name in done:
            return None
        for imported in sorted(graph.get(name, ())):
            cycle = visit(imported, [*path, name])
            if cycle:
                return cycle
        done.add(name)
        return None

    for name in sorted(graph):
        cycle = visit(name, [])
        if cycle:
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert import_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert import_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_package_has_no_import_cycle():
    graph = {module.stem: project_imports(module) for module in PACKAGE_DIR.glob("*.py")}
    assert import_cycle(graph) is None


def test_the_pure_modules_import_neither_dagster_nor_aws():
    pure = ("contracts", "transform", "reading", "sources", "levels", "dashboard_data")
    for name in pure:
        tree = ast.parse((PACKAGE_DIR / f"{name}.py").read_text())
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            (node.module or "").split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
        }
        assert not imported & {"dagster", "dagster_aws", "boto3", "botocore", "requests"}, name


def test_a_new_source_is_one_declaration():
    """An entry added to SOURCES, and nothing else, gives a raw asset with its checks in the
    raw_sources step, a setting with its default, and the downloader's URL for it."""
    probe = textwrap.dedent(
        """
        import dataclasses
        import covid_assets.sources as sources

        TERRITORIES = dataclasses.replace(
            sources.NYT,
            asset="nyt_territories_raw",
            url_setting="COVID_NYT_TERRITORIES_URL",
            default_url="https://example.org/us-territories.csv",
            label="NYT territories file",
        )
        sources.SOURCES = (*sources.SOURCES, TERRITORIES)

        from dagster import AssetKey
        from covid_assets.definitions import defs
        from covid_assets.settings import SETTINGS

        assets_def = defs.resolve_assets_def("nyt_territories_raw")
        print("step:", assets_def.node_def.name)
        territories = AssetKey("nyt_territories_raw")
        print("checks:", sorted(
            key.name for key in assets_def.check_keys if key.asset_key == territories
        ))
        print("default:", SETTINGS["COVID_NYT_TERRITORIES_URL"].default)
        print("url:", defs.resources["downloader"].urls["nyt_territories_raw"])
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=PACKAGE_DIR.parent, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    seen = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert seen["step"] == "raw_sources"
    assert seen["checks"] == str(
        sorted(
            [
                "is_readable_csv",
                "required_columns_present",
                "has_data_rows",
                "dates_are_iso",
                "counts_are_non_negative_integers",
                "dates_are_unique",
            ]
        )
    )
    assert seen["default"] == "https://example.org/us-territories.csv"
    assert seen["url"] == "https://example.org/us-territories.csv"
