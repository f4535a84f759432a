"""Opening the HTML pages in headless Chromium: the rendered DOM and a screenshot.

Debian's ``chromium`` (``apt-get install -y chromium``, or ``make browser``) is run with
networking, sync and updates off and a throw-away profile. A page written by
``seqkit.vis.html`` sets ``data-state="ok"`` on ``#status`` once its script has run
without error; ``page_state`` reads it back from the dumped DOM.

Example:
    >>> dom = render("runs/char_rnn/vis/activations.html", screenshot="shot.png")
    >>> page_state(dom)
    'ok'
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars")


def find_chromium():
    """The path of a Chromium binary, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(args, timeout):
    binary = find_chromium()
    if binary is None:
        raise RuntimeError("No chromium found: install it with `apt-get install -y chromium` "
                           "(or `make browser`).")
    with tempfile.TemporaryDirectory(prefix="seqkit-chromium-") as profile:
        return subprocess.run([binary, *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout)


def render(page, screenshot=None, size=(1200, 900), timeout=120):
    """The DOM of ``page`` after its scripts ran; also a PNG screenshot if asked.

    Args:
        page: Path of an HTML file.
        screenshot: PNG path to write, or None.
        size: Window ``(width, height)`` of the screenshot.
        timeout: Seconds allowed per browser run.
    """
    url = Path(page).resolve().as_uri()
    dom = _run(["--dump-dom", url], timeout).stdout
    if screenshot is not None:
        result = _run([f"--screenshot={Path(screenshot).resolve()}",
                       f"--window-size={size[0]},{size[1]}", url], timeout)
        if not Path(screenshot).is_file():
            raise RuntimeError(f"chromium wrote no screenshot ({result.stderr[-500:]}).")
    return dom


def page_state(dom):
    """``data-state`` of ``#status`` in a dumped DOM (``"ok"``, ``"error"``, ``"loading"``),
    or None when the page has no status element."""
    match = re.search(r'<div id="status" data-state="([a-z]+)"', dom)
    return match.group(1) if match else None
