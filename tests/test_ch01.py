"""Chapter 01's open exercises on the shipped tinyworld: the digits' embeddings lie on a bent line,
and a state's nearest city is one of its own."""

import pytest

from course_model import have_shipped_model, load_model

shipped = pytest.mark.skipif(not have_shipped_model(), reason="the shipped tinyworld checkpoint is not there yet")


@pytest.fixture(scope="module")
def model():
    return load_model()


@shipped
def test_ch01_worked_answers(model):
    from solutions import ch01_tokens as sol

    line = sol.worked_digit_line(model)
    assert round(line["adjacent"], 2) == 0.78 and round(line["three or more apart"], 2) == 0.23
    along = line["along the top direction"]
    low = along.index(min(along))
    assert 4 <= low <= 5 and along[0] > 0 and along[9] > 0  # from 0 down to 4-5 and back up to 9
    assert all(a > b for a, b in zip(along[:low], along[1:low + 1]))  # falling to the bend
    neighbours = sol.worked_state_neighbours(model)
    assert neighbours["states"] == 31 and neighbours["nearest city is its own"] == 30
    assert neighbours["expected by chance"] == 1.0
