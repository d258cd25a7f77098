"""Attribution behaves as a sequence of rows (it used to hang: a[5] returned an empty result)."""
from __future__ import annotations

import numpy as np
import pytest

import xai_widgets as xw


def make(n=2):
    return xw.Attribution.from_array(
        np.arange(n * 3, dtype=float).reshape(n, 3), np.ones((n, 3)), target=list(range(n)),
        outputs=np.arange(n, dtype=float), base_values=np.zeros(n), output_names=["a", "b", "c"],
    )


def test_index_past_the_end_raises():
    a = make()
    with pytest.raises(IndexError, match="row 5 is out of range for an Attribution of 2 rows"):
        a[5]
    with pytest.raises(IndexError):
        a[-3]
    assert a[-1].values.tolist() == [[3.0, 4.0, 5.0]]
    assert a[np.int64(0)].target.tolist() == [0]


def test_iteration_ends_and_yields_rows():
    a = make(3)
    rows = list(a)
    assert len(rows) == 3
    assert [r.values.tolist() for r in rows] == [[v] for v in a.values.tolist()]
    assert [float(r.outputs[0]) for r in rows] == [0.0, 1.0, 2.0]


def test_array_protocol_returns_values():
    a = make()
    assert np.asarray(a).shape == (2, 3)
    assert np.array_equal(np.asarray(a), a.values)
    assert np.asarray(a, dtype=np.float32).dtype == np.float32


def test_fancy_indexing_and_bad_indices():
    a = make(3)
    assert a[[2, 0]].values[:, 0].tolist() == [6.0, 0.0]
    assert a[np.array([True, False, True])].target.tolist() == [0, 2]
    with pytest.raises(IndexError):
        a[[0, 5]]
    with pytest.raises(TypeError, match="by row only"):
        a[0, 1]
    with pytest.raises(TypeError):
        a[True]


def test_output_names_and_repr():
    a = make()
    assert a.target_names == ["a", "b"]
    assert "classes=['a', 'b']" in repr(a)
    assert a[1].output_names == ["a", "b", "c"]


def test_repr_states_a_summarised_background():
    a = xw.Attribution.from_array(np.zeros((1, 3)), params={"background_summarized": True, "background_rows": 124, "background": 50})
    assert "k-means summary of 124 rows into 50 weighted centres" in repr(a)
