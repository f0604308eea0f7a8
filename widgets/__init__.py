"""Widgets of the course: anywidget views of attention, induction, tokens, the logit lens,
training curves, feature steering and attribution graphs. Each is useful alone, keeps its state
in traitlets, and can be saved as a standalone offline page with `save_html(path)`."""

from ._base import WidgetInputError
from .attribution_graph import AttributionGraph
from .attention_patterns import AttentionPatterns
from .feature_steering import FeatureSteering, SteeringResult
from .induction_view import InductionView
from .logit_lens import LogitLens
from .token_view import TokenView
from .training_curves import TrainingCurves

__all__ = [
    "AttributionGraph",
    "AttentionPatterns",
    "FeatureSteering",
    "InductionView",
    "LogitLens",
    "SteeringResult",
    "TokenView",
    "TrainingCurves",
    "WidgetInputError",
]
from .superposition import SuperpositionExplorer  # noqa: E402,F401 (chapter 09)
