"""What may import what, checked on the source (the README's architecture paragraph).

- Controllers (``controllers.py``, ``*pages.py`` and ``web.py`` of each domain, and ``web/``) parse, call a service and render: they never import the data layer (``db``, any
  ``queries`` module, asyncpg, Piccolo).
- Domain modules other than controllers never import Litestar or ``web``: services,
  SQL and maths work without HTTP.
- ``lib`` (cross-cutting helpers) imports no domain at all.
- SQL is written only in each domain's ``queries.py``, in ``reporting/rollups.py`` (the
  generated fold) and in ``db/``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "survey_service"
DOMAINS = (
    "surveys",
    "responses",
    "experiments",
    "reporting",
    "invitations",
    "qr",
    "apikeys",
    "privacy",
    "interactions",
    "outcomes",
    "accounts",
    "alerts",
    "dashboard",
)
DATA_LAYER = ("survey_service.db", "asyncpg", "piccolo")
_SQL = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|TRUNCATE)\s", re.IGNORECASE)


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def role(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    if parts[0] == "web":
        return "controller"
    if parts[0] in DOMAINS:
        name = parts[-1]
        if name == "commands.py":  # a domain's command-line edge, like cli.py
            return "cli"
        http = name in ("controllers.py", "web.py") or name.endswith("pages.py")
        return "controller" if http else "domain"
    return parts[0].removesuffix(".py")


def imported_by_role(wanted: str) -> list[tuple[str, str]]:
    return [
        (str(path.relative_to(PACKAGE)), name)
        for path in modules()
        if role(path) == wanted
        for name in imports(path)
    ]


def test_the_layout_is_what_the_readme_describes() -> None:
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == {*DOMAINS, "db", "lib", "web", "templates", "static"}
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    for folder in folders:
        assert f"{folder}/" in readme, folder


def test_controllers_never_touch_the_data_layer() -> None:
    offending = [
        (module, name)
        for module, name in imported_by_role("controller")
        if name.startswith(DATA_LAYER) or name.endswith(".queries") or ".queries." in name
    ]
    assert offending == []


def test_domain_code_never_imports_http() -> None:
    offending = [
        (module, name)
        for module, name in imported_by_role("domain")
        if name.startswith(("litestar", "survey_service.web", "survey_service.app"))
    ]
    assert offending == []


def test_lib_imports_no_domain() -> None:
    inner = tuple(f"survey_service.{d}" for d in (*DOMAINS, "web", "db", "app"))
    offending = [(m, n) for m, n in imported_by_role("lib") if n.startswith(inner)]
    assert offending == []


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_sql_lives_in_the_data_modules(path: Path) -> None:
    relative = path.relative_to(PACKAGE)
    if relative.parts[0] == "db" or relative.name.endswith("queries.py"):
        return
    if relative == Path("reporting/rollups.py"):
        return
    strings = [
        node.value
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    assert [s for s in strings if _SQL.match(s)] == []


def test_one_list_of_dimensions_and_of_statuses() -> None:
    """The KPI filter parameters are the rollup dimensions; the README lists every
    invitation status the API accepts."""
    import inspect

    from survey_service.invitations.statuses import InvitationStatus
    from survey_service.reporting.columns import DIMENSIONS
    from survey_service.web.filters import provide_filters

    parameters = set(inspect.signature(provide_filters).parameters)
    assert {d.name for d in DIMENSIONS} <= parameters
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    assert all(f"`{status}`" in readme for status in InvitationStatus)
