"""Hook points: named places in the forward pass where an activation can be read or replaced.

A ``HookPoint`` is an identity module. Because it is a module, its name is its path in the model
(``blocks.0.attn.hook_pattern``) and PyTorch's own forward hooks do the work; this file adds a
registry of names, a context manager that always removes what it added, and caching.
The design follows TransformerLens (Nanda & Bloom, 2022), kept small enough to read in one sitting.
"""

from __future__ import annotations

import contextlib
import difflib
from typing import Callable, Iterable, Optional, Union

import torch
from torch import nn

# A hook function receives the activation and the HookPoint; it returns None (read only)
# or a tensor of the same shape, which replaces the activation downstream.
HookFn = Callable[[torch.Tensor, "HookPoint"], Optional[torch.Tensor]]
NameOrFilter = Union[str, Callable[[str], bool]]


class HookError(ValueError):
    """A hook was named wrongly or returned something that cannot replace the activation."""


class HookPoint(nn.Module):
    """Identity on the forward pass; a named place to attach hooks."""

    def __init__(self, shape: str = ""):
        super().__init__()
        self.name: str = ""  # filled in by HookedRootModule.setup_hooks
        self.shape = shape  # documentation of the activation's dimensions, e.g. "batch pos d_model"

    @property
    def has_hooks(self) -> bool:
        # Read by fast paths: a layer may use a fused kernel when nobody is watching its insides.
        return bool(self._forward_hooks)

    def add_hook(self, fn: HookFn) -> torch.utils.hooks.RemovableHandle:
        def forward_hook(module, inputs, output):
            result = fn(output, self)
            if result is None:
                return None
            if not isinstance(result, torch.Tensor):
                raise HookError(
                    f"hook {getattr(fn, '__name__', fn)!r} on {self.name} returned {type(result).__name__}; "
                    "return None to only read the activation, or a tensor of the same shape to replace it"
                )
            if result.shape != output.shape:
                raise HookError(
                    f"hook {getattr(fn, '__name__', fn)!r} on {self.name} returned shape {tuple(result.shape)}, "
                    f"but the activation has shape {tuple(output.shape)} [{self.shape}]; "
                    "a hook that replaces an activation must keep its shape"
                )
            return result

        return self.register_forward_hook(forward_hook)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def extra_repr(self) -> str:
        return f"{self.name!r} [{self.shape}]"


class HookedRootModule(nn.Module):
    """Mixin for a model whose activations pass through HookPoints."""

    def setup_hooks(self) -> None:
        """Name every HookPoint after its module path. Call at the end of ``__init__``."""
        self.hook_dict: dict[str, HookPoint] = {}
        for name, module in self.named_modules():
            if isinstance(module, HookPoint):
                module.name = name
                self.hook_dict[name] = module

    @property
    def hook_names(self) -> list[str]:
        return list(self.hook_dict)

    def resolve_hook_names(self, name_or_filter: NameOrFilter) -> list[str]:
        """Turn a hook name, or a predicate over names, into the list of names it selects."""
        if isinstance(name_or_filter, str):
            if name_or_filter not in self.hook_dict:
                close = difflib.get_close_matches(name_or_filter, self.hook_names, n=3, cutoff=0.5)
                hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
                raise HookError(
                    f"no hook point named {name_or_filter!r}.{hint} "
                    f"All names are in model.hook_names ({len(self.hook_dict)} of them)."
                )
            return [name_or_filter]
        if callable(name_or_filter):
            return [name for name in self.hook_dict if name_or_filter(name)]
        raise HookError(f"a hook must be named by a string or a filter function, got {type(name_or_filter).__name__}")

    @contextlib.contextmanager
    def hooks(self, fwd_hooks: Iterable[tuple[NameOrFilter, HookFn]] = ()):
        """Attach hooks for the duration of a ``with`` block; they are removed even on error."""
        handles = []
        try:
            for name_or_filter, fn in fwd_hooks:
                for name in self.resolve_hook_names(name_or_filter):
                    handles.append(self.hook_dict[name].add_hook(fn))
            yield self
        finally:
            for handle in handles:
                handle.remove()

    def reset_hooks(self) -> None:
        """Remove every hook on every HookPoint (for hooks added by hand with ``add_hook``)."""
        for hook_point in self.hook_dict.values():
            hook_point._forward_hooks.clear()

    def run_with_hooks(self, *args, fwd_hooks: Iterable[tuple[NameOrFilter, HookFn]] = (), **kwargs):
        """Run the forward pass with temporary hooks and return its output."""
        with self.hooks(fwd_hooks):
            return self(*args, **kwargs)

    def run_with_cache(self, *args, names_filter: Optional[NameOrFilter] = None, detach: bool = True, **kwargs):
        """Run the forward pass and return ``(output, cache)``, the cache mapping hook names to activations."""
        from course.cache import ActivationCache  # cache.py imports nothing from here; avoids a cycle at import

        if names_filter is None:
            names = self.hook_names
        elif isinstance(names_filter, (list, tuple)):
            names = [n for item in names_filter for n in self.resolve_hook_names(item)]
        else:
            names = self.resolve_hook_names(names_filter)
        store: dict[str, torch.Tensor] = {}

        def save(activation: torch.Tensor, hook: HookPoint) -> None:
            store[hook.name] = activation.detach() if detach else activation

        with self.hooks([(name, save) for name in names]):
            output = self(*args, **kwargs)
        return output, ActivationCache(store, self)  # filled in the order the forward pass ran
