"""Progress bars: shown only after a second of work, and gone (nothing saved) when the work ends."""
import time

import pytest

from xai_widgets.explain import _progress


class _Handle:
    def __init__(self, log):
        self.log = log

    def update(self, obj, **kw):
        self.log.append(("update", obj, kw))


@pytest.fixture
def notebook_bar(monkeypatch):
    """The notebook bar class with IPython's display recorded instead of sent."""
    import IPython.display

    log = []

    def fake_display(obj, display_id=None, **kw):
        log.append(("display", type(obj).__name__, display_id))
        return _Handle(log)

    monkeypatch.setattr(IPython.display, "display", fake_display)
    monkeypatch.setattr(_progress, "_NOTEBOOK_CLS", None)
    cls = _progress._notebook_bar_class()
    yield cls, log
    _progress._NOTEBOOK_CLS = None


def test_long_work_shows_a_bar_and_removes_it_at_the_end(notebook_bar):
    cls, log = notebook_bar
    bar = cls(total=3, desc="occlusion", leave=False, delay=0.05, mininterval=0)
    for _ in range(3):
        time.sleep(0.06)
        bar.update(1)
    assert [e[0] for e in log] == ["display"] and log[0][2] is True  # shown through a display handle
    bar.close()
    assert log[-1] == ("update", {}, {"raw": True})  # the output is emptied: nothing left in the notebook


def test_quick_work_shows_nothing(notebook_bar):
    cls, log = notebook_bar
    with cls(total=3, leave=False, delay=5.0) as bar:
        bar.update(3)
    assert log == []


def test_a_bar_stopped_by_an_error_stays(notebook_bar):
    cls, log = notebook_bar
    bar = cls(total=10, leave=False, delay=0.01, mininterval=0)
    time.sleep(0.03)
    bar.update(2)
    bar.close()  # 2 of 10: the work did not finish
    assert [e[0] for e in log] == ["display"]


def test_terminal_bar_waits_a_second(capsys):
    # outside a kernel tqdm.auto is the terminal bar; quick work prints nothing
    with _progress.progress(total=4, desc="x") as bar:
        bar.update(4)
    assert capsys.readouterr().err == ""
    assert _progress.DELAY == 1.0
