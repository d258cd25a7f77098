"""Fixtures for the ports of Captum's and shap's own test cases (tests/peers/).

The models are Captum's own (``captum.testing.helpers``, shipped in the
captum wheel), so a port uses exactly the network its original test used.
Every test starts from Captum's ``BaseTest.setUp`` seed (1234): the few
tests that draw random inputs draw the same tensors as the originals.
"""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def captum_seed():
    """Captum's ``set_all_random_seeds(1234)``, run before each of its tests."""
    random.seed(1234)
    np.random.seed(1234)
    torch.manual_seed(1234)
    yield
