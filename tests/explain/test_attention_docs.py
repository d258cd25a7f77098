"""help() shows the parameters first: every public kernel's docstring, and an example on every widget."""
from __future__ import annotations

import inspect
import re

import anywidget
import pytest

import xai_widgets as xw

KERNELS = [n for n in xw.__all__ if inspect.isfunction(getattr(xw, n))]
WIDGETS = [n for n in xw.__all__ if inspect.isclass(getattr(xw, n)) and issubclass(getattr(xw, n), anywidget.AnyWidget)]
# numpy-style section headers: a title line followed by a line of dashes
HEADER = re.compile(r"^(\w[\w ]*)\n-{3,}\s*$", re.MULTILINE)


def sections(doc: str) -> list[tuple[str, int]]:
    """(title, line number) of each section header."""
    return [(m.group(1).strip(), doc[: m.start()].count("\n")) for m in HEADER.finditer(doc)]


def test_the_lists_are_not_empty():
    assert {"attention_rollout", "attention_flow", "grad_attention", "saliency", "kernel_shap"} <= set(KERNELS)
    assert {"HeatmapOverlay", "TextHeatmap", "ForcePlot", "AttentionView"} <= set(WIDGETS)


@pytest.mark.parametrize("name", KERNELS)
def test_kernel_docstring_starts_with_parameters(name):
    doc = inspect.getdoc(getattr(xw, name))
    assert doc, f"{name} has no docstring"
    found = sections(doc)
    titles = [t for t, _ in found]
    assert "Parameters" in titles, f"{name}: no numpy-style 'Parameters' section (found {titles})"
    assert titles[0] == "Parameters", f"{name}: 'Parameters' must be the first section, found {titles}"
    line = dict(found)["Parameters"]
    assert line <= 15, f"{name}: 'Parameters' starts on line {line} of help(); keep the summary above it short"
    assert "Returns" in titles and titles.index("Returns") > 0, f"{name}: 'Returns' should follow 'Parameters'"
    # every parameter in the signature is documented
    params = inspect.signature(getattr(xw, name)).parameters
    body = doc.split("Parameters\n")[1]
    for p in params.values():
        label = {inspect.Parameter.VAR_POSITIONAL: "*" + p.name, inspect.Parameter.VAR_KEYWORD: "**" + p.name}.get(
            p.kind, p.name)
        assert re.search(rf"^{re.escape(label)}\b", body, re.MULTILINE) or re.search(
            rf"^[\w, *]*\b{re.escape(p.name)}\b[\w, ]*( :|$)", body, re.MULTILINE
        ), f"{name}: parameter {label!r} is not documented under 'Parameters'"


@pytest.mark.parametrize("name", KERNELS + WIDGETS)
def test_example_section(name):
    doc = inspect.getdoc(getattr(xw, name))
    titles = [t for t, _ in sections(doc)]
    assert {"Example", "Examples"} & set(titles), f"{name}: no 'Example'/'Examples' section (found {titles})"
    example = doc.split("Example")[-1]
    assert ">>> " in example, f"{name}: the example section has no code"


@pytest.mark.parametrize("name", WIDGETS)
def test_widget_parameters_come_first(name):
    found = sections(inspect.getdoc(getattr(xw, name)))
    assert found and found[0][0] == "Parameters" and found[0][1] <= 15, f"{name}: {found}"
