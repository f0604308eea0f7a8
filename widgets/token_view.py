"""TokenView: a text's tokens coloured by one number each (loss, an activation, a probability),
with the value and, when given, the model's top-k next-token predictions on hover."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import traitlets as t

from ._base import BaseWidget, WidgetInputError, check_array, check_length, check_tokens, css, esm, pack


class TokenView(BaseWidget):
    _esm = esm("token_view.js")
    _css = css("token_view.css")

    tokens = t.List(t.Unicode(), help="Token strings, one per position.").tag(sync=True)
    values = t.Bytes(help="One float32 value per token (little-endian bytes).").tag(sync=True)
    cmap = t.Enum(["sequential", "diverging"], "sequential",
                  help="'sequential': white to blue from vmin to vmax; 'diverging': red below 0, blue above.").tag(sync=True)
    vmin = t.Float(0.0, help="Value drawn palest (sequential) / most red (diverging).").tag(sync=True)
    vmax = t.Float(1.0, help="Value drawn darkest blue.").tag(sync=True)
    value_label = t.Unicode("value", help="What the values are, shown in the legend and on hover.").tag(sync=True)
    top_k = t.List(help="Per position, a list of [token_str, prob] predictions (or [] for none).").tag(sync=True)
    hovered_token = t.Int(-1, help="Position last hovered in the browser (-1: none yet).").tag(sync=True)

    def __init__(
        self,
        tokens: Sequence[str],
        values: Any,
        cmap: str = "sequential",
        top_k: Sequence[Sequence[tuple[str, float]]] | None = None,
        *,
        value_label: str = "value",
        vmin: float | None = None,
        vmax: float | None = None,
    ) -> None:
        tokens = check_tokens(tokens)
        v = check_array(values, "values", ["pos"],
                        hint="For a batch of one, pass values[0]; for per-head values, pick one head.")
        check_length(tokens, v.shape[0], "values", tuple(v.shape), "[pos]")
        if cmap not in ("sequential", "diverging"):
            raise WidgetInputError(f"cmap must be 'sequential' or 'diverging'; got {cmap!r}.")
        top = [] if top_k is None else _check_top_k(top_k, len(tokens))
        if cmap == "diverging":
            m = float(np.abs(v).max()) if v.size else 1.0
            lo, hi = -(m or 1.0), (m or 1.0)
        else:
            lo = float(v.min()) if v.size else 0.0
            hi = float(v.max()) if v.size else 1.0
        super().__init__(
            tokens=tokens, values=pack(v, "float32"), cmap=cmap, top_k=top, value_label=value_label,
            vmin=lo if vmin is None else float(vmin), vmax=hi if vmax is None else float(vmax),
        )

    def value_array(self) -> np.ndarray:
        return np.frombuffer(self.values, dtype="<f4")


def _check_top_k(top_k: Any, n: int) -> list:
    top = list(top_k)
    if len(top) != n:
        raise WidgetInputError(
            f"top_k has {len(top)} entries but there are {n} tokens. Give one list of "
            "(token_str, prob) pairs per position (an empty list where there is none)."
        )
    out = []
    for i, preds in enumerate(top):
        row = []
        for j, pair in enumerate(preds):
            try:
                tok, p = pair
            except (TypeError, ValueError):
                raise WidgetInputError(
                    f"top_k[{i}][{j}] must be a (token_str, prob) pair; got {pair!r}.") from None
            if not isinstance(tok, str):
                raise WidgetInputError(f"top_k[{i}][{j}][0] must be a token string; got {type(tok).__name__}.")
            p = float(p)
            if not (0.0 <= p <= 1.0):
                raise WidgetInputError(
                    f"top_k[{i}][{j}] has probability {p}, outside [0, 1]. Pass softmax "
                    "probabilities, not logits.")
            row.append([tok, p])
        out.append(row)
    return out
