"""Shared helpers for the course widgets: input checks with messages that teach, arrays packed
into binary buffers (never JSON lists of numbers), and `save_html`, which writes a standalone page
that runs the widget's own ES module offline against a small stand-in for the widget model."""

from __future__ import annotations

import base64
import html
import json
import math
import pathlib
from typing import Any, Sequence

import anywidget
import numpy as np

STATIC = pathlib.Path(__file__).parent / "static"


def esm(name: str) -> str:
    """The source of widget module ``name`` with the shared helpers of ``_shared.js`` in front:
    anywidget loads a module from one string, so it cannot import a neighbouring file."""
    return (STATIC / "_shared.js").read_text(encoding="utf-8") + "\n" + (STATIC / name).read_text(encoding="utf-8")


def css(name: str) -> str:
    """The stylesheet of widget ``name`` with the shared look of ``_shared.css`` (theme colours,
    focus outlines) in front, as ``esm`` does for the modules."""
    return (STATIC / "_shared.css").read_text(encoding="utf-8") + "\n" + (STATIC / name).read_text(encoding="utf-8")


class WidgetInputError(ValueError):
    """Raised when a widget is given data it cannot show; the message says what to change."""


def to_numpy(x: Any, name: str) -> np.ndarray:
    """Accept a torch tensor, numpy array or nested list; return a float numpy array."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor, without importing torch
        x = x.detach().cpu()
        if getattr(x, "is_floating_point", lambda: True)():
            x = x.float()
        x = x.numpy()
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise WidgetInputError(
            f"{name} must be a torch tensor, numpy array or list of numbers; "
            f"got {type(x).__name__} that cannot be read as numbers ({e})."
        ) from None
    return a


def check_array(
    x: Any, name: str, dims: Sequence[str], *, hint: str = "", allow_nonfinite: bool = False
) -> np.ndarray:
    """Convert `x` and check that it has len(dims) axes and only finite values."""
    a = to_numpy(x, name)
    want = "[" + ", ".join(dims) + "]"
    if a.ndim != len(dims):
        raise WidgetInputError(
            f"{name} must have {len(dims)} dimension(s) {want}, but got shape {tuple(a.shape)} "
            f"({a.ndim} dimension(s)).{(' ' + hint) if hint else ''}"
        )
    if not allow_nonfinite and a.size and not np.isfinite(a).all():
        bad = ~np.isfinite(a)
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise WidgetInputError(
            f"{name} contains {int(np.isnan(a).sum())} NaN and {int(np.isinf(a).sum())} inf "
            f"value(s) (first at index {first} of shape {want} = {tuple(a.shape)}). "
            "Widgets can only draw finite numbers: check for a division by zero or a log of 0 "
            "upstream, or replace them with torch.nan_to_num(x) if they are expected."
        )
    return a


def check_tokens(tokens: Any, name: str = "tokens") -> list[str]:
    """Tokens must be a list of strings (one per position)."""
    if isinstance(tokens, str):
        raise WidgetInputError(
            f"{name} must be a list of strings, one per position, not a single string. "
            "Use model.to_str_tokens(text) to split a text into tokens."
        )
    try:
        out = list(tokens)
    except TypeError:
        raise WidgetInputError(
            f"{name} must be a list of strings, one per position; got {type(tokens).__name__}."
        ) from None
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise WidgetInputError(
                f"{name}[{i}] is {type(t).__name__} ({t!r}), but every token must be a string. "
                "Pass token strings (model.to_str_tokens(...)), not token ids."
            )
    return out


def check_length(tokens: list[str], n: int, what: str, shape: tuple, dims: str) -> None:
    if len(tokens) != n:
        raise WidgetInputError(
            f"tokens has {len(tokens)} entries but {what} has {n} positions "
            f"(shape {dims} = {shape}). Pass exactly one token string per position."
        )


def pack(a: np.ndarray, dtype: str = "float32") -> bytes:
    """Little-endian bytes of `a` in the given dtype (what the JS side reads with a typed array)."""
    return np.ascontiguousarray(a, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()


def unpack(b: bytes, dtype: str, shape: Sequence[int]) -> np.ndarray:
    return np.frombuffer(b, dtype=np.dtype(dtype).newbyteorder("<")).reshape(tuple(shape))


def json_for_script(obj: Any) -> str:
    """JSON that is safe inside <script type="application/json">: no '<', '>' or '&' survive."""
    s = json.dumps(obj, ensure_ascii=False, allow_nan=False)
    return (
        s.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


# The stand-in for anywidget's model on a saved page: get/set/on/off/save_changes/send over a
# saved state ({traits, buffers: {name: base64}}). Messages to Python have nowhere to go offline,
# so `send` only logs. Shared by `save_html` and the course's static site (course/site.py).
SAVED_MODEL_JS = r"""
function savedModel(saved) {
  const state = { ...saved.traits };
  for (const [k, b64] of Object.entries(saved.buffers)) {
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    state[k] = new DataView(bytes.buffer);
  }
  const listeners = new Map();
  const emit = (ev, ...args) => (listeners.get(ev) || []).slice().forEach((cb) => cb(...args));
  return {
    get: (k) => state[k],
    set: (k, v) => { state[k] = v; emit("change:" + k); emit("change"); },
    on: (ev, cb) => { for (const e of ev.split(" ")) listeners.set(e, [...(listeners.get(e) || []), cb]); },
    off: (ev, cb) => {
      for (const e of (ev ? ev.split(" ") : [...listeners.keys()])) {
        listeners.set(e, cb ? (listeners.get(e) || []).filter((f) => f !== cb) : []);
      }
    },
    save_changes: () => {},
    send: (msg) => console.info("saved page: no Python kernel to receive", msg),
    widget_manager: null,
  };
}
"""

_LOADER = SAVED_MODEL_JS + r"""
const read = (id) => JSON.parse(document.getElementById(id).textContent);
const model = savedModel(read("widget-state"));
window.__widgetModel = model;
const url = URL.createObjectURL(new Blob([read("widget-esm")], { type: "text/javascript" }));
const mod = await import(url);
const widget = mod.default;
const el = document.getElementById("widget-root");
if (widget.initialize) await widget.initialize({ model });
await widget.render({ model, el });
document.body.dataset.rendered = "1";
"""


class BaseWidget(anywidget.AnyWidget):
    """AnyWidget plus `save_html`. Subclasses set `_esm`/`_css` and their traits."""

    # ipywidgets' own bookkeeping traits that a saved page does not need
    _SKIP = {"layout", "tabbable", "tooltip", "comm", "log", "keys"}

    def _saved_state(self) -> dict:
        traits: dict[str, Any] = {}
        buffers: dict[str, str] = {}
        for name in self.keys:
            if name.startswith("_") or name in self._SKIP:
                continue
            value = getattr(self, name)
            if isinstance(value, (bytes, bytearray, memoryview)):
                buffers[name] = base64.b64encode(bytes(value)).decode("ascii")
            else:
                traits[name] = _jsonable(value)
        return {"traits": traits, "buffers": buffers}

    def save_html(self, path: str | pathlib.Path, title: str | None = None) -> pathlib.Path:
        """Write a standalone HTML page of this widget that works offline (no CDN, no kernel).

        The page shows the current state; Python-side actions (such as Generate) need a kernel.
        """
        path = pathlib.Path(path)
        title = title or type(self).__name__
        style = str(getattr(self, "_css", "") or "").replace("</", "<\\/")
        page = (
            "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title>\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<style>body{{font-family:system-ui,sans-serif;margin:16px}}\n{style}</style>\n"
            "</head><body>\n<div id=\"widget-root\"></div>\n"
            f"<script type=\"application/json\" id=\"widget-state\">"
            f"{json_for_script(self._saved_state())}</script>\n"
            f"<script type=\"application/json\" id=\"widget-esm\">"
            f"{json_for_script(str(self._esm))}</script>\n"
            f"<script type=\"module\">{_LOADER}</script>\n</body></html>\n"
        )
        path.write_text(page, encoding="utf-8")
        return path


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return v
