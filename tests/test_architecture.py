"""The import graph keeps the documented direction (README, "Architecture").

Every ``import`` in every module counts - at the top, inside functions and under
``if TYPE_CHECKING:`` - so no dependency hides behind a lazy or a type-only import.
"""

from __future__ import annotations

import ast
import fnmatch
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "qlikauth"

#: Lowest first. A module may import modules of its own layer or of a lower one. Patterns
#: are matched in order within a layer; a package's ``__init__`` is the package's name.
LAYERS: list[tuple[str, list[str]]] = [
    (
        "foundation",
        [
            "qlikauth._version",
            "qlikauth._files",
            "qlikauth._deprecation",
            "qlikauth._twins",
            "qlikauth._clock",
            "qlikauth._redact",
            "qlikauth.errors",
        ],
    ),
    ("values", ["qlikauth.identity", "qlikauth.destination", "qlikauth.pki", "qlikauth.keystore"]),
    ("trust", ["qlikauth.tls", "qlikauth.tls.*", "qlikauth.handshake"]),
    ("place", ["qlikauth.site", "qlikauth.credentials", "qlikauth.logfilter"]),
    ("messages", ["qlikauth.http.values", "qlikauth.http.diagnosis", "qlikauth.http.drivers"]),
    (
        "protocols",
        [
            "qlikauth.sessions",
            "qlikauth.windows_login",
            "qlikauth.jwt",
            "qlikauth.jwt.*",
            "qlikauth.validators.base",
            "qlikauth.validators.registry",
            "qlikauth.validators.ratelimit",
            "qlikauth.qps.requests",
            "qlikauth.qps.values",
            "qlikauth.qps.flows",
            "qlikauth.engine.messages",
            "qlikauth.engine.notifications",
            "qlikauth.engine.protocol",
            "qlikauth.engine.values",
            "qlikauth.engine.flows",
        ],
    ),
    ("logins", ["qlikauth.auth", "qlikauth.auth.*"]),
    (
        "client operations",
        ["qlikauth.client.steps", "qlikauth.client.state", "qlikauth.client.ops"],
    ),
    (
        "I/O",
        [
            "qlikauth.http",
            "qlikauth.http.transport",
            "qlikauth.qps",
            "qlikauth.qps.*",
            "qlikauth.engine",
            "qlikauth.engine.*",
            "qlikauth.validators",
            "qlikauth.validators.*",
            "qlikauth.download",
        ],
    ),
    (
        "client",
        [
            "qlikauth.client",
            "qlikauth.client.*",
            "qlikauth.config",
            "qlikauth.config.*",
        ],
    ),
    ("compatibility", ["qlikauth._compat"]),
    (
        "applications",
        [
            "qlikauth",
            "qlikauth.__main__",
            "qlikauth.cli",
            "qlikauth.cli.*",
            "qlikauth.broker",
            "qlikauth.broker.*",
            "qlikauth.proxy",
            "qlikauth.proxy.*",
            "qlikauth.testing",
            "qlikauth.testing.*",
        ],
    ),
]
#: The layers up to this one do no I/O of their own (login flows, the client's
#: operations, the engine protocol): none of them reaches these libraries.
PURE_UP_TO = "client operations"
IO_LIBRARIES = ("requests", "urllib3", "websockets", "aiohttp", "ldap3")
#: The emulator stands beside the client and shares only these with it.
EMULATOR_MAY_USE = (
    "qlikauth.errors",
    "qlikauth._redact",
    "qlikauth.pki",
    "qlikauth._files",
    "qlikauth._clock",
)
#: TLS sits below everything that uses it: of the rest of qlikauth it imports only these.
TLS_MAY_USE = ("qlikauth.errors", "qlikauth._redact", "qlikauth._deprecation")


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The qlikauth module an imported name lives in (a module, or its package)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> Iterator[str]:
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield full if _owner(full) == full else base


@cache
def edges() -> dict[str, frozenset[str]]:
    """Each module's imports: qlikauth modules by name, other packages by top name."""
    graph = {}
    for module in MODULES:
        found = set()
        for name in _imports(module):
            if name.split(".")[0] == "qlikauth":
                owner = _owner(name)
                if owner and owner != module:
                    found.add(owner)
            else:
                found.add(name.split(".")[0])
        graph[module] = frozenset(found)
    return graph


def layer_of(module: str) -> int:
    for index, (_, patterns) in enumerate(LAYERS):
        if any(fnmatch.fnmatchcase(module, p) for p in patterns):
            return index
    raise LookupError(module)


def _internal(module: str) -> list[str]:
    return sorted(d for d in edges()[module] if d.startswith("qlikauth"))


def _client_side() -> list[str]:
    return [m for m in MODULES if not m.startswith("qlikauth.emulator")]


def test_every_module_has_a_layer() -> None:
    unplaced = []
    for module in _client_side():
        try:
            layer_of(module)
        except LookupError:
            unplaced.append(module)
    assert unplaced == [], "add these to LAYERS (and to the README's architecture)"


def test_imports_go_downhill_only() -> None:
    uphill = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {dep} ({LAYERS[layer_of(dep)][0]})"
        for module in _client_side()
        for dep in _internal(module)
        if not dep.startswith("qlikauth.emulator") and layer_of(dep) > layer_of(module)
    ]
    assert uphill == []


def test_the_pure_core_reaches_no_io_library() -> None:
    limit = [name for name, _ in LAYERS].index(PURE_UP_TO)
    reached = []
    for module in _client_side():
        if layer_of(module) > limit:
            continue
        seen, todo = {module}, [module]
        while todo:
            current = todo.pop()
            for dep in edges()[current]:
                if dep in IO_LIBRARIES:
                    reached.append(f"{module} reaches {dep} through {current}")
                elif dep.startswith("qlikauth") and dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
    assert reached == []


def test_no_cycles_even_through_type_only_imports() -> None:
    graph = {m: [d for d in _internal(m) if d in MODULES] for m in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in graph[node]:
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in graph:
        if module not in index:
            visit(module)
    assert cycles == []


def test_inside_the_package_nothing_imports_the_public_facade() -> None:
    # ``qlikauth/__init__.py`` imports everything; importing it from inside makes cycles.
    users = [m for m in MODULES if "qlikauth" in edges()[m] or "qlikauth" in _internal(m)]
    assert [m for m in users if m != "qlikauth"] == []


@pytest.mark.parametrize(
    ("who", "must_not"),
    [
        ("qlikauth.validators*", "qlikauth.auth*"),
        ("qlikauth.download", "qlikauth.auth*"),
        ("qlikauth.engine*", "qlikauth.auth*"),
        ("qlikauth.qps*", "qlikauth.auth*"),
        ("qlikauth*", "qlikauth.cli"),
        ("qlikauth*", "qlikauth.cli.*"),
    ],
)
def test_named_boundaries(who: str, must_not: str) -> None:
    crossing = [
        f"{module} -> {dep}"
        for module in MODULES
        if fnmatch.fnmatchcase(module, who)
        and not fnmatch.fnmatchcase(module, must_not)
        and module not in ("qlikauth.cli", "qlikauth.__main__")
        and not module.startswith("qlikauth.cli.")
        for dep in _internal(module)
        if fnmatch.fnmatchcase(dep, must_not)
    ]
    assert crossing == []


def test_the_emulator_imports_none_of_the_client() -> None:
    crossing = [
        f"{module} -> {dep}"
        for module in MODULES
        if module.startswith("qlikauth.emulator")
        for dep in _internal(module)
        if not dep.startswith("qlikauth.emulator") and dep not in EMULATOR_MAY_USE
    ]
    assert crossing == []


def test_tls_imports_only_errors() -> None:
    tls = ("qlikauth.tls", "qlikauth.tls.*")
    crossing = [
        f"{module} -> {dep}"
        for module in MODULES
        if any(fnmatch.fnmatchcase(module, p) for p in tls)
        for dep in _internal(module)
        if not any(fnmatch.fnmatchcase(dep, p) for p in tls) and dep not in TLS_MAY_USE
    ]
    assert crossing == []


def test_only_applications_and_tests_start_the_emulator() -> None:
    allowed = ("qlikauth.cli.*", "qlikauth.testing*", "qlikauth.emulator*")
    users = [
        module
        for module in MODULES
        if not any(fnmatch.fnmatchcase(module, p) for p in allowed)
        and any(d.startswith("qlikauth.emulator") for d in _internal(module))
    ]
    assert users == []
