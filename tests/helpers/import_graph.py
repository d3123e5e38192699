"""The package's import graph, read from its source with ast: every import, lazy ones included.

Each import is recorded with the module and the function or class it sits in, the extras named
by enclosing `needs_extra(...)` blocks, and whether a `try` that catches ImportError guards it.
Branches on `sys.version_info` are resolved for the running interpreter (the other branch is
checked when the tests run on the other Python), and `if TYPE_CHECKING:` blocks are skipped:
they never run.
"""

from __future__ import annotations

import ast
import operator
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})
COMPARISONS = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. "whisper_async.local.stack"
    scope: str  # "" at module level, else the function's or class's qualified name
    target: str  # the module imported, absolute: "httpx", "whisper_async.local.stack"
    name: str  # for `from M import name` where name is not a module: name, else ""
    line: int
    extras: frozenset[str]  # named by enclosing `needs_extra("extra", ...)` blocks
    guarded: bool  # inside a `try:` whose handler catches ImportError

    @property
    def top_level(self) -> str:
        return self.target.partition(".")[0]

    @property
    def where(self) -> str:
        scope = f" in {self.scope}" if self.scope else " at module level"
        return f"{self.module}:{self.line}{scope}"


def package_modules(source_root: Path, package: str) -> dict[str, Path]:
    """Every module of `package` under `source_root`, by dotted name."""
    modules = {}
    for path in sorted((source_root / package).rglob("*.py")):
        parts = list(path.relative_to(source_root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def scan(source_root: Path, package: str) -> list[Import]:
    modules = package_modules(source_root, package)
    found: list[Import] = []
    for module, path in modules.items():
        visitor = _Visitor(module, path.name == "__init__.py", set(modules))
        visitor.visit(ast.parse(path.read_text(), str(path)))
        found.extend(visitor.imports)
    return found


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(t, ast.Name) and t.id in IMPORT_ERRORS for t in types)


def _needs_extra(item: ast.withitem) -> str | None:
    call = item.context_expr
    if not isinstance(call, ast.Call) or not call.args:
        return None
    func = call.func
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
    first = call.args[0]
    if name == "needs_extra" and isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _version_test(test: ast.expr) -> bool | None:
    """`sys.version_info <op> (3, 11)` evaluated for this interpreter; None for other tests."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return None
    left, op, right = test.left, test.ops[0], test.comparators[0]
    is_version = isinstance(left, ast.Attribute) and left.attr == "version_info"
    if not is_version or type(op) not in COMPARISONS or not isinstance(right, ast.Tuple):
        return None
    if not all(isinstance(e, ast.Constant) and isinstance(e.value, int) for e in right.elts):
        return None
    version = tuple(e.value for e in right.elts if isinstance(e, ast.Constant))
    return bool(COMPARISONS[type(op)](sys.version_info[: len(version)], version))


class _Visitor(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool, known_modules: set[str]) -> None:
        self.module = module
        self.package = module if is_package else module.rpartition(".")[0]
        self.known = known_modules
        self.scopes: list[str] = []
        self.extras: list[str] = []
        self.guards = 0
        self.imports: list[Import] = []

    @contextmanager
    def _scope(self, name: str) -> Iterator[None]:
        self.scopes.append(name)
        try:
            yield
        finally:
            self.scopes.pop()

    def _record(self, target: str, name: str, line: int) -> None:
        self.imports.append(
            Import(
                self.module,
                ".".join(self.scopes),
                target,
                name,
                line,
                frozenset(self.extras),
                self.guards > 0,
            )
        )

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        with self._scope(node.name):
            self.generic_visit(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        with self._scope(node.name):
            self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        with self._scope(node.name):
            self.generic_visit(node)

    def visit_Try(self, node: ast.Try) -> None:
        guarded = any(_catches_import_error(h) for h in node.handlers)
        self.guards += guarded
        for statement in node.body:
            self.visit(statement)
        self.guards -= guarded
        for other in (*node.handlers, *node.orelse, *node.finalbody):
            self.visit(other)

    def visit_With(self, node: ast.With) -> None:
        named = [extra for extra in map(_needs_extra, node.items) if extra]
        self.extras.extend(named)
        self.generic_visit(node)
        del self.extras[len(self.extras) - len(named) :]

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            branches = [node.orelse]
        else:
            taken = _version_test(node.test)
            branches = (
                [node.body, node.orelse] if taken is None else [node.body if taken else node.orelse]
            )
        for branch in branches:
            for statement in branch:
                self.visit(statement)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._record(alias.name, "", node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base_parts = self.package.split(".")
            base_parts = base_parts[: len(base_parts) - (node.level - 1)]
            base = ".".join([*base_parts, *([node.module] if node.module else [])])
        else:
            base = node.module or ""
        if base == "__future__":
            return
        for alias in node.names:
            candidate = f"{base}.{alias.name}"
            if candidate in self.known:
                self._record(candidate, "", node.lineno)
            else:
                self._record(base, alias.name, node.lineno)
