"""FeatureSteering: add `strength * unit_direction` to the residual stream after one block
(`blocks.{layer}.hook_resid_post`, every position, with `course.steering.steering_hook`) and
compare the model's continuations with and without it, streamed token by token, with each token
coloured by how much the residual stream points along the direction (activation = resid . unit
direction, measured without steering)."""

from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple, Union

import numpy as np
import traitlets as t

from ._base import BaseWidget, WidgetInputError, css, esm, pack, to_numpy

Directions = Union[Mapping[str, Any], Callable[[int], Mapping[str, Any]]]


def resid_post(layer: int) -> str:
    """The hook of the residual stream after block ``layer``, where the widget steers."""
    return f"blocks.{layer}.hook_resid_post"


class SteeringResult(NamedTuple):
    unsteered: str  # continuation text without steering
    steered: str  # continuation text with steering
    unsteered_tokens: list[str]
    steered_tokens: list[str]
    unsteered_acts: np.ndarray  # [prompt + continuation] activation of the direction
    steered_acts: np.ndarray


class FeatureSteering(BaseWidget):
    _esm = esm("feature_steering.js")
    _css = css("feature_steering.css")

    prompt = t.Unicode("", help="Text the continuations start from.").tag(sync=True)
    direction_names = t.List(t.Unicode(), help="Names of the directions to choose from.").tag(sync=True)
    direction = t.Unicode("", help="Name of the chosen direction.").tag(sync=True)
    layer = t.Int(0, help="Block after which the direction is added (hook_resid_post).").tag(sync=True)
    n_layers = t.Int(1, help="Number of blocks of the model (layer choices).").tag(sync=True)
    strength = t.Float(0.0, help="Multiple of the unit direction added at every position.").tag(sync=True)
    max_strength = t.Float(20.0, help="Range of the strength slider (-max..max).").tag(sync=True)
    temperature = t.Float(0.0, help="Sampling temperature; 0 is greedy.").tag(sync=True)
    n_tokens = t.Int(20, help="Tokens to generate per continuation.").tag(sync=True)
    seed = t.Int(0, help="Seed for sampling (the same for both continuations).").tag(sync=True)
    prompt_tokens = t.List(t.Unicode(), help="The prompt's tokens.").tag(sync=True)
    unsteered_tokens = t.List(t.Unicode(), help="Generated tokens without steering.").tag(sync=True)
    steered_tokens = t.List(t.Unicode(), help="Generated tokens with steering.").tag(sync=True)
    unsteered_acts = t.Bytes(b"", help="float32 bytes: activation per token (prompt + unsteered).").tag(sync=True)
    steered_acts = t.Bytes(b"", help="float32 bytes: activation per token (prompt + steered).").tag(sync=True)
    status = t.Unicode("idle", help="'idle', 'generating', 'done' or an error message.").tag(sync=True)

    def __init__(self, model: Any, directions: Directions, layer: int = 0, strength: float = 0.0,
                 temperature: float = 0.0, prompt: str = "", *, n_tokens: int = 20,
                 max_strength: float | None = None, hook_name: str | None = None) -> None:
        """``hook_name`` (e.g. an SAE's ``cfg.hook_name``) names the block instead of ``layer``."""
        self._model = model
        self._directions_source = directions
        n_layers = int(model.cfg.n_layers)
        if hook_name is not None:
            hooks = [resid_post(i) for i in range(n_layers)]
            if hook_name not in hooks:
                raise WidgetInputError(f"hook_name must be one of {hooks} (the residual stream after a block); "
                                       f"got {hook_name!r}.")
            layer = hooks.index(hook_name)
        self._check_layer(layer, n_layers)
        dirs = self._load_directions(layer)
        names = list(dirs)
        super().__init__(
            prompt=prompt, direction_names=names, direction=names[0], layer=layer, n_layers=n_layers,
            strength=float(strength), temperature=float(temperature), n_tokens=int(n_tokens),
            max_strength=float(max_strength if max_strength is not None else max(20.0, 2 * abs(strength))),
        )
        self._dirs = dirs
        self.on_msg(self._on_msg)

    # -- checks -------------------------------------------------------------------------------
    @staticmethod
    def _check_layer(layer: int, n_layers: int) -> None:
        if not 0 <= int(layer) < n_layers:
            raise WidgetInputError(f"layer must be in 0..{n_layers - 1} (the model has {n_layers} blocks); got {layer}.")

    def _load_directions(self, layer: int) -> dict[str, np.ndarray]:
        src = self._directions_source
        dirs = src(layer) if callable(src) else src
        if not isinstance(dirs, Mapping) or not dirs:
            raise WidgetInputError(
                "directions must be a non-empty dict {name: vector [d_model]} or a function "
                f"layer -> such a dict; got {type(dirs).__name__}.")
        d_model = getattr(self._model.cfg, "d_model", None)
        out = {}
        for name, v in dirs.items():
            a = to_numpy(v, f"directions[{name!r}]").astype(np.float32)
            if a.ndim != 1 or (d_model is not None and a.shape[0] != d_model):
                raise WidgetInputError(
                    f"directions[{name!r}] must be a vector of shape [d_model] = [{d_model}]; got "
                    f"shape {tuple(a.shape)}. For an SAE feature use its decoder row W_dec[i].")
            norm = float(np.linalg.norm(a))
            if not np.isfinite(a).all() or norm == 0:
                raise WidgetInputError(
                    f"directions[{name!r}] has norm {norm}; a direction must be finite and non-zero.")
            out[str(name)] = a / norm
        return out

    @t.observe("layer")
    def _layer_changed(self, change):
        self._check_layer(change["new"], self.n_layers)
        if callable(self._directions_source):
            self._dirs = self._load_directions(change["new"])
            names = list(self._dirs)
            self.direction_names = names
            if self.direction not in names:
                self.direction = names[0]

    def _on_msg(self, _widget, content, _buffers):
        if isinstance(content, dict) and content.get("type") == "generate":
            try:
                self.generate()
            except Exception as e:  # show it in the widget instead of losing it in the log
                self.status = f"error: {type(e).__name__}: {e}"

    # -- steering -----------------------------------------------------------------------------
    def _unit(self):
        import torch

        if self.direction not in self._dirs:
            raise WidgetInputError(f"unknown direction {self.direction!r}; choose one of {list(self._dirs)}.")
        return torch.from_numpy(self._dirs[self.direction])

    @property
    def hook_name(self) -> str:
        return resid_post(self.layer)

    def steering_hook(self):
        """(hook name, fn) adding strength * the chosen unit direction at every position."""
        from course.steering import steering_hook

        return steering_hook(self.hook_name, self._unit(), self.strength)

    def activations(self, ids) -> np.ndarray:
        """resid_post[layer] . unit direction for every token of ids [1, pos], without steering."""
        import torch

        hook = self.hook_name
        with torch.no_grad():
            _, cache = self._model.run_with_cache(ids, names_filter=hook)
            return (cache[hook][0].float() @ self._unit()).numpy()

    def _str(self, token_id: int) -> str:
        import torch

        return str(self._model.to_str_tokens(torch.tensor([int(token_id)]))[0])

    def generate(self, prompt: str | None = None, n_tokens: int | None = None) -> SteeringResult:
        """Generate both continuations, updating the widget after every token (streaming)."""
        import torch

        prompt = self.prompt if prompt is None else prompt
        n = self.n_tokens if n_tokens is None else int(n_tokens)
        m = self._model
        ids = m.to_tokens(prompt)
        self.status = "generating"
        with self.hold_sync():
            self.prompt_tokens = [str(s) for s in m.to_str_tokens(ids[0])]
            self.unsteered_tokens, self.steered_tokens = [], []
            self.unsteered_acts = self.steered_acts = b""
        kw = dict(temperature=self.temperature, seed=self.seed)
        plain = m.generate_stream(ids, n, **kw)
        steered = m.generate_stream(ids, n, **kw)
        hook = self.steering_hook()
        un_ids: list[int] = []
        st_ids: list[int] = []
        with torch.no_grad():
            for _ in range(n):
                a = next(plain, None)
                with m.hooks(fwd_hooks=[hook]):  # only while the steered stream takes its step
                    b = next(steered, None)
                if a is None and b is None:
                    break
                with self.hold_sync():
                    if a is not None:
                        un_ids.append(int(a))
                        self.unsteered_tokens = [*self.unsteered_tokens, self._str(a)]
                    if b is not None:
                        st_ids.append(int(b))
                        self.steered_tokens = [*self.steered_tokens, self._str(b)]
        full_un = torch.cat([ids, torch.tensor([un_ids], dtype=ids.dtype)], 1)
        full_st = torch.cat([ids, torch.tensor([st_ids], dtype=ids.dtype)], 1)
        acts_un, acts_st = self.activations(full_un), self.activations(full_st)
        with self.hold_sync():
            self.unsteered_acts, self.steered_acts = pack(acts_un), pack(acts_st)
            self.status = "done"
        return SteeringResult(m.to_string(un_ids), m.to_string(st_ids), list(self.unsteered_tokens),
                              list(self.steered_tokens), acts_un, acts_st)

    def steer(self, prompt: str, n_tokens: int = 20) -> SteeringResult:
        """Both continuations of `prompt` (unsteered, steered) with the current settings."""
        self.prompt = prompt
        return self.generate(prompt, n_tokens)
