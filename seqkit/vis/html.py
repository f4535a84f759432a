"""A self-contained HTML page: any unit's activation coloured token by token over a text.

The page needs nothing from the network: data (int8 activations, base64) and script are
inline. A picker selects the layer/signal and unit (or one of the ranked units); the
colour runs from red (−1) through white (0) to blue (+1), as in Karpathy, Johnson &
Fei-Fei 2015. When its script has run without error, the page sets
``data-state="ok"`` on ``#status`` (the headless-browser test looks for it).

Example:
    >>> write_activation_page(trace, "vis/activations.html", ranked=[("in_quotes", entry)])
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np

_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
#controls { margin-bottom: 1em; display: flex; gap: 1em; flex-wrap: wrap; align-items: center; }
#text { font-family: monospace; white-space: pre-wrap; line-height: 1.5; font-size: 14px;
        border: 1px solid #ccc; padding: 0.8em; }
#text span { border-radius: 2px; }
#legend { display: inline-block; width: 160px; height: 12px; vertical-align: middle;
          background: linear-gradient(to right, rgb(230,40,40), white, rgb(40,90,230)); }
#status { color: #888; font-size: 12px; margin-top: 0.8em; }
"""

_SCRIPT = r"""
(function () {
  var status = document.getElementById('status');
  window.onerror = function (message) {
    status.textContent = 'error: ' + message; status.setAttribute('data-state', 'error');
  };
  var data = JSON.parse(document.getElementById('data').textContent);
  var tracks = data.tracks.map(function (track) {
    var raw = atob(track.values), values = new Int8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { values[i] = (raw.charCodeAt(i) << 24) >> 24; }
    return {label: track.label, units: track.units, values: values};
  });
  var text = document.getElementById('text');
  var spans = data.tokens.map(function (token, i) {
    var span = document.createElement('span');
    span.textContent = token;
    text.appendChild(span);
    if (data.separator && i + 1 < data.tokens.length) {
      text.appendChild(document.createTextNode(data.separator));
    }
    return span;
  });
  var signal = document.getElementById('signal'), unit = document.getElementById('unit');
  var best = document.getElementById('best'), label = document.getElementById('label');
  tracks.forEach(function (track, k) {
    var option = document.createElement('option');
    option.value = k; option.textContent = track.label + ' (' + track.units + ' units)';
    signal.appendChild(option);
  });
  data.ranked.forEach(function (entry, k) {
    var option = document.createElement('option');
    option.value = k; option.textContent = entry.label;
    best.appendChild(option);
  });
  function colour(v) {
    var a = Math.min(1, Math.abs(v));
    var r = v < 0 ? 255 : Math.round(255 - a * 215), b = v < 0 ? Math.round(255 - a * 215) : 255;
    var g = Math.round(255 - a * (v < 0 ? 215 : 165));
    return 'rgb(' + r + ',' + g + ',' + b + ')';
  }
  function show() {
    var track = tracks[+signal.value];
    var u = Math.max(0, Math.min(track.units - 1, parseInt(unit.value || '0', 10)));
    unit.max = track.units - 1; unit.value = u;
    for (var t = 0; t < spans.length; t++) {
      var v = track.values[t * track.units + u] / 127;
      spans[t].style.backgroundColor = colour(v);
      spans[t].title = 'step ' + t + ': ' + v.toFixed(3);
    }
    label.textContent = track.label + ', unit ' + u;
  }
  signal.onchange = show; unit.oninput = show;
  best.onchange = function () {
    var entry = data.ranked[+best.value];
    if (entry) { signal.value = entry.track; unit.value = entry.unit; show(); }
  };
  document.getElementById('prev').onclick = function () { unit.value = +unit.value - 1; show(); };
  document.getElementById('next').onclick = function () { unit.value = +unit.value + 1; show(); };
  if (data.ranked.length) { best.value = 0; best.onchange(); } else { show(); }
  status.textContent = 'rendered ' + spans.length + ' tokens, ' + tracks.length + ' signals';
  status.setAttribute('data-state', 'ok');
})();
"""


def _track(values):
    quantised = np.clip(np.round(np.asarray(values, np.float64) * 127), -127, 127)
    return base64.b64encode(quantised.astype(np.int8).tobytes()).decode("ascii")


def activation_page(trace, ranked=(), title="Activations", separator=None, kinds=None):
    """The HTML text of the page (see the module docstring).

    Args:
        trace: A ``seqkit.vis.Trace``.
        ranked: ``[(feature name, {"layer", "signal", "unit", "r"})]``: units offered in
            the "best units" picker (e.g. ``best_units(ranking)``).
        title: Page title.
        separator: Shown between tokens (default: ``""`` for characters, ``" "`` for words).
        kinds: Signals per layer (default: each layer's cell signal, ``tanh(c)`` or ``h``).

    Returns:
        The page as a string.
    """
    tracks, index = [], {}
    for (layer, kind), values in trace.signals(kinds).items():
        index[(layer, kind)] = len(tracks)
        tracks.append({"label": f"layer {layer} {kind}", "units": int(values.shape[1]),
                       "values": _track(values)})
    entries = []
    for name, entry in ranked:
        key = (entry["layer"], entry["signal"])
        if key in index:
            entries.append({"label": f"{name}: layer {entry['layer']} unit {entry['unit']} "
                                     f"(r = {entry['r']:+.2f})",
                            "track": index[key], "unit": int(entry["unit"])})
    if separator is None:
        separator = "" if all(len(t) <= 1 for t in trace.tokens) else " "
    data = {"tokens": list(trace.tokens), "separator": separator, "tracks": tracks,
            "ranked": entries}
    payload = json.dumps(data, ensure_ascii=True).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_STYLE}</style></head>
<body>
<h2>{html.escape(title)}</h2>
<div id="controls">
  <label>signal <select id="signal"></select></label>
  <label>unit <input id="unit" type="number" min="0" value="0" style="width:5em"></label>
  <button id="prev">&larr;</button><button id="next">&rarr;</button>
  <label>best units <select id="best"></select></label>
  <span><span id="legend"></span> &minus;1 &hellip; +1</span>
</div>
<div id="label"></div>
<div id="text"></div>
<div id="status" data-state="loading">loading</div>
<script type="application/json" id="data">{payload}</script>
<script>{_SCRIPT}</script>
</body></html>
"""


def write_activation_page(trace, path, ranked=(), title="Activations", **kwargs):
    """Writes ``activation_page(...)`` to ``path``; returns the path."""
    path = Path(path)
    path.write_text(activation_page(trace, ranked, title=title, **kwargs), encoding="utf-8")
    return path
