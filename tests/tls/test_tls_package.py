"""The tls package as a whole: its place at the bottom of the import graph, its public
names, and the old spellings kept for one release."""

from __future__ import annotations

import ast
import importlib
import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

import qlikauth
import qlikauth.tls
from qlikauth.tls import handshake
from qlikauth.tls.contexts import InsecureTlsWarning

PACKAGE = Path(qlikauth.__file__).parent
#: What the tls package may import of qlikauth besides itself: it sits below everything else.
TLS_MAY_IMPORT = {"qlikauth.errors", "qlikauth._deprecation"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _qlikauth_imports(path: Path) -> Iterator[str]:
    """Every qlikauth module ``path`` imports, wherever the import statement stands
    (function bodies and ``if TYPE_CHECKING:`` blocks included)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        yield from (name for name in names if _is_qlikauth_module(name))


def _is_qlikauth_module(name: str) -> bool:
    if name != "qlikauth" and not name.startswith("qlikauth."):
        return False
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # ``qlikauth.errors.TlsError``: a name, not a module
        return False


def _in_tls(module: str) -> bool:
    return module == "qlikauth.tls" or module.startswith("qlikauth.tls.")


def _graph(paths: list[Path]) -> dict[str, set[str]]:
    return {_module_name(p): set(_qlikauth_imports(p)) for p in paths}


def test_tls_imports_only_errors_and_itself() -> None:
    graph = _graph(sorted((PACKAGE / "tls").glob("*.py")))
    assert set(graph) >= {"qlikauth.tls", "qlikauth.tls.files", "qlikauth.tls.contexts"}
    for module, imported in graph.items():
        outside = {m for m in imported if not _in_tls(m)} - TLS_MAY_IMPORT
        assert not outside, f"{module} imports {sorted(outside)}"


def test_no_import_cycle_from_tls_down() -> None:
    paths = [*sorted((PACKAGE / "tls").glob("*.py")), PACKAGE / "errors.py"]
    paths.append(PACKAGE / "_deprecation.py")
    graph = _graph(paths)
    assert graph["qlikauth.errors"] <= {"qlikauth._deprecation"}
    assert graph["qlikauth._deprecation"] == set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, " -> ".join((*path, module))
        for imported in graph.get(module, set()):
            visit(imported, (*path, module))

    for module in graph:
        visit(module, ())


def test_public_names_are_those_of_the_former_module() -> None:
    assert qlikauth.tls.__all__ == [
        "CertificateBundle",
        "Finding",
        "InsecureTlsWarning",
        "KeyPermissionWarning",
        "TlsConfig",
        "certificate_names",
        "diagnose",
        "host_matches",
        "hostname_advice",
        "is_ip_address",
        "load_identity",
    ]
    for name in qlikauth.tls.__all__:
        assert getattr(qlikauth.tls, name).__doc__, name


@pytest.mark.parametrize("module", [qlikauth, qlikauth.tls])
def test_insecure_tls_warning_old_spelling_warns_and_is_the_same_class(module: object) -> None:
    with pytest.warns(DeprecationWarning, match="InsecureTlsWarning") as record:
        old = module.InsecureTLSWarning  # type: ignore[attr-defined]
    assert old is InsecureTlsWarning
    assert "InsecureTLSWarning is deprecated" in str(record[0].message)


def test_handshake_module_moved_into_tls() -> None:
    old = importlib.import_module("qlikauth.handshake")
    with pytest.warns(DeprecationWarning, match=r"qlikauth\.tls\.handshake\.explain_tls_failure"):
        assert old.explain_tls_failure is handshake.explain_tls_failure
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = old.nothing_here
