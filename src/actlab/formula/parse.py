"""Formula text to a SymPy expression, without ever evaluating the text as Python.

The text is read by Python's own parser (:func:`ast.parse` builds a syntax tree and runs nothing),
and the tree is then walked against a closed vocabulary: numbers, the variable ``x``, parameter
names, the four operations and powers (``**`` or ``^``), the functions of :data:`FUNCTIONS` and
every elementwise catalog entry by name.  Anything else — attribute access, subscripts, strings,
lambdas, keywords outside a catalog call, names with underscores at either end, comparisons outside
``where``/``piecewise`` — is one :class:`~actlab.errors.FormulaError`.  Sizes are bounded before
and while the tree is built (characters, nodes, depth, exponent and literal magnitudes), so no
input can make the parser or SymPy's automatic evaluation (``9**9**9``) run away.

>>> from actlab.formula.parse import parse
>>> parse("x*sigmoid(beta*x)").expr
x*sigmoid(beta*x)
>>> sorted(parse("x*sigmoid(beta*x)").params)
['beta']
"""

from __future__ import annotations

import ast
import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sympy

from ..errors import FormulaError, suggest
from . import symbolic as sym

MAX_CHARS = 1000
"""The longest formula accepted, in characters."""
MAX_NODES = 400
"""The most syntax-tree nodes a formula may have."""
MAX_DEPTH = 40
"""The deepest nesting of a formula's syntax tree."""
MAX_EXPONENT = 64
"""The largest |n| of a numeric exponent (x**n); a power of two numbers must also stay below 1e300."""
MAX_LITERAL = 1e300
"""The largest magnitude of a number written in a formula."""

X = sympy.Symbol("x", real=True)
"""The variable of every formula."""

CONSTANTS: dict[str, Any] = {"pi": sympy.pi, "e": sympy.E}

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _one(builder: Callable[[Any], Any]) -> tuple[int, int, Callable[..., Any]]:
    return (1, 1, builder)


FUNCTIONS: dict[str, tuple[int, int, Callable[..., Any]]] = {
    # name: (fewest arguments, most arguments, builder of the SymPy expression)
    "exp": _one(sympy.exp),
    "log": _one(sympy.log),
    "log1p": _one(sym.Log1p),
    "expm1": _one(sym.Expm1),
    "sqrt": _one(sympy.sqrt),
    "abs": _one(sympy.Abs),
    "sign": _one(sympy.sign),
    "min": (2, 8, sympy.Min),
    "max": (2, 8, sympy.Max),
    "sin": _one(sympy.sin),
    "cos": _one(sympy.cos),
    "sinh": _one(sympy.sinh),
    "cosh": _one(sympy.cosh),
    "tanh": _one(sympy.tanh),
    "asinh": _one(sympy.asinh),
    "atan": _one(sympy.atan),
    "sinc": _one(sym.Sinc),
    "sigmoid": _one(sym.Sigmoid),
    "softplus": _one(sym.Softplus),
    "erf": _one(sympy.erf),
    "erfc": _one(sympy.erfc),
    "Phi": _one(sym.Phi),
}
"""The functions a formula may call besides the catalog's elementwise entries."""

ALIASES = {"arcsinh": "asinh", "arctan": "atan", "ndtr": "Phi", "phi": "Phi", "logistic": "sigmoid"}
CONDITIONAL = ("where", "piecewise")
"""``where(condition, a, b)`` and ``piecewise(c1, v1, c2, v2, ..., otherwise)``."""


@dataclass(frozen=True)
class Parsed:
    """A parsed formula: the SymPy expression in ``x`` (:data:`X`) and its parameters' symbols by name,
    the catalog entries it calls, and its canonical text (the same for ``x*sigmoid(x)`` and ``x * sigmoid( x )``)."""

    expr: sympy.Expr
    params: dict[str, sympy.Symbol]
    entries: tuple[str, ...]
    text: str


def _vocabulary() -> list[str]:
    return [*FUNCTIONS, *CONDITIONAL, *ALIASES, *CONSTANTS, "x"]


class _Builder:
    def __init__(self, text: str, reserved: set[str]) -> None:
        self.text = text
        self.params: dict[str, sympy.Symbol] = {}
        self.entries: list[str] = []
        self.reserved = reserved

    def fail(self, message: str) -> FormulaError:
        return FormulaError(f"formula {_short(self.text)}: {message}")

    # --- expressions ---
    def expr(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return self.number(node.value)
        if isinstance(node, ast.Name):
            return self.name(node.id)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = self.expr(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, (ast.Compare, ast.BoolOp)) or (
            isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)
        ):
            raise self.fail("a comparison is only a condition of where(condition, a, b) or piecewise(...)")
        raise self.fail(f"{_what(node)} is not part of a formula (numbers, x, parameters, + - * / ** and functions)")

    def number(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = "a complex number" if isinstance(value, complex) else f"{type(value).__name__} {value!r}"[:60]
            raise self.fail(f"{kind} is not a real number")
        if (isinstance(value, int) and value.bit_length() > 1000) or abs(float(value)) > MAX_LITERAL:
            raise self.fail(f"numbers are at most {MAX_LITERAL:g} in magnitude")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail("numbers must be finite")
        return sympy.Integer(value) if isinstance(value, int) else sympy.Float(value)

    def name(self, name: str) -> Any:
        if name == "x":
            return X
        if name in CONSTANTS:
            return CONSTANTS[name]
        if name in FUNCTIONS or name in ALIASES or name in CONDITIONAL or name in self.reserved:
            raise self.fail(f"{name} is a function: call it, as {name}(x)")
        if not _NAME.match(name) or name.startswith("_") or name.endswith("_") or len(name) > 32:
            raise self.fail(f"{name!r} is not a parameter name (letters, digits and '_' inside, at most 32)")
        if name not in self.params:
            self.params[name] = sympy.Symbol(name, real=True)
        return self.params[name]

    def binop(self, node: ast.BinOp) -> Any:
        a, b = self.expr(node.left), self.expr(node.right)
        op = node.op
        if isinstance(op, ast.Add):
            return a + b
        if isinstance(op, ast.Sub):
            return a - b
        if isinstance(op, ast.Mult):
            return a * b
        if isinstance(op, ast.Div):
            if b == 0:
                raise self.fail("division by zero")
            return a / b
        if isinstance(op, (ast.Pow, ast.BitXor)):
            return self.power(a, b)
        raise self.fail(f"the operator {_OPS.get(type(op), type(op).__name__)} is not part of a formula (+ - * / ** ^)")

    def power(self, a: Any, b: Any) -> Any:
        if b.is_Number:
            if abs(float(b)) > MAX_EXPONENT:
                raise self.fail(f"a numeric exponent is at most {MAX_EXPONENT} in magnitude; got {b}")
            if a.is_Number and a != 0 and abs(float(b)) * abs(math.log10(abs(float(a)))) > 300:
                raise self.fail(f"{a}**{b} is beyond the float range")
            if a == 0 and float(b) < 0:
                raise self.fail("0 to a negative power")
        return sympy.Pow(a, b)

    def call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name):
            raise self.fail(f"{_what(node.func)} cannot be called: only functions by name, as tanh(x)")
        name = ALIASES.get(node.func.id, node.func.id)
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            raise self.fail("* and ** arguments are not part of a formula")
        if name in CONDITIONAL:
            if node.keywords:
                raise self.fail(f"{name} takes no keyword arguments")
            return self.conditional(name, node.args)
        if name in FUNCTIONS:
            lo, hi, build = FUNCTIONS[name]
            if node.keywords:
                raise self.fail(f"{name} takes no keyword arguments")
            if not lo <= len(node.args) <= hi:
                many = f"{lo}" if lo == hi else f"{lo} to {hi}"
                raise self.fail(f"{name} takes {many} argument{'s' if hi > 1 else ''}; got {len(node.args)}")
            return build(*(self.expr(a) for a in node.args))
        return self.entry(node.func.id, node)

    def entry(self, name: str, node: ast.Call) -> Any:
        from ..catalog import registry

        try:
            spec = registry.spec(name)
        except FormulaError:
            raise
        except Exception:
            spec = None
        if spec is None or spec.kind != "elementwise" or getattr(spec, "formula_source", None) is not None:
            known = [*FUNCTIONS, *CONDITIONAL, *registry.names(kind="elementwise")]
            hint = suggest(name, known)
            what = "an unknown function" if spec is None else f"a {spec.kind} activation, not elementwise"
            if spec is not None and getattr(spec, "formula_source", None) is not None:
                what = "itself a formula activation (write its formula instead)"
            raise self.fail(f"{name} is {what}{hint}")
        if len(node.args) != 1:
            raise self.fail(
                f"{spec.name} takes one argument and its parameters by keyword; got {len(node.args)} arguments"
            )
        values: dict[str, Any] = {}
        for k in node.keywords:
            v = k.value
            if isinstance(v, ast.UnaryOp) and isinstance(v.op, ast.USub) and isinstance(v.operand, ast.Constant):
                value: Any = -v.operand.value if isinstance(v.operand.value, (int, float)) else None
            elif isinstance(v, ast.Constant):
                value = v.value
            else:
                raise self.fail(f"{spec.name}'s parameter {k.arg} takes a number or a string, not an expression")
            if isinstance(value, str) and len(value) > 40:
                raise self.fail(f"{spec.name}'s parameter {k.arg}: the value is too long")
            values[str(k.arg)] = value
        try:
            bound = spec.bind(values)
        except Exception as exc:
            raise self.fail(str(exc)) from None
        self.entries.append(spec.name)
        return sym.catalog_function(spec.name, tuple(sorted(vars(bound).items())))(self.expr(node.args[0]))

    def conditional(self, name: str, args: list[ast.expr]) -> Any:
        if name == "where":
            if len(args) != 3:
                raise self.fail(
                    f"where takes (condition, value where true, value where false); got {len(args)} arguments"
                )
            return sympy.Piecewise((self.expr(args[1]), self.condition(args[0])), (self.expr(args[2]), True))
        if len(args) < 3 or len(args) % 2 == 0:
            raise self.fail("piecewise takes (condition 1, value 1, condition 2, value 2, ..., value otherwise)")
        pieces = [(self.expr(args[i + 1]), self.condition(args[i])) for i in range(0, len(args) - 1, 2)]
        return sympy.Piecewise(*pieces, (self.expr(args[-1]), True))

    def condition(self, node: ast.AST) -> Any:
        if isinstance(node, ast.BoolOp):
            parts = [self.condition(v) for v in node.values]
            return sympy.And(*parts) if isinstance(node.op, ast.And) else sympy.Or(*parts)
        if isinstance(node, ast.Compare):
            terms = [self.expr(node.left), *(self.expr(c) for c in node.comparators)]
            out = []
            for op, a, b in zip(node.ops, terms, terms[1:]):
                rel = _RELATIONS.get(type(op))
                if rel is None:
                    raise self.fail("conditions compare with < <= > >= (== and != have no width on the reals)")
                out.append(rel(a, b))
            return sympy.And(*out)
        raise self.fail("a condition of where/piecewise is a comparison such as x > 0 (combined with and/or)")


_RELATIONS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: sympy.StrictLessThan,
    ast.LtE: sympy.LessThan,
    ast.Gt: sympy.StrictGreaterThan,
    ast.GtE: sympy.GreaterThan,
}
_OPS = {
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.MatMult: "@",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.LShift: "<<",
    ast.RShift: ">>",
}


def _what(node: ast.AST) -> str:
    kinds = {
        ast.Attribute: "attribute access (a.b)",
        ast.Subscript: "indexing (a[b])",
        ast.Lambda: "a lambda",
        ast.List: "a list",
        ast.Tuple: "a tuple",
        ast.Dict: "a dict",
        ast.Set: "a set",
        ast.JoinedStr: "an f-string",
        ast.IfExp: "a conditional expression (use where(condition, a, b))",
        ast.NamedExpr: "an assignment",
        ast.Starred: "a starred argument",
    }
    for kind, words in kinds.items():
        if isinstance(node, kind):
            return words
    return type(node).__name__


def _short(text: str) -> str:
    one = " ".join(text.split())
    return repr(one if len(one) <= 60 else one[:57] + "...")


def parse(text: str) -> Parsed:
    """Parse formula ``text`` into :class:`Parsed`; every problem is one :class:`FormulaError` line."""
    if not isinstance(text, str):
        raise FormulaError(f"a formula is text, not {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise FormulaError(f"a formula is at most {MAX_CHARS} characters; this one has {len(text)}")
    if not text.strip():
        raise FormulaError("the formula is empty; write an expression in x, such as x*sigmoid(x)")
    if not text.isprintable() and any(c not in " \t\n" and not c.isprintable() for c in text):
        raise FormulaError(f"formula {_short(text)}: it contains a control character")
    try:
        with warnings.catch_warnings():  # "invalid decimal literal" and the like: the error below says it
            warnings.simplefilter("ignore")
            tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        at = f" at character {exc.offset}" if exc.offset else ""
        raise FormulaError(f"formula {_short(text)} is not an expression{at}: {exc.msg}") from None
    except (ValueError, MemoryError, RecursionError):
        raise FormulaError(f"formula {_short(text)} cannot be read (too deeply nested or malformed)") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise FormulaError(f"formula {_short(text)} has {len(nodes)} parts; at most {MAX_NODES}")
    if _depth(tree.body) > MAX_DEPTH:
        raise FormulaError(f"formula {_short(text)} nests deeper than {MAX_DEPTH} levels")
    from ..catalog import registry

    builder = _Builder(text, {n for n in registry.names(kind="elementwise")})
    try:
        expr = builder.expr(tree.body)
    except FormulaError:
        raise
    except SYMPY_FAILURES as exc:
        raise FormulaError(f"formula {_short(text)} cannot be built: {first_line(exc)}") from None
    if not isinstance(expr, sympy.Expr):
        raise FormulaError(f"formula {_short(text)} is not a real-valued expression")
    canonical = ast.unparse(tree.body)
    return Parsed(expr, dict(sorted(builder.params.items())), tuple(dict.fromkeys(builder.entries)), canonical)


SYMPY_FAILURES = (
    ValueError,
    TypeError,
    LookupError,
    ArithmeticError,
    NotImplementedError,
    AttributeError,
    RecursionError,
)
"""What SymPy raises on a construction it cannot decide (comparing σ(β) with x, a KeyError deep in
Piecewise): one :class:`FormulaError` line wherever SymPy builds or analyses a formula."""


def first_line(exc: BaseException) -> str:
    """An exception's message, first line only (its type's name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _depth(node: ast.AST) -> int:
    """The nesting depth of a tree, without recursion (the tree may be deep)."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        n, d = stack.pop()
        deepest = max(deepest, d)
        if d <= MAX_DEPTH + 1:
            stack.extend((c, d + 1) for c in ast.iter_child_nodes(n))
    return deepest
