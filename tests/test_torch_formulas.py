"""The catalog's formulas, written once against an array namespace, run unchanged on PyTorch tensors.

float64 tensors agree with the NumPy reference to 1e-10 relative (extremes included), and
PyTorch's autograd through each forward formula agrees with the hand-written derivative.
"""

from __future__ import annotations

import numpy as np
import pytest

import actlab
from actlab.catalog.spec import Elementwise

from .conftest import ELEMENTWISE, VECTOR

torch = pytest.importorskip("torch")
from actlab.namespaces import torch_ns  # noqa: E402

NS = torch_ns(torch.float64)
EXTREMES = np.concatenate(
    [
        [-np.inf, np.inf, np.nan, 0.0, -0.0, 5e-324, -5e-324, 1e-310, -1e-310, 1e4, -1e4, 1e300, -1e300],
        np.linspace(-40, 40, 801),
        np.logspace(-300, 300, 121),
        -np.logspace(-300, 300, 121),
    ]
)


@pytest.mark.parametrize("act", ELEMENTWISE)
def test_torch_float64_agrees_with_numpy(act: actlab.Activation) -> None:
    spec = act.spec
    assert isinstance(spec, Elementwise)
    xt = torch.from_numpy(EXTREMES)
    for formula, reference in ((spec.forward, act(EXTREMES)), (spec.derivative, act.derivative(EXTREMES))):
        got = formula(xt, act.bound, NS)
        assert got.dtype == torch.float64
        got = torch.where(torch.isnan(xt), xt, got).numpy()
        np.testing.assert_allclose(got, reference, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("act", ELEMENTWISE)
def test_autograd_of_the_formula_equals_the_hand_written_derivative(act: actlab.Activation) -> None:
    spec = act.spec
    assert isinstance(spec, Elementwise)
    # 6000 points skip x = 0, where the formulas' |x| and "exactly zero wins" products have
    # one-sided autograd derivatives (the formulas are smooth there; their autodiff is not)
    x = np.linspace(-30, 30, 6000)
    kinks = [k.x for k in spec.kink_points(act.bound)]
    x = x[np.all([np.abs(x - k) > 1e-6 for k in kinks], axis=0)] if kinks else x
    xt = torch.tensor(x, requires_grad=True)
    (grad,) = torch.autograd.grad(spec.forward(xt, act.bound, NS).sum(), xt)
    np.testing.assert_allclose(spec.derivative(xt.detach(), act.bound, NS).numpy(), grad.numpy(), rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("act", VECTOR)
def test_vector_kinds_on_tensors(act: actlab.Activation) -> None:
    x = np.random.default_rng(0).standard_normal((3, 12, 12))
    y = act(x)
    g = np.random.default_rng(1).standard_normal(y.shape)
    xt, gt = torch.from_numpy(x), torch.from_numpy(g)
    np.testing.assert_allclose(act.spec.apply(xt, act.bound, NS).numpy(), y, rtol=1e-12)
    np.testing.assert_allclose(act.spec.vjp(xt, gt, act.bound, NS).numpy(), act.vjp(x, g), rtol=1e-12, atol=1e-15)
