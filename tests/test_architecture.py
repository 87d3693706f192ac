"""Structure rules: imports change no process-wide state, the packages form no cycle,
and the layers hold (routers and commands reach the database only through services;
the app commits in its two commit points only).

The import graph is read from the source (module-level imports; imports inside
functions are deliberate late imports), so a new cycle fails here, not as an
ImportError in whichever order some process happens to import things.
"""

from __future__ import annotations

import ast
import importlib
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

import billing
from billing.runtime import Runtime
from billing.settings import Settings
from testkit import live

ROOT = Path(billing.__file__).parent
SESSION_EVENTS = ("after_begin", "after_commit", "after_rollback", "after_transaction_end")


def _modules() -> dict[str, Path]:
    """module name -> source file, for every module of the billing package."""
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


@cache
def _imports(module: str) -> frozenset[str]:
    """billing modules ``module`` imports when it is imported (not under TYPE_CHECKING)."""
    found: set[str] = set()
    pending: list[ast.AST] = list(ast.parse(MODULES[module].read_text()).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue  # runs later, if at all
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        pending.extend(ast.iter_child_nodes(node))
    return frozenset(name for name in found if name in MODULES and name != module)


def _every_import(module: str) -> set[str]:
    """Every module ``module`` names in an import, late imports inside functions included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _loaded_with(module: str) -> set[str]:
    """Every billing module importing ``module`` loads (packages of each included)."""
    seen: set[str] = set()
    pending = [module]
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.add(name)
            parts = name.split(".")
            pending += [".".join(parts[:i]) for i in range(1, len(parts))]
            pending += _imports(name)
    return seen


def _unit(module: str) -> str:
    """The package (billing.usage) or top-level module (billing.runtime) it belongs to."""
    return ".".join(module.split(".")[:2])


def test_importing_the_service_attaches_no_listener_to_every_session() -> None:
    for name in MODULES:
        if not name.endswith("__main__"):  # that one runs the CLI
            importlib.import_module(name)
    plain = Session()
    listeners = {event: len(getattr(plain.dispatch, event)) for event in SESSION_EVENTS}
    assert listeners == dict.fromkeys(SESSION_EVENTS, 0)


def test_the_runtime_sessions_carry_the_listeners(tmp_path: Path) -> None:
    runtime = Runtime(Settings(database_url=f"sqlite:///{tmp_path / 'listeners.db'}"))
    try:
        for sessions in (runtime.sessions, runtime.read_sessions):
            with sessions() as session:
                assert len(session.dispatch.after_commit) == 1
                assert len(session.dispatch.after_transaction_end) == 1
    finally:
        runtime.close()


def test_packages_import_each_other_in_one_direction_only() -> None:
    edges = {
        (_unit(module), _unit(imported))
        for module in MODULES
        for imported in _imports(module)
        if _unit(module) != _unit(imported)
    }
    graph: dict[str, set[str]] = {}
    for source, target in edges:
        graph.setdefault(source, set()).add(target)

    def reaches(start: str, goal: str) -> bool:
        seen, pending = set(), [start]
        while pending:
            unit = pending.pop()
            if unit == goal:
                return True
            if unit not in seen:
                seen.add(unit)
                pending += graph.get(unit, ())
        return False

    cycles = sorted((a, b) for a, b in edges if reaches(b, a))
    assert cycles == []


def test_importing_a_schema_loads_no_service_repository_or_runtime() -> None:
    heavy = ("service", "repository", "runtime", "db")
    for schema in (name for name in MODULES if name.endswith("schemas")):
        loaded = _loaded_with(schema)
        assert sorted(m for m in loaded if m.rsplit(".", 1)[-1] in heavy) == [], schema


def test_a_test_not_marked_e2e_may_not_start_a_process(tmp_path: Path) -> None:
    """`make test-fast` stays fast: starting a process needs a fixture that marks e2e."""
    with pytest.raises(RuntimeError, match="not marked e2e"):
        live.Server(f"sqlite:///{tmp_path / 'never.db'}")
    with pytest.raises(RuntimeError, match="not marked e2e"):
        live.run_billing("reconcile", database_url=f"sqlite:///{tmp_path / 'never.db'}")


# The HTTP and command-line front ends: they parse, call a service, and map its result.
FRONT_ENDS = sorted(
    name
    for name in MODULES
    if name.rsplit(".", 1)[-1].endswith("router")
    or name.startswith("billing.commands")
    or name in ("billing.cli", "billing.health", "billing.api.metrics_http")
)


def _builds_queries(name: str) -> bool:
    """Modules that build or run queries: repositories, the tables, the database writers."""
    return (
        name.rsplit(".", 1)[-1] == "repository"
        or name.startswith("billing.models")
        or name.startswith("billing.dialect")
        or name == "billing.usage.ingest"
    )


def test_routers_and_commands_reach_the_database_only_through_services() -> None:
    assert "billing.balances.router" in FRONT_ENDS and "billing.commands.balance" in FRONT_ENDS
    reaching = {
        module: sorted(name for name in _every_import(module) if _builds_queries(name))
        for module in FRONT_ENDS
    }
    assert {module: names for module, names in reaching.items() if names} == {}


def _commits(module: str) -> bool:
    """Does the module call ``.commit()`` on anything? (``super().commit()``, a driver
    connection's commit calling its base class's, is no commit point of its own.)"""
    return any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "commit"
        and not _is_super_call(node.func.value)
        for node in ast.walk(ast.parse(MODULES[module].read_text()))
    )


def _is_super_call(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"
    )


def test_the_app_commits_in_its_two_commit_points_only() -> None:
    """The session dependency of ordinary routes and the group committer of the hot
    paths (README "Layout"); a service, repository or router never commits."""
    committing = sorted(name for name in _loaded_with("billing.main") if _commits(name))
    assert committing == ["billing.api.deps", "billing.group_commit"]
