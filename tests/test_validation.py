import pytest
import torch

from course.validation import TokenError


def test_out_of_range_ids_say_the_range(tiny_model):
    with pytest.raises(TokenError, match=r"token id 50 is out of range.*0 to 49"):
        tiny_model(torch.tensor([[1, 2, 50]]))
    with pytest.raises(TokenError, match=r"token id -1"):
        tiny_model(torch.tensor([[1, -1]]))


def test_too_long_says_the_limit(tiny_model):
    with pytest.raises(TokenError, match="longer than the context window of 24"):
        tiny_model(torch.zeros(1, 25, dtype=torch.long))


def test_float_tokens_and_wrong_dims(tiny_model):
    with pytest.raises(TokenError, match="integer ids, got dtype torch.float32"):
        tiny_model(torch.zeros(1, 5))
    with pytest.raises(TokenError, match=r"shape \[batch, pos\].*3 dimensions"):
        tiny_model(torch.zeros(1, 2, 5, dtype=torch.long))
    with pytest.raises(TokenError, match="empty"):
        tiny_model(torch.zeros(1, 0, dtype=torch.long))
    with pytest.raises(TokenError, match="to_tokens"):
        tiny_model("hello")


def test_lists_of_ints_are_accepted(tiny_model):
    torch.testing.assert_close(tiny_model([[1, 2, 3]]), tiny_model(torch.tensor([[1, 2, 3]])))
