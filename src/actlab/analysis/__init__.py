"""Analysis of any activation: computed properties, Gaussian moments, init gains,
mean-field signal propagation and self-normalization.

Everything here is computed from the catalog's formulas (NumPy reference), for catalog
entries and user-registered ones alike.
"""

from __future__ import annotations

from .gains import gain_table, gains
from .propagation import MeanField, edge_of_chaos
from .properties import Properties, find_kinks, properties
from .quadrature import Float64RangeError, gaussian_expectation
from .selfnorm import moment_map, self_normalizing_scaling, solve_selu_constants

__all__ = [
    "Float64RangeError",
    "MeanField",
    "Properties",
    "edge_of_chaos",
    "find_kinks",
    "gain_table",
    "gains",
    "gaussian_expectation",
    "moment_map",
    "properties",
    "self_normalizing_scaling",
    "solve_selu_constants",
]
