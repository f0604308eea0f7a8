"""Chapter 09: the toy model of superposition, its geometry helpers, the arrangement classifier,
the phase diagram's claims, the widget's Python side, and the exercises' references."""

import math

import numpy as np
import pytest
import torch

from course import superposition as sp
from solutions import ch09_superposition as sol


def polygon(k: int, radius: float = 1.0, phase: float = 0.3) -> torch.Tensor:
    a = torch.arange(k) * 2 * math.pi / k + phase
    return torch.stack([a.cos(), a.sin()], -1) * radius


# -- the model and its loss match the chapter's references ---------------------------------------
def test_forward_and_loss_match_the_references():
    model = sp.ToyModel(5, 2, n_instances=3, seed=1)
    with torch.no_grad():
        model.b.copy_(torch.randn(3, 5) * 0.1)
    x = sp.generate_batch(7, torch.full((3, 5), 0.5), torch.Generator().manual_seed(0))
    out = model(x)
    imp = sp.importance_decay(5, 0.8)
    for i in range(3):
        torch.testing.assert_close(out[:, i], sol.toy_forward(model.W[i], model.b[i], x[:, i]))
        torch.testing.assert_close(sp.weighted_mse(x, out, imp.expand(3, 5))[i],
                                   sol.importance_weighted_loss(x[:, i], out[:, i], imp))


def test_the_learners_training_loop_is_the_librarys():
    # chapter 09's train_toy_model, fed the batches train_toy_models draws, ends with its weights
    n, m, steps, batch, S = 5, 2, 60, 32, 0.8
    importance = sp.importance_decay(n, 0.9)
    library = sp.train_toy_models(n, m, S, importance, n_instances=1, steps=steps, batch=batch, lr=1e-2, seed=5,
                                  schedule="constant")
    g = torch.Generator().manual_seed(5 + 1)
    batches = torch.stack([sp.generate_batch(batch, torch.full((1, n), S), g)[:, 0] for _ in range(steps)])
    start = sp.ToyModel(n, m, 1, seed=5)
    W, b, losses = sol.train_toy_model(start.W.detach()[0], start.b.detach()[0], batches, importance, 1e-2)
    torch.testing.assert_close(W, library.W[0])
    torch.testing.assert_close(b, library.b[0])
    torch.testing.assert_close(losses[-50:].mean(), library.loss[0])
    with pytest.raises(ValueError, match="schedule"):
        sp.train_toy_models(n, m, S, steps=1, schedule="linear")


def test_cosine_schedule_is_still_the_default():
    a = sp.train_toy_models(3, 2, 0.5, steps=30, batch=16, seed=1)
    b = sp.train_toy_models(3, 2, 0.5, steps=30, batch=16, seed=1, schedule="cosine")
    c = sp.train_toy_models(3, 2, 0.5, steps=30, batch=16, seed=1, schedule="constant")
    torch.testing.assert_close(a.W, b.W)
    assert not torch.allclose(a.W, c.W)


@pytest.mark.slow
def test_worked_answers_of_chapter_09():
    assert sol.worked_pentagon_break(sparsities=(0.7, 0.99))[0.99].startswith("pentagon")
    assert sol.worked_steeper_importance(decays=(0.9, 0.5))[0.5].startswith("antipodal pairs (4 of 5")
    assert sol.worked_polygons(counts=(4, 5)) [5].startswith("pentagon")


def test_generate_batch_sparsity_and_range():
    S = torch.tensor([[0.0] * 4, [0.9] * 4])
    x = sp.generate_batch(20000, S, torch.Generator().manual_seed(0))
    density = (x > 0).float().mean((0, 2))
    assert abs(density[0] - 1.0) < 1e-3 and abs(density[1] - 0.1) < 0.01
    assert x.min() >= 0 and x.max() <= 1


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"sparsity .* must be in \[0, 1\)"):
        sp.train_toy_models(3, 2, 1.0, steps=1)
    with pytest.raises(ValueError, match="one value per instance"):
        sp.train_toy_models(3, 2, [0.1, 0.2], importance=[1.0, 2.0, 3.0, 4.0], steps=1)
    with pytest.raises(ValueError, match=r"W \[feature hidden\]"):
        sp.classify(torch.zeros(2, 3, 2))


# -- geometry ---------------------------------------------------------------------------------
@pytest.mark.parametrize("W, expected", [
    (torch.eye(3) * 1.3, [1.0, 1.0, 1.0]),                                  # dedicated, any norm
    (torch.tensor([[2.0, 0.0], [-2.0, 0.0], [0.0, 0.7]]), [0.5, 0.5, 1.0]),  # antipodal pair + dedicated
    (polygon(5, 1.15), [0.4] * 5),                                          # pentagon: 2/5 each
])
def test_dimensionality_of_known_arrangements(W, expected):
    torch.testing.assert_close(sp.dimensionality(W), torch.tensor(expected), atol=1e-5, rtol=0)
    torch.testing.assert_close(sp.dimensionality(W), sol.feature_dimensionality(W))


def test_dropped_feature_has_dimensionality_zero_and_no_interference():
    W = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1e-4, 0.0]])
    assert sp.dimensionality(W)[2] < 1e-3
    assert sp.superposition_amount(torch.eye(3)).abs().max() < 1e-6
    assert sp.interference(W).shape == (3, 3)
    assert abs(float(sp.total_dimensionality(polygon(5))) - 0.4) < 1e-5


@pytest.mark.parametrize("W, name", [
    (torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.01, 0.02]]), "dedicated"),
    (torch.tensor([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [0.0, 0.0]]) / math.sqrt(2), "antipodal pairs"),
    (polygon(5, 1.1), "pentagon"),
    (polygon(3), "triangle"),
    (torch.zeros(4, 2), "none represented"),
    (torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]]), "mixed"),
    (torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, -1.0, 0.0]]), "antipodal pairs"),
])
def test_classifier_rules(W, name):
    assert sp.classify(W).name == name


def test_classifier_reports_pairs_and_dropped_features():
    W = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.1]])
    a = sp.classify(W)
    assert a.name == "antipodal pairs" and a.pairs == [(0, 1)] and a.not_represented == [2]
    assert "2 of 3 features represented" in str(a)


# -- the chapter's claims, trained -------------------------------------------------------------
@pytest.fixture(scope="module")
def sweep():
    torch.manual_seed(0)
    return sp.sparsity_sweep(n=5, m=2, sparsities=(0.0, 0.7, 0.99), decay=0.9, steps=1500, restarts=3, seed=0)


def test_dense_features_get_dedicated_dimensions(sweep):
    a = sweep[0.0]["arrangement"]
    assert a.name == "dedicated" and a.represented == [0, 1]  # the two most important features
    assert (sweep[0.0]["dimensionality"][:2] > 0.9).all()


def test_sparser_features_form_antipodal_pairs(sweep):
    a = sweep[0.7]["arrangement"]
    assert a.name == "antipodal pairs" and len(a.pairs) == 2 and a.not_represented == [4]
    torch.testing.assert_close(sweep[0.7]["dimensionality"][:4], torch.full((4,), 0.5), atol=0.05, rtol=0)


def test_very_sparse_features_form_a_pentagon(sweep):
    assert sweep[0.99]["arrangement"].name == "pentagon"
    torch.testing.assert_close(sweep[0.99]["dimensionality"], torch.full((5,), 0.4), atol=0.03, rtol=0)


def test_one_feature_phase_diagram():
    # n = 2, m = 1: with dense features the more important one takes the only dimension; with
    # sparse ones both share it as an antipodal pair, whatever their relative importance.
    pd = sp.phase_diagram(relative_importance=(0.5, 2.0), sparsity=(0.0, 0.97), seed=0)
    assert pd.at(0.0, 0.5) == "not represented"
    assert pd.at(0.0, 2.0) == "dedicated"
    assert pd.at(0.97, 0.5) == "superposed" and pd.at(0.97, 2.0) == "superposed"
    assert pd.phase_index().tolist() == [[0, 1], [2, 2]]
    w = pd.W[1, 0].flatten()
    assert w[0] * w[1] < 0  # superposed = pointing opposite ways


# -- the widget's Python side ------------------------------------------------------------------
def test_superposition_explorer_retrains_on_slider_change(tmp_path):
    from widgets import SuperpositionExplorer, WidgetInputError

    w = SuperpositionExplorer(n_features=5, sparsity=0.99, importance_decay=0.9)
    assert w.status == "done" and w.arrangement.startswith("pentagon")
    assert len(w.W) == 5 * 2 * 4 and len(w.importance) == 5 * 4 and len(w.dimensionality) == 5 * 4
    np.testing.assert_allclose(np.frombuffer(w.importance, "<f4"), 0.9 ** np.arange(5), rtol=1e-6)
    before = w.directions().copy()
    w.sparsity = 0.0
    assert w.arrangement.startswith("dedicated") and not np.allclose(before, w.directions())
    with pytest.raises(WidgetInputError, match=r"must be in \[0, 1\).*sparsity=0.99"):
        w.sparsity = 1.0
    with pytest.raises(WidgetInputError, match="importance_decay must be in"):
        w.importance_decay = 0.0
    with pytest.raises(WidgetInputError, match="n_features must be an int from 2 to 16"):
        SuperpositionExplorer(n_features=40, train=False)
    shown = SuperpositionExplorer.from_weights(polygon(5), importance=[1, 1, 1, 1, 1])
    assert shown.arrangement.startswith("pentagon") and np.allclose(shown.directions(), polygon(5).numpy())
    with pytest.raises(WidgetInputError, match=r"W must be \[n_features, 2\]"):
        SuperpositionExplorer.from_weights(torch.zeros(5, 3))
    page = w.save_html(tmp_path / "sp.html").read_text()
    assert '"W"' in page and "superposition" in page.lower()
