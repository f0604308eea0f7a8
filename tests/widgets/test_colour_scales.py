"""The widgets' colour scales (widgets/static/_shared.js) stay readable to colour-blind learners.

Each scale is seen as a protanope, a deuteranope and a tritanope would see it (Machado, Oliveira &
Fernandes 2009, full severity, applied in linear RGB) and compared in CIELAB: neighbouring steps of
a scale must stay apart, a sequential scale must keep getting lighter, and the two sides of the
diverging scale must not be confused. CIE76 distances: about 2.3 is a just-noticeable difference.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "widgets" / "static" / "_shared.js"

MACHADO = {
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]],
    "typical vision": [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
}
STEPS = 11  # a scale read as 11 steps: 0, 0.1, ..., 1 (diverging: -1, -0.8, ..., 1)
NEIGHBOURS_APART = 5.0  # about twice a just-noticeable difference
SIDES_APART = 10.0


def js_constant(name: str):
    """A constant of _shared.js, written there as a JSON literal."""
    match = re.search(rf"^const {name} = (\[.*?\]);$", SHARED.read_text(encoding="utf-8"), re.M)
    assert match, f"_shared.js no longer defines {name} as a one-line literal"
    return json.loads(match[1])


def ramp(stops, x):
    """The JS `ramp`: linear between evenly spaced stops, x in [0, 1]."""
    x = min(1.0, max(0.0, x)) * (len(stops) - 1)
    i = min(int(x), len(stops) - 2)
    f = x - i
    return [a + (b - a) * f for a, b in zip(stops[i], stops[i + 1])]


def rgb(hex_colour: str):
    return [int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]


def linear(c: float) -> float:
    c /= 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def seen(colour, vision: str):
    """Linear RGB of ``colour`` (sRGB 0-255) as seen with ``vision``."""
    lin = [linear(c) for c in colour]
    return [min(1.0, max(0.0, sum(m * c for m, c in zip(row, lin)))) for row in MACHADO[vision]]


def lab(lin):
    r, g, b = lin
    x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047
    y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b
    z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.08883

    def f(t):
        return t ** (1 / 3) if t > (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def distance(a, b, vision: str) -> float:
    return math.dist(lab(seen(a, vision)), lab(seen(b, vision)))


def luminance(colour) -> float:
    r, g, b = (linear(c) for c in colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b) -> float:
    hi, lo = sorted([luminance(a), luminance(b)], reverse=True)
    return (hi + 0.05) / (lo + 0.05)


VISIONS = list(MACHADO)


def test_the_simulation_is_real():
    """The common Tableau palette (the widgets' old one): its colours are far apart to most eyes,
    but a deuteranope barely tells its red from its green, and a protanope confuses another pair."""
    tableau = [rgb(c) for c in ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]]
    red, green = tableau[1], tableau[2]
    assert distance(red, green, "typical vision") > 60 and distance(red, green, "deuteranopia") < 10
    pairs = list(itertools.combinations(tableau, 2))
    assert min(distance(a, b, "typical vision") for a, b in pairs) > 30
    assert min(distance(a, b, "protanopia") for a, b in pairs) < 10
    for vision in VISIONS:  # white stays white: each matrix row sums to 1
        assert seen([255, 255, 255], vision) == pytest.approx([1, 1, 1], abs=1e-5)


def steps_apart(stops, vision: str) -> list:
    """The scale read as STEPS steps; asserts that neighbouring steps stay apart for ``vision``."""
    steps = [ramp(stops, i / (STEPS - 1)) for i in range(STEPS)]
    gaps = [distance(a, b, vision) for a, b in zip(steps, steps[1:])]
    assert min(gaps) >= NEIGHBOURS_APART, f"{vision}: neighbouring steps {min(gaps):.1f} apart"
    return steps


@pytest.mark.parametrize("vision", VISIONS)
def test_sequential_steps_stay_apart_and_keep_getting_lighter(vision):
    steps = steps_apart(js_constant("SEQUENTIAL"), vision)
    lightness = [lab(seen(c, vision))[0] for c in steps]
    assert all(b > a + 3 for a, b in zip(lightness, lightness[1:])), f"{vision}: lightness {lightness}"


@pytest.mark.parametrize("vision", VISIONS)
def test_diverging_steps_stay_apart_and_its_sides_are_not_confused(vision):
    stops = js_constant("DIVERGING")
    steps_apart(stops, vision)
    for t in (0.2, 0.4, 0.6, 0.8, 1.0):  # -t and +t: the same size, opposite signs
        d = distance(ramp(stops, 0.5 - t / 2), ramp(stops, 0.5 + t / 2), vision)
        assert d >= SIDES_APART, f"{vision}: -{t} and +{t} are {d:.1f} apart"


@pytest.mark.parametrize("vision", VISIONS)
def test_categorical_colours_are_told_apart(vision):
    colours = [rgb(c) for c in js_constant("CATEGORICAL")[:6]]  # the ones a plot uses before repeating
    closest = min(distance(a, b, vision) for a, b in itertools.combinations(colours, 2))
    assert closest >= 15, f"{vision}: two line colours only {closest:.1f} apart"


def test_lines_show_on_light_and_dark_pages():
    """The first four line colours against JupyterLab's light page (#fff) and its dark theme's
    (#111 and #212121): 3:1 is WCAG's minimum for graphics."""
    for colour in js_constant("CATEGORICAL")[:4]:
        for page in ([255, 255, 255], [17, 17, 17], [33, 33, 33]):
            assert contrast(rgb(colour), page) >= 3.0, (colour, page)


def test_the_widgets_use_the_shared_scales():
    static = SHARED.parent
    for js in static.glob("[a-z]*.js"):
        src = js.read_text(encoding="utf-8")
        assert "colour(" not in src, f"{js.name} still calls the old colour scale"
        assert not re.search(r"PALETTE\s*=", src), f"{js.name} defines its own palette"
