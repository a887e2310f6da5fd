"""The JAX tests skip where JAX is absent (`pip install 'actlab[jax]'` is optional); with
ACTLAB_REQUIRE_JAX=1, as CI sets it, a missing JAX, Flax or optax fails here instead of skipping."""

from __future__ import annotations

import importlib
import os

import pytest

REQUIRED = os.environ.get("ACTLAB_REQUIRE_JAX") == "1"


@pytest.mark.skipif(not REQUIRED, reason="ACTLAB_REQUIRE_JAX is not 1: the JAX extra is optional here")
@pytest.mark.parametrize("module", ["jax", "flax.nnx", "optax", "actlab.jax", "actlab.jax.nnx"])
def test_the_jax_extra_is_installed(module: str) -> None:
    importlib.import_module(module)
