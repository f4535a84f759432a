"""The activation page is self-contained and renders in headless Chromium without errors."""

import re

import pytest

from seqkit.vis import load_run, trace_run, write_activation_page
from seqkit.vis.browser import find_chromium, page_state, render


def test_page_is_self_contained(char_run, tmp_path):
    trace = trace_run(load_run(char_run), 'a("</script>")\n')
    page = write_activation_page(trace, tmp_path / "a.html", title="t <b>")
    text = page.read_text()
    assert not re.search(r"(src|href)=|https?://|@import|url\(", text)
    assert "</script>\")" not in text and "t &lt;b&gt;" in text


@pytest.mark.skipif(find_chromium() is None,
                    reason="chromium is not installed (apt-get install -y chromium; make browser)")
def test_page_renders_in_headless_chromium(char_run, tmp_path):
    from seqkit.vis import vis_cells

    text = "int f(int a) {\n\tif (a) { return \"x\"; } /* c */\n}\n" * 4
    paths = vis_cells(char_run, text=text, out=tmp_path)
    page = [p for p in paths if p.suffix == ".html"][0]
    shot = tmp_path / "cells.png.screenshot.png"
    dom = render(page, screenshot=shot, size=(900, 600))
    assert page_state(dom) == "ok", dom[-2000:]
    assert dom.count("<span") > 100
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
