"""Shared parametrization: every test that takes ``case`` runs over the whole catalog."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

import actlab
from actlab.catalog.spec import Elementwise, Spec

# A shell's background job (``make test &``, nohup) starts with Ctrl-C ignored, and an ignored signal stays ignored
# through fork and exec: the Ctrl-C tests' subprocesses would then never see the SIGINT they are sent and run on to
# the end. A handler, unlike an ignore, is reset to the default at exec, so every subprocess starts as a terminal's.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _catalog_as_found() -> Iterator[None]:
    """Every test leaves the catalog as it found it: an activation a test registers, a formula it
    defines or a plugin it loads is taken out again, so that no later test in the same process (a
    comparison of catalogs with a worker's, the catalog-wide checks) sees it."""
    from actlab.catalog import registry
    from actlab.formula import core

    before, loaded = set(registry.names()), dict(registry._loaded)
    yield
    added = set(registry.names()) - before
    for name in added:
        registry.unregister(name)
    registry._loaded.clear()
    registry._loaded.update(loaded)
    for source, spec in list(core._by_source.items()):
        if spec.name in added:
            del core._by_source[source]


settings.register_profile(
    "default",
    deadline=None,
    derandomize=True,
    database=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", deadline=None, max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def variants(spec: Spec) -> list[dict[str, Any]]:
    """The default parameters, then each parameter moved to its documented example value."""
    out: list[dict[str, Any]] = [{}]
    for q in spec.params:
        if q.example is None or q.name == "dim":
            continue
        try:
            spec.bind({q.name: q.example})
        except actlab.InvalidParameterError:
            continue
        out.append({q.name: q.example})
    return out


def _ident(name: str, params: dict[str, Any]) -> str:
    return name + "".join(f"[{k}={v}]" for k, v in params.items())


def cases(kind: str | None = None, *, defaults_only: bool = False) -> list[Any]:
    out = []
    for spec in actlab.specs(kind):
        for params in variants(spec)[: 1 if defaults_only else None]:
            out.append(pytest.param(actlab.get(spec.name, **params), id=_ident(spec.name, params)))
    return out


ELEMENTWISE = cases("elementwise")
ELEMENTWISE_DEFAULTS = cases("elementwise", defaults_only=True)
VECTOR = [c for k in ("axis", "gated", "pooled") for c in cases(k)]
ALL_DEFAULTS = cases(defaults_only=True)


def is_elementwise(act: actlab.Activation) -> bool:
    return isinstance(act.spec, Elementwise)
