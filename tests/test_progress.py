"""Progress off a terminal: plain lines with done/total, rate and time left."""

from __future__ import annotations

import io

from advlab.progress import PlainProgress, progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_carry_done_total_rate_and_time_left() -> None:
    out = io.StringIO()
    items = list(PlainProgress(range(5), None, "construct d_r", "img", stream=out, interval=0.0))
    assert items == [0, 1, 2, 3, 4]
    lines = out.getvalue().splitlines()
    assert len(lines) >= 5 and lines[0].startswith("[construct d_r] 1/5 img (20%)")
    assert all("img/s" in ln and "elapsed" in ln for ln in lines)
    assert "left" in lines[0]


def test_no_line_before_the_interval_and_none_when_disabled() -> None:
    out = io.StringIO()
    with PlainProgress(None, 100, "epoch 1/3", "batch", stream=out, interval=3600.0) as bar:
        bar.update(50)
    assert out.getvalue() == ""
    quiet = io.StringIO()
    bar = progress(total=3, desc="x", stream=quiet, disable=True)
    bar.update(3)
    bar.close()
    assert quiet.getvalue() == ""


def test_a_terminal_gets_a_tqdm_bar() -> None:
    bar = progress(total=3, desc="x", stream=_Tty())
    assert type(bar).__name__ == "tqdm"
    bar.close()
    assert isinstance(progress(total=3, stream=io.StringIO()), PlainProgress)


def test_close_does_not_repeat_the_last_line() -> None:
    out = io.StringIO()
    list(PlainProgress(range(3), None, "x", "it", stream=out, interval=0.0))
    lines = out.getvalue().splitlines()
    assert [ln.split(" ·")[0] for ln in lines] == ["[x] 1/3 it (33%)", "[x] 2/3 it (67%)",
                                                  "[x] 3/3 it (100%)"]
