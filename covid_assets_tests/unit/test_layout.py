"""The shape of the package: modules import each other in one direction, and a source is one
declaration."""

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from covid_assets_dev.local_stack import PROJECT_ROOT

pytestmark = pytest.mark.unit

PACKAGE_DIR = PROJECT_ROOT / "covid_assets"
# Libraries that reach Dagster or AWS: the pure domain code imports none of them.
DAGSTER_OR_AWS = {"dagster", "dagster_aws", "boto3", "botocore", "requests", "duckdb"}


def module_name(path: Path) -> str:
    """``covid_assets/domain/rules.py`` -> ``covid_assets.domain.rules``."""
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, by its full dotted name (``from a import b`` as ``a.b``
    when ``a.b`` is a module of the package, else ``a``)."""
    modules = {module_name(module) for module in PACKAGE_DIR.rglob("*.py")}
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                dotted = f"{node.module}.{alias.name}"
                imported.add(dotted if dotted in modules else node.module)
    return imported


def package_graph() -> dict[str, set[str]]:
    """Each module of the package, and the modules of the package it imports."""
    graph = {module_name(path): imported_modules(path) for path in PACKAGE_DIR.rglob("*.py")}
    return {
        name: {module for module in imported if module in graph} for name, imported in graph.items()
    }


def modules_under(folder: str) -> dict[str, set[str]]:
    """The modules of ``covid_assets/<folder>/``, each with everything it imports."""
    return {
        module_name(path): imported_modules(path) for path in (PACKAGE_DIR / folder).rglob("*.py")
    }


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
    assert import_cycle(package_graph()) is None


def test_the_domain_code_imports_neither_dagster_nor_aws():
    for name, imported in modules_under("domain").items():
        roots = {module.split(".")[0] for module in imported}
        assert not roots & DAGSTER_OR_AWS, name


def test_the_domain_code_imports_only_the_domain():
    for name, imported in modules_under("domain").items():
        project = {module for module in imported if module.startswith("covid_assets.")}
        assert all(module.startswith("covid_assets.domain") for module in project), name


def test_the_resources_import_no_dagster_definitions():
    for name, imported in modules_under("resources").items():
        assert not any(module.startswith("covid_assets.defs") for module in imported), name


def test_a_new_source_is_one_declaration():
    """An entry added to SOURCES, and nothing else, gives a raw asset with its checks in the
    raw_sources step, a setting with its default, and the downloader's URL for it."""
    probe = textwrap.dedent(
        """
        import dataclasses
        import covid_assets.domain.sources as sources

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
