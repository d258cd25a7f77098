"""numpy <-> bytes round trips and the resampling helpers."""
import numpy as np
import pytest

from xai_widgets.widgets import _serialize as ser


def test_float32_round_trip_exact():
    a = np.random.default_rng(0).normal(size=(2, 3, 5, 7))
    raw, meta = ser.encode(a, "float32")
    assert meta["dtype"] == "float32" and meta["shape"] == [2, 3, 5, 7]
    assert len(raw) == a.size * 4
    back = np.frombuffer(raw, dtype="<f4").reshape(meta["shape"])
    np.testing.assert_array_equal(back, a.astype(np.float32))


def test_float16_keeps_relative_precision_of_small_values():
    a = np.random.default_rng(1).normal(scale=1e-6, size=(4, 9))
    raw, meta = ser.encode(a, "float16")
    assert len(raw) == a.size * 2
    back = np.frombuffer(raw, dtype="<f2").reshape(meta["shape"]).astype(np.float64) * meta["scale"] + meta["offset"]
    np.testing.assert_allclose(back, a, atol=np.abs(a).max() * 1e-3)
    np.testing.assert_allclose(ser.decode(raw, meta), back)


def test_uint8_with_scale_and_offset():
    a = np.linspace(-3, 5, 50).reshape(5, 10)
    raw, meta = ser.encode(a, "uint8")
    back = np.frombuffer(raw, dtype=np.uint8).reshape(meta["shape"]).astype(np.float64) * meta["scale"] + meta["offset"]
    np.testing.assert_allclose(back, a, atol=8 / 255 / 2 + 1e-12)
    img = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    raw, meta = ser.encode(img, "uint8")
    assert (meta["scale"], meta["offset"]) == (1.0, 0.0)
    np.testing.assert_array_equal(ser.decode(raw, meta), img)


def test_unknown_dtype():
    with pytest.raises(ValueError, match="unknown dtype"):
        ser.encode(np.zeros(3), "int64")


@pytest.mark.parametrize("shape,out", [((1000, 750), (400, 300)), ((97, 61), (33, 21)), ((64, 64), (16, 16))])
def test_area_resize_preserves_mean(shape, out):
    a = np.random.default_rng(2).normal(size=(2,) + shape)
    r = ser.area_resize(a, *out)
    assert r.shape == (2,) + out
    np.testing.assert_allclose(r.mean(axis=(1, 2)), a.mean(axis=(1, 2)), rtol=1e-10, atol=1e-12)


def test_area_resize_integer_factor_is_block_mean():
    a = np.arange(16.0).reshape(4, 4)
    np.testing.assert_allclose(ser.area_resize(a, 2, 2), [[2.5, 4.5], [10.5, 12.5]])


def test_bilinear_upsample_constant_and_range():
    np.testing.assert_allclose(ser.bilinear_resize(np.full((7, 7), 3.0), 224, 224), 3.0)
    a = np.random.default_rng(3).random((7, 9))
    up = ser.bilinear_resize(a, 70, 90)
    assert up.shape == (70, 90) and up.min() >= a.min() - 1e-12 and up.max() <= a.max() + 1e-12


def test_display_size_and_coordinates():
    assert ser.display_size(224, 224, 512) == (224, 224)
    assert ser.display_size(2048, 1024, 512) == (512, 256)
    disp, orig = (512, 256), (2048, 1024)
    for r, c in [(0, 0), (2047, 1023), (1001, 17), (5, 900)]:
        y, x = ser.original_to_display(r, c, disp, orig)
        assert ser.display_to_original(y, x, disp, orig) == (r, c)
    assert ser.display_to_original(-3, 1e9, disp, orig) == (0, 1023)
