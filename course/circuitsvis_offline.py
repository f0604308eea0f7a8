"""circuitsvis views that work offline and cannot be broken by a token's text.

circuitsvis (the ecosystem's standard attention viewer) has two ways to make its HTML, and both
are a problem in a classroom without internet: ``str(view)`` imports its code from a CDN, and
``view._repr_html_()`` first tries to open a public web site to decide which to use (and, when a
``react`` folder happens to sit four levels above the package, runs ``yarn``). Its inline version
also writes the props (token strings included) into a ``<script>`` unescaped, so a token such as
``</script><img src=x onerror=...>`` ends the script and runs as HTML.

Here the page is built directly from the JavaScript bundle shipped inside the circuitsvis
package (``dist/cdn/iife.js``), with the props JSON-encoded and then made safe for a script:
``<``, ``>``, ``&`` and the two JavaScript line separators become ``\\uXXXX`` escapes, which JSON
and JavaScript read back as the same characters. Nothing here touches the network.
"""

from __future__ import annotations

import functools
import json
import uuid
from pathlib import Path
from typing import Any, Optional, Sequence

_SCRIPT_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _to_jsonable(x: Any) -> Any:
    if hasattr(x, "detach"):  # torch.Tensor
        x = x.detach().cpu().float().numpy()
    if hasattr(x, "tolist"):  # numpy array; 4 decimals is plenty for a colour and keeps the page small
        import numpy as np

        return np.round(x, 4).tolist() if np.issubdtype(x.dtype, np.floating) else x.tolist()
    if isinstance(x, (list, tuple)):
        return [_to_jsonable(v) for v in x]
    return x


def script_safe_json(obj: Any) -> str:
    """JSON that can sit inside ``<script>...</script>``: no character of it can end the script,
    open a comment or start an HTML entity."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False)
    return "".join(_SCRIPT_ESCAPES.get(ch, ch) for ch in text)


def bundle_path() -> Path:
    """The circuitsvis JavaScript bundle inside the installed package (found without importing
    circuitsvis's render module)."""
    import importlib.util

    spec = importlib.util.find_spec("circuitsvis")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("circuitsvis is not installed, but the course depends on it: pip install -e . again, "
                          "or pip install 'circuitsvis>=1.43,<2'")
    path = Path(list(spec.submodule_search_locations)[0]) / "dist" / "cdn" / "iife.js"
    if not path.exists():
        raise FileNotFoundError(f"circuitsvis's bundle is missing at {path}")
    return path


@functools.lru_cache(maxsize=1)
def _bundle() -> str:
    js = bundle_path().read_text(encoding="utf-8")
    # The bundle must not contain a closing tag of the script it sits in; inside a JS string "<\/"
    # is the same as "</". (circuitsvis deletes "</script>" instead, which changes the code.)
    return js.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")


class OfflineHTML:
    """A rendered view: shows itself in Jupyter, ``str()`` and ``.html`` give the page fragment,
    ``save(path)`` writes a standalone page."""

    def __init__(self, html: str, component: str, props: dict):
        self.html = html
        self.component = component
        self.props = props

    def _repr_html_(self) -> str:
        return self.html

    def __html__(self) -> str:
        return self.html

    def __str__(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"<circuitsvis {self.component} view, offline, {len(self.html) / 1e6:.1f} MB of HTML>"

    def save(self, path) -> Path:
        path = Path(path)
        path.write_text(f"<!doctype html>\n<html><head><meta charset='utf-8'></head><body>\n{self.html}\n</body></html>\n",
                        encoding="utf-8")
        return path


def render(component: str, **props: Any) -> OfflineHTML:
    """Any circuitsvis component (``"AttentionHeads"``, ``"AttentionPatterns"``, ``"ColoredTokens"``...)
    with the given props (camelCase, as circuitsvis's React components take them; None is left out)."""
    if not component.isidentifier():
        raise ValueError(f"component must be a circuitsvis component name, got {component!r}")
    clean = {k: _to_jsonable(v) for k, v in props.items() if v is not None}
    element_id = "circuits-vis-" + uuid.uuid4().hex[:12]
    html = (f'<div id="{element_id}" style="margin: 15px 0;"></div>\n'
            f'<script type="module">\n{_bundle()}\n'
            f'CircuitsVis.render("{element_id}", CircuitsVis.{component}, {script_safe_json(clean)});\n'
            f"</script>")
    return OfflineHTML(html, component, clean)


def _check(tokens: Sequence[str], attention) -> tuple[list[str], Any]:
    tokens = [str(t) for t in tokens]
    attention = _to_jsonable(attention)
    return tokens, attention


def attention_heads(attention, tokens: Sequence[str], attention_head_names: Optional[Sequence[str]] = None,
                    max_value: Optional[float] = None, min_value: Optional[float] = None,
                    mask_upper_tri: Optional[bool] = None) -> OfflineHTML:
    """``circuitsvis.attention.attention_heads``, offline: attention ``[heads dest src]``."""
    tokens, attention = _check(tokens, attention)
    return render("AttentionHeads", attention=attention, tokens=tokens,
                  attentionHeadNames=list(attention_head_names) if attention_head_names is not None else None,
                  maxValue=max_value, minValue=min_value, maskUpperTri=mask_upper_tri)


def attention_patterns(tokens: Sequence[str], attention) -> OfflineHTML:
    """``circuitsvis.attention.attention_patterns``, offline: attention ``[heads dest src]``."""
    tokens, attention = _check(tokens, attention)
    return render("AttentionPatterns", tokens=tokens, attention=attention)
