"""Chapter 01's open exercises on the shipped tinyworld: the digits' embeddings go round a circle,
and a state's nearest city is one of its own."""

import math

import pytest
import torch

from course_model import have_shipped_model, load_model

shipped = pytest.mark.skipif(not have_shipped_model(), reason="the shipped tinyworld checkpoint is not there yet")


@pytest.fixture(scope="module")
def model():
    return load_model()


@shipped
def test_ch01_worked_answers(model):
    from solutions import ch01_tokens as sol

    line = sol.worked_digit_line(model)
    assert round(line["adjacent"], 2) == 0.77 and round(line["three or more apart"], 2) == 0.20
    top, second = line["along the top direction"], line["along the second direction"]
    top = top if top[1] > 0 else [-v for v in top]  # a principal direction's sign is arbitrary
    assert top.index(max(top)) == 1 and top.index(min(top)) == 5  # from 1 down to 5 ...
    assert all(a > b for a, b in zip(top[1:5], top[2:6]))
    assert all(a < b for a, b in zip(top[5:9], top[6:10])) and top[0] < top[1]  # ... and back up to 9
    angles = torch.atan2(torch.tensor(second), torch.tensor(top))  # in the top two directions: a circle
    steps = torch.remainder(angles[torch.arange(1, 11) % 10] - angles, 2 * math.pi)  # d -> d + 1, 9 -> 0
    steps = torch.where(steps > math.pi, steps - 2 * math.pi, steps)
    assert (steps.sign() == steps[0].sign()).all() and (steps.abs() > 0.35).all()  # always the same way round
    assert abs(float(steps.sum().abs()) - 2 * math.pi) < 1e-3  # once round, 9 back next to 0
    neighbours = sol.worked_state_neighbours(model)
    assert neighbours["states"] == 31 and neighbours["nearest city is its own"] == 29
    assert neighbours["expected by chance"] == 1.0
