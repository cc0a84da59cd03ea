"""The AWS calls each function's code can make, found by reading the code with mypy's types.

From the handler (and the app module's cold-start code), every function, method and class the
code refers to is followed: a method through the type mypy infers for its receiver, so
`backlog.jobs.start(...)` leads to `CelebrityJobs.start` and nowhere else. An attribute read
on an untyped receiver (boto3 clients are `Any`) whose name is an operation of a service cameo
uses (`self._client.put_item`, called or passed as a callable) is an AWS call, as is the
operation named in `get_paginator("...")` or `generate_presigned_url("...")`.

It over-approximates (a branch never taken still counts), which is the safe side for "the
policy grants what the code calls". It would miss a call made through an adapter typed `Any`:
`unresolved` lists every such attribute whose name is an adapter method, so the test can
refuse them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
from botocore import xform_name
from mypy import build, nodes
from mypy.modulefinder import BuildSource
from mypy.options import Options
from mypy.types import AnyType, Instance, TypeType, get_proper_type

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers/cameo_core"
SERVICES = ("dynamodb", "s3", "rekognition", "sns")
# Where an attribute leads to other code or away from the call graph (definitions, types).
_NOT_CHILDREN = {
    "node", "def_var", "info", "type", "analyzed_types", "unanalyzed_type", "var",
    "original_decorators", "fullname", "kind", "arg_kinds", "arg_names", "names", "analyzed",
}  # fmt: skip
_DUNDERS = (
    "__init__",
    "__post_init__",
    "__call__",
    "__enter__",
    "__exit__",
    "__iter__",
    "__next__",
)


@cache
def operations() -> dict[str, frozenset[str]]:
    """boto3 method name -> {"service:Operation"} for the services cameo calls."""
    session = botocore.session.get_session()
    found: dict[str, set[str]] = {}
    for service in SERVICES:
        for operation in session.get_service_model(service).operation_names:
            found.setdefault(xform_name(operation), set()).add(f"{service}:{operation}")
    return {name: frozenset(ops) for name, ops in found.items()}


@dataclass
class Calls:
    operations: dict[str, set[str]] = field(default_factory=dict)  # "svc:Op" -> where
    unresolved: set[tuple[str, str]] = field(default_factory=set)  # (attribute, where)


def _ours(info: nodes.TypeInfo) -> bool:
    return info.fullname.startswith(("cameo_core.", "functions."))


def _children(node: nodes.Node) -> Iterator[nodes.Node]:
    # mypy's visitors are compiled traits that plain classes cannot extend, so walk generically.
    for attribute in dir(node):
        if attribute.startswith("_") or attribute in _NOT_CHILDREN:
            continue
        try:
            value = getattr(node, attribute)
        except Exception:  # a property that needs analysis state: not a child
            continue
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            if isinstance(item, nodes.Node):
                yield item
            elif isinstance(item, list | tuple):
                yield from (i for i in item if isinstance(i, nodes.Node))


class _Walk:
    def __init__(self, program: _Program) -> None:
        self.program = program
        self.calls = Calls()
        self.todo: list[nodes.FuncDef] = []
        self.queued: set[int] = set()
        self.visited: set[int] = set()
        self.receivers: set[int] = set()
        self.where = "<module>"

    def follow(self, node: Any) -> None:
        if isinstance(node, nodes.Decorator):
            node = node.func
        if isinstance(node, nodes.OverloadedFuncDef):
            for item in [*node.items, node.impl]:
                self.follow(item)
        elif isinstance(node, nodes.FuncDef) and id(node) not in self.queued:
            self.queued.add(id(node))
            self.todo.append(node)
        elif isinstance(node, nodes.TypeInfo) and _ours(node):
            for name in _DUNDERS:
                method = node.get_method(name)
                if method is not None and _ours(method.info):
                    self.follow(method)

    def member_of(self, info: nodes.TypeInfo, name: str) -> None:
        symbol = info.get(name)
        if symbol is not None:
            self.follow(symbol.node)
        if info.is_protocol:  # any of our classes may stand behind it
            for other in self.program.classes:
                if not other.is_protocol and (found := other.get(name)) is not None:
                    self.follow(found.node)

    def type_of(self, expr: nodes.Expression) -> Any:
        found = self.program.types.get(expr)
        return get_proper_type(found) if found is not None else None

    def visit(self, node: nodes.Node) -> None:
        if id(node) in self.visited:
            return
        self.visited.add(id(node))
        if isinstance(node, nodes.MemberExpr):
            self.member(node)
        elif isinstance(node, nodes.RefExpr):
            self.follow(node.node)
        elif isinstance(node, nodes.CallExpr):
            self.call(node)
        elif isinstance(node, nodes.WithStmt):
            for expr in node.expr:
                if isinstance(t := self.type_of(expr), Instance) and _ours(t.type):
                    self.member_of(t.type, "__enter__")
                    self.member_of(t.type, "__exit__")
        elif (
            isinstance(node, nodes.ForStmt)
            and isinstance(t := self.type_of(node.expr), Instance)
            and _ours(t.type)
        ):
            self.member_of(t.type, "__iter__")
        for child in _children(node):
            self.visit(child)

    def member(self, expr: nodes.MemberExpr) -> None:
        if isinstance(expr.expr, nodes.MemberExpr):
            self.receivers.add(id(expr.expr))  # `a.b.c`: `a.b` is read, not called
        if expr.node is not None:  # a module's function or class
            self.follow(expr.node)
            return
        receiver = self.type_of(expr.expr)
        if isinstance(receiver, Instance) and _ours(receiver.type):
            self.member_of(receiver.type, expr.name)
        elif isinstance(receiver, TypeType) and isinstance(receiver.item, Instance):
            if _ours(receiver.item.type):
                self.member_of(receiver.item.type, expr.name)
        elif receiver is None or isinstance(receiver, AnyType):
            if expr.name in operations() and id(expr) not in self.receivers:
                for operation in operations()[expr.name]:
                    self.calls.operations.setdefault(operation, set()).add(self.where)
            elif expr.name in self.program.adapter_methods:
                self.calls.unresolved.add((expr.name, self.where))

    def call(self, expr: nodes.CallExpr) -> None:
        callee = expr.callee
        if (
            isinstance(callee, nodes.MemberExpr)
            and callee.name in ("get_paginator", "generate_presigned_url")
            and expr.args
            and isinstance(expr.args[0], nodes.StrExpr)
        ):
            for operation in operations().get(expr.args[0].value, ()):
                self.calls.operations.setdefault(operation, set()).add(self.where)

    def run(self, tree: nodes.MypyFile) -> Calls:
        for definition in tree.defs:  # cold-start code
            if not isinstance(definition, nodes.FuncDef | nodes.Decorator | nodes.ClassDef):
                self.visit(definition)
        return self.run_from(tree.names["lambda_handler"].node)

    def run_from(self, start: Any) -> Calls:
        self.follow(start)
        while self.todo:
            function = self.todo.pop()
            self.where = function.fullname
            self.visit(function.body)
        return self.calls


@dataclass
class _Program:
    types: dict[nodes.Expression, Any]
    trees: dict[str, nodes.MypyFile]
    classes: list[nodes.TypeInfo]
    adapter_methods: set[str] = field(default_factory=set)  # those that reach an AWS call


@cache
def _program() -> _Program:
    sources = []
    for path in sorted((LAYER / "cameo_core").rglob("*.py")):
        module = ".".join(path.relative_to(LAYER).with_suffix("").parts).removesuffix(".__init__")
        sources.append(BuildSource(str(path), module))
    for app in sorted(ROOT.glob("functions/*/app.py")):
        sources.append(BuildSource(str(app), f"functions.{app.parent.name}.app"))
    options = Options()
    options.export_types = True
    options.preserve_asts = True
    options.follow_imports = "skip"  # third-party code is Any: boto3 clients, Powertools
    options.ignore_missing_imports = True
    options.incremental = False
    options.mypy_path = [str(LAYER)]
    result = build.build(sources, options)
    trees = {m: s.tree for m, s in result.graph.items() if s.tree is not None}
    classes = [
        symbol.node
        for module, tree in trees.items()
        if module.startswith(("cameo_core", "functions."))
        for symbol in tree.names.values()
        if isinstance(symbol.node, nodes.TypeInfo) and symbol.node.module_name == module
    ]
    program = _Program(result.types, trees, classes)
    program.adapter_methods = {
        name
        for info in classes
        if info.module_name.startswith("cameo_core.adapters.")
        for name, symbol in info.names.items()
        if isinstance(symbol.node, nodes.FuncDef | nodes.Decorator)
        and _Walk(program).run_from(symbol.node).operations
    }
    return program


def function_calls(code_dir: str) -> Calls:
    """What functions/<code_dir>/app.py's handler can call."""
    program = _program()
    return _Walk(program).run(program.trees[f"functions.{code_dir}.app"])
