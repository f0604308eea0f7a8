"""The KV cache: keys and values of positions already processed, kept so decoding is cheap.

During decode each new token needs the keys and values of every earlier position; they do not
change, so we store them once (prefill) and append one position per step instead of recomputing
the whole sequence. Buffers are allocated once at full context length and written in place.
"""

from __future__ import annotations

import torch


class KVCache:
    def __init__(self, n_layers: int, batch: int, n_heads: int, n_ctx: int, d_head: int,
                 dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"):
        shape = (batch, n_heads, n_ctx, d_head)  # [batch kv_head_index pos d_head]
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layers)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layers)]
        self.n_ctx = n_ctx
        self.length = 0  # positions filled so far, shared by all layers

    @classmethod
    def for_model(cls, model, batch: int) -> "KVCache":
        cfg = model.cfg
        param = next(model.parameters())
        # grouped-query attention caches only its key/value heads: the point of having fewer
        return cls(cfg.n_layers, batch, cfg.n_key_value_heads, cfg.n_ctx, cfg.d_head, param.dtype, param.device)

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store ``k, v`` (``[batch head_index new_pos d_head]``) after the cached positions and
        return the keys and values of all positions so far. ``advance`` must be called once per step."""
        start, end = self.length, self.length + k.shape[2]
        if end > self.n_ctx:
            raise ValueError(f"KV cache is full: {end} positions needed, room for {self.n_ctx}")
        self.keys[layer][:, :, start:end] = k
        self.values[layer][:, :, start:end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def advance(self, n_new: int) -> None:
        self.length += n_new

    @property
    def n_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.keys + self.values)
