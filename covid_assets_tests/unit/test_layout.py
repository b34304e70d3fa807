"""The shape of the package: modules import each other in one direction, and a source is one
declaration. The shape of the tests: each module in one tier's folder with that tier's marker,
none importing the benchmark or Dagster's private modules."""

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from covid_assets_dev.local_stack import PROJECT_ROOT

pytestmark = pytest.mark.unit

PACKAGE_DIR = PROJECT_ROOT / "covid_assets"
TESTS_DIR = PROJECT_ROOT / "covid_assets_tests"
DEV_DIR = PROJECT_ROOT / "covid_assets_dev"
TIERS = ("unit", "integration", "system")
# The functions outside the package allowed Dagster's private API, each for what dagster 1.13
# exports no public way to do (see their modules).
PRIVATE_DAGSTER_USES = {
    DEV_DIR / "freshness.py": "record_freshness_state",
    DEV_DIR / "launcher_workspace.py": "code_location_workspace",
}
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


def test_a_new_level_is_one_declaration():
    """A level added to the declarations (its source to SOURCES, its table to LEVELS and
    TABLES), and nothing else, gives its four assets with their checks, its settings, and its
    Glue table and prefix in the served tables' resource."""
    probe = textwrap.dedent(
        """
        import dataclasses
        import covid_assets.domain.sources as sources
        import covid_assets.domain.tables as tables

        TERRITORIES = dataclasses.replace(
            sources.NYT_STATES,
            asset="nyt_territories_raw",
            url_setting="COVID_NYT_TERRITORIES_URL",
            default_url="https://example.org/us-territories.csv",
            label="NYT territories file",
        )
        TERRITORY = dataclasses.replace(
            tables.STATE,
            name="territory",
            sources=(TERRITORIES,),
            table_asset="territory_daily_table",
            history_asset="territory_daily_history",
            records_asset="territory_dynamodb_records",
            export_asset="territory_athena_export",
            glue_table_setting="COVID_GLUE_TERRITORIES_TABLE",
            glue_table_default="us_territories_daily",
            export_prefix_setting="COVID_S3_TERRITORIES_PREFIX",
            export_prefix_default="athena/us_territories_daily/",
        )
        sources.SOURCES = (*sources.SOURCES, TERRITORIES)
        tables.LEVELS = (*tables.LEVELS, TERRITORY)
        tables.TABLES = (*tables.TABLES, TERRITORY)

        from covid_assets.definitions import defs
        from covid_assets.settings import SETTINGS

        graph = defs.resolve_asset_graph()
        for name in TERRITORY.assets:
            checks = sorted(k.name for k in graph.asset_check_keys if k.asset_key.path == [name])
            print(f"{name}:", ",".join(checks))
        print("settings:", SETTINGS["COVID_GLUE_TERRITORIES_TABLE"].default,
              SETTINGS["COVID_S3_TERRITORIES_PREFIX"].default)
        served = defs.resources["served"]
        print("served:", served.glue_tables["territory"], served.export_prefixes["territory"])
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=PACKAGE_DIR.parent, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    seen = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert seen["territory_daily_table"] == ",".join(
        sorted(
            [
                "keys_are_present",
                "keys_are_unique",
                "counts_are_non_negative_nullable_integers",
                "states_are_known",
                "states_sum_to_national_totals",
            ]
        )
    )
    assert seen["territory_daily_history"] == ""
    assert seen["territory_dynamodb_records"] == (
        "served_as_last_written,table_matches_served_table"
    )
    assert seen["territory_athena_export"] == (
        "glue_columns_match_parquet_schema,row_count_matches_served_table,served_as_last_written"
    )
    assert seen["settings"] == "us_territories_daily athena/us_territories_daily/"
    assert seen["served"] == "us_territories_daily athena/us_territories_daily/"


def every_test_module() -> list[Path]:
    """Every test module under covid_assets_tests/, whatever its folder."""
    return sorted(TESTS_DIR.rglob("test_*.py"))


def tier_marks(path: Path) -> list[str]:
    """Every ``pytest.mark.<tier>`` the module names, wherever it names it."""
    return [
        node.attr
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute)
        and node.attr in TIERS
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "mark"
    ]


def module_mark_tiers(path: Path) -> list[str]:
    """The tiers of the marks in the module's ``pytestmark`` (one mark or a list of them)."""
    [assignment] = [
        node
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.Assign)
        and [getattr(target, "id", None) for target in node.targets] == ["pytestmark"]
    ] or [None]
    if assignment is None:
        return []
    marks = assignment.value.elts if isinstance(assignment.value, ast.List) else [assignment.value]
    return [mark.attr for mark in marks if isinstance(mark, ast.Attribute) and mark.attr in TIERS]


def imported_roots(tree: ast.AST) -> set[str]:
    """The full dotted names a module's imports name (``from a.b import c`` as ``a.b``)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def private_dagster_names(tree: ast.AST) -> set[str]:
    """Dagster's private modules the tree imports or names in a string (as a patch target)."""
    names = {name for name in imported_roots(tree) if name.split(".")[0].startswith("dagster")}
    names |= {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    return {name for name in names if name.startswith("dagster") and "._" in name}


def test_every_test_module_is_in_one_tier_folder_and_carries_its_marker():
    assert every_test_module(), TESTS_DIR
    for path in every_test_module():
        tier = path.parent.name
        assert path.parent.parent == TESTS_DIR, path
        assert tier in TIERS, path
        assert (path.parent / "__init__.py").is_file(), path
        assert module_mark_tiers(path) == [tier], f"{path}: pytestmark = pytest.mark.{tier}"
        assert tier_marks(path) == [tier], f"{path}: a tier mark besides its pytestmark"


def test_every_collected_test_carries_exactly_one_tier_marker(request: pytest.FixtureRequest):
    """Read off this session's own collection, which make test makes of every test (a run of one
    tier, pytest -m unit, holds that tier's tests only)."""
    tiers_of = {
        item.nodeid: [mark.name for mark in item.iter_markers() if mark.name in TIERS]
        for item in request.session.items
    }
    assert tiers_of, "nothing collected"
    assert {node: tiers for node, tiers in tiers_of.items() if len(tiers) != 1} == {}


def test_no_test_module_imports_the_benchmark():
    """The tests run the benchmark as a process (system/test_benchmark.py) and share code with
    it through covid_assets_dev, which does not import it either."""
    for path in [*TESTS_DIR.rglob("*.py"), *DEV_DIR.rglob("*.py")]:
        roots = {name.split(".")[0] for name in imported_roots(ast.parse(path.read_text()))}
        assert "covid_assets_bench" not in roots, path


def test_no_test_module_uses_dagsters_private_modules():
    for path in TESTS_DIR.rglob("*.py"):
        assert private_dagster_names(ast.parse(path.read_text())) == set(), path


def test_the_developer_tooling_uses_dagsters_private_api_only_in_its_declared_functions():
    for module in DEV_DIR.rglob("*.py"):
        tree = ast.parse(module.read_text())
        allowed = [
            node
            for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name == PRIVATE_DAGSTER_USES.get(module)
        ]
        outside = set(private_dagster_names(tree)) - {
            name for node in allowed for name in private_dagster_names(node)
        }
        assert outside == set(), module


def module_fixtures(tree: ast.AST) -> list[str]:
    """The module's fixtures declared with ``scope="module"``."""
    return [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
        for decorator in node.decorator_list
        if isinstance(decorator, ast.Call)
        and any(
            keyword.arg == "scope" and getattr(keyword.value, "value", None) == "module"
            for keyword in decorator.keywords
        )
    ]


def xdist_groups(tree: ast.AST) -> list[str]:
    """The names of the ``pytest.mark.xdist_group(NAME)`` marks the module carries."""
    return [
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "attr", None) == "xdist_group"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    ]


def test_a_module_whose_tests_share_a_module_fixture_keeps_them_on_one_worker():
    """``make test`` hands tests to workers one by one (``--dist loadgroup``), except a group's,
    which go to one worker together: a module fixture is then set up once, not on each worker."""
    for path in every_test_module():
        tree = ast.parse(path.read_text())
        name = str(path.relative_to(TESTS_DIR).with_suffix(""))
        if module_fixtures(tree):
            assert xdist_groups(tree) == [name], f"{path}: pytest.mark.xdist_group({name!r})"
        else:
            assert xdist_groups(tree) == [], f"{path}: a group, and no module fixture to share"
