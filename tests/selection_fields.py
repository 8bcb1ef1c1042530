"""``assert_fields_equal``: two Selections identical field by field, for the tests that compare
one path's result with another's exactly (a cached graph's replay and the eager path, an
indirect-address launch and the direct one)."""

from __future__ import annotations

import dataclasses

import torch


def assert_fields_equal(out, want, what=None) -> None:
    """Every field of ``out`` has ``want``'s dtype, shape and values, or both are None
    (``what`` goes into the failure message)."""
    for f in dataclasses.fields(want):
        value, got = getattr(want, f.name), getattr(out, f.name)
        if value is None:
            assert got is None, (what, f.name)
        else:
            same = got.dtype == value.dtype and got.shape == value.shape
            assert same and torch.equal(got, value), (what, f.name)
