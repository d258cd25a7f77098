"""GenerationHeatmap: which earlier tokens each generated token rests on (the result of explain_generation)."""
from __future__ import annotations

from typing import Any

import numpy as np
import traitlets

from .._display import generation as gen
from ..attribution import Attribution
from . import _serialize as ser
from ._base import XWidget
from ._traits import COLORMAPS, Choice, Index, as_int, reject_result_sequence

__all__ = ["GenerationHeatmap"]

# float32 up to this many bytes of (G, S) values, float16 (scaled by max |value|) beyond
_FLOAT32_BYTES = 4 * 2**20


class GenerationHeatmap(XWidget):
    """Prompt and generated text, every earlier token coloured by its attribution to a selected generated token.

    Parameters
    ----------
    attribution : Attribution
        The result of ``xw.explain_generation``: values ``(1, G, S)`` (G
        generated tokens, S = P + G source positions), ``feature_names`` (the
        S source tokens as display text), ``params["generated"]`` (G),
        ``params["prompt_length"]`` (P), ``params["special"]`` (S bools,
        optional), ``outputs`` ``(1, G)`` log-probabilities (optional) and
        ``params["contrast"]`` (shown in the title).
    token : int or None
        The selected generated token, 0 .. G-1 (synced: click a generated
        token, or set it from Python). None selects the first one.
    normalize : "token" | "global"
        "token": each generated token's colours span its own largest |value|;
        "global": one scale for every generated token.
    view : "text" | "matrix"
        Flowing text, or the generated × source matrix (wheel to zoom, drag
        to pan, click a row to select its token).
    colormap : str, default "coolwarm"
        A diverging map keeps zero at the page colour; values are signed.

    The text view shows the prompt and the generation as one flowing text,
    the generated part underlined. Hovering a generated token previews its
    colours; clicking selects it (``token``). Sources after the selected token
    stay plain (the model had not seen them), special tokens are dimmed.
    Values travel as float32 ``(G, S)`` (float16 scaled by max |value| beyond
    4 MiB).

    Example
    -------
    >>> import xai_widgets as xw
    >>> tok, model = xw.demo.smollm2()                                      # doctest: +SKIP
    >>> a = xw.explain_generation(model, tok, "The capital of France is")   # doctest: +SKIP
    >>> w = xw.GenerationHeatmap(a)                                         # doctest: +SKIP
    >>> w.token = 0; w.view = "matrix"                                      # doctest: +SKIP
    >>> w.values_for()                                                      # doctest: +SKIP
    """

    _bundle = "generation_heatmap"

    token = Index(0, what="token").tag(sync=True)
    normalize = Choice(gen.NORMALIZE, "token", what="normalize").tag(sync=True)
    view = Choice(gen.VIEWS, "text", what="view").tag(sync=True)
    colormap = Choice(COLORMAPS, "coolwarm", what="colormap").tag(sync=True)

    method = traitlets.Unicode("").tag(sync=True)
    contrast = traitlets.Unicode(None, allow_none=True).tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)
    n_generated = traitlets.Int(0).tag(sync=True)
    n_sources = traitlets.Int(0).tag(sync=True)
    prompt_length = traitlets.Int(0).tag(sync=True)

    # (G, S) values, float32 or float16 (lib/decode.ts); cells s >= P + g are 0
    _values = traitlets.Bytes(b"").tag(sync=True)
    _values_meta = traitlets.Dict().tag(sync=True)
    _sources = traitlets.List(traitlets.Unicode()).tag(sync=True)
    _generated = traitlets.List(traitlets.Unicode()).tag(sync=True)
    _special = traitlets.List(traitlets.Bool()).tag(sync=True)
    # log-probability of each generated token ([] when not recorded)
    _log_probs = traitlets.List(traitlets.Float()).tag(sync=True)

    _OPTIONS = ("token", "normalize", "view", "colormap")
    _RANGES = {"token": ("_g", "in [0, {last}] ({n} generated tokens)")}
    _DATA_ATTRS = ("_data", "_attribution")

    def __init__(
        self,
        attribution: Any,
        *,
        token: int | None = None,
        normalize: str = "token",
        view: str = "text",
        colormap: str = "coolwarm",
        **kwargs: Any,
    ) -> None:
        self._check_options(kwargs)
        reject_result_sequence(attribution, "GenerationHeatmap", "attribution")
        for name, value in (("normalize", normalize), ("view", view), ("colormap", colormap)):
            self.traits()[name].validate(self, value)
        d = gen.generation_data(attribution)
        self._data, self._attribution = d, attribution
        self._g = d.n_generated
        token = 0 if token is None else as_int(token, "token")
        self._check_range("token", token)

        vals = d.values.astype(np.float32)
        dtype = "float32" if vals.nbytes <= _FLOAT32_BYTES else "float16"
        raw, meta = ser.encode(vals, dtype)
        super().__init__(
            method=d.method, contrast=d.contrast, title=gen.title_of(d),
            n_generated=d.n_generated, n_sources=d.n_sources, prompt_length=d.prompt_length,
            _values=raw, _values_meta=meta, _sources=list(d.sources), _generated=list(d.generated),
            _special=[bool(x) for x in d.special],
            _log_probs=[] if d.log_probs is None else [float(x) for x in d.log_probs],
            token=token, normalize=normalize, view=view, colormap=colormap, **kwargs,
        )

    # ------------------------------------------------------------ readers
    @property
    def attribution(self) -> Attribution:
        """The attribution shown."""
        return self._attribution

    @property
    def values(self) -> np.ndarray:
        """``(G, S)`` float64: source ``s``'s attribution to generated token ``g`` (0 where ``s >= P + g``)."""
        return self._data.values.copy()

    @property
    def sources(self) -> list[str]:
        """The S source tokens (prompt, then generated) as display text."""
        return list(self._data.sources)

    @property
    def generated(self) -> list[str]:
        """The G generated tokens as display text."""
        return list(self._data.generated)

    @property
    def scales(self) -> np.ndarray:
        """``(G,)``: the upper end of each generated token's colour scale under the current ``normalize``."""
        return gen.row_scales(self._data.values, self._data.prompt_length, self.normalize)

    def values_for(self, token: int | None = None) -> dict[str, float]:
        """``{source position "s: token": value}`` of the sources before a generated token (default: ``token``).

        Parameters
        ----------
        token : int, optional
            A generated token, 0 .. G-1.
        """
        g = self.token if token is None else as_int(token, "token")
        self._check_range("token", g)
        d = self._data
        return {f"{s}: {d.sources[s]}": float(d.values[g, s]) for s in range(d.prompt_length + g)}

    # ------------------------------------------------------- static picture
    def _static_figure(self) -> Any:
        if self._data is None:
            raise ValueError("the widget is closed; its attributions were released")
        return gen.plot_generation(self._data, int(self.token), normalize=self.normalize, view=self.view,
                                   cmap=self.colormap, width=float(self._STATIC_WIDTH))

    def __repr__(self) -> str:
        return (f"GenerationHeatmap(method={self.method!r}, prompt_tokens={self.prompt_length}, "
                f"generated={self.n_generated}, view={self.view!r})")
