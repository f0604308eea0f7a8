import pytest
import torch

from course.config import ModelConfig
from course.model import HookedTransformer


def tiny_config(**overrides) -> ModelConfig:
    base = dict(n_layers=2, d_model=32, n_heads=4, d_head=8, d_mlp=64, d_vocab=50, n_ctx=24)
    base.update(overrides)
    return ModelConfig(**base)


@pytest.fixture
def tiny_model() -> HookedTransformer:
    torch.manual_seed(0)
    return HookedTransformer(tiny_config()).eval()


@pytest.fixture
def tokens() -> torch.Tensor:
    return torch.randint(0, 50, (3, 10), generator=torch.Generator().manual_seed(1))
