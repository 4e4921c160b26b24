"""Render a report in headless Chromium: check every image loads, collect console errors,
and take a screenshot. Used by the report test and by the README screenshot.

No extra Python dependency: a copy of the page gets a small probe script that records
``console.error`` calls, uncaught errors and broken images into the DOM, which
``chromium --dump-dom`` prints.
"""

from __future__ import annotations

import html as html_lib
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

_PROBE = """<script>
window.__errs = [];
(function () {
  const orig = console.error;
  console.error = function (...a) { window.__errs.push(a.join(' ')); orig.apply(console, a); };
  window.addEventListener('error', e => window.__errs.push('uncaught: ' + (e.message || e.target && e.target.src || '?')), true);
  window.addEventListener('load', () => {
    const imgs = Array.from(document.images);
    const bad = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt || i.src.slice(0, 60));
    const external = Array.from(document.querySelectorAll('[src],[href]'))
      .map(e => e.getAttribute('src') || e.getAttribute('href'))
      .filter(u => /^(https?:)?\\/\\//.test(u));
    const pre = document.createElement('pre');
    pre.id = '__probe';
    pre.textContent = 'PROBE' + JSON.stringify({images: imgs.length, broken: bad, external: external, errors: window.__errs}) + 'EBORP';
    document.body.appendChild(pre);
  });
})();
</script>"""

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
]


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def check_page(html: str | os.PathLike[str], screenshot: str | os.PathLike[str] | None = None,
               width: int = 1200, height: int = 2400, timeout: float = 120.0) -> dict[str, Any]:
    """Load ``html`` in headless Chromium.

    Returns:
        ``{"images": n, "broken": [...], "external": [...], "errors": [...]}`` where
        ``errors`` holds console errors and uncaught exceptions of the page.
    """
    exe = find_chromium()
    if exe is None:
        raise FileNotFoundError("chromium not found (Debian package: chromium)")
    page = Path(html).read_text()
    probed = page.replace("<head>", "<head>" + _PROBE, 1) if "<head>" in page else _PROBE + page
    with tempfile.TemporaryDirectory() as tmp:
        probe_file = Path(tmp) / "probe.html"
        probe_file.write_text(probed)
        base = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={tmp}/profile", f"--window-size={width},{height}"]
        dom = subprocess.run([*base, "--virtual-time-budget=5000", "--dump-dom", probe_file.as_uri()],
                             capture_output=True, text=True, timeout=timeout)
        m = re.search(r'<pre id="__probe">PROBE(.*?)EBORP</pre>', dom.stdout, re.S)
        if m is None:
            raise RuntimeError(f"chromium printed no probe result (exit {dom.returncode}): {dom.stderr[-500:]}")
        result: dict[str, Any] = json.loads(html_lib.unescape(m.group(1)))
        if screenshot is not None:
            shot = Path(screenshot).resolve()
            shot.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([*base, f"--screenshot={shot}", Path(html).resolve().as_uri()],
                           capture_output=True, text=True, timeout=timeout, check=True)
    return result
