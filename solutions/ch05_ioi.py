"""Chapter 05, indirect object identification: reference solutions, their hints and the known mistakes.

The references use only ``torch`` (the notebook imports it). The ``_wrong_*`` functions are the
mistakes ``check`` recognises by their output.
"""

from __future__ import annotations

import torch

from course.exercises import Case, Exercise, Mistake

CHAPTER = "05"
TITLE = "Indirect object identification"


# -- the logit difference ----------------------------------------------------------------------------

def ioi_logit_diff(logits: torch.Tensor, io_tokens: torch.Tensor, s_tokens: torch.Tensor) -> torch.Tensor:
    """How much the model prefers the indirect object over the subject, at the last position,
    averaged over the batch. logits: [batch pos d_vocab]; io_tokens, s_tokens: [batch] -> scalar tensor."""
    last = logits[:, -1]  # [batch d_vocab]
    rows = torch.arange(last.shape[0])
    return (last[rows, io_tokens] - last[rows, s_tokens]).mean()


def _wrong_ld_sign(logits, io_tokens, s_tokens):
    last = logits[:, -1]
    rows = torch.arange(last.shape[0])
    return (last[rows, s_tokens] - last[rows, io_tokens]).mean()


def _wrong_ld_all_positions(logits, io_tokens, s_tokens):
    rows = torch.arange(logits.shape[0])
    return (logits[rows, :, io_tokens] - logits[rows, :, s_tokens]).mean()


def _wrong_ld_first_position(logits, io_tokens, s_tokens):
    first = logits[:, 0]
    rows = torch.arange(first.shape[0])
    return (first[rows, io_tokens] - first[rows, s_tokens]).mean()


def _wrong_ld_sum(logits, io_tokens, s_tokens):
    last = logits[:, -1]
    rows = torch.arange(last.shape[0])
    return (last[rows, io_tokens] - last[rows, s_tokens]).sum()


def _wrong_ld_probs(logits, io_tokens, s_tokens):
    last = logits[:, -1].softmax(-1)
    rows = torch.arange(last.shape[0])
    return (last[rows, io_tokens] - last[rows, s_tokens]).mean()


def _ld_cases():
    g = torch.Generator().manual_seed(5)
    return [
        Case("batch 1, 3 positions, vocab 4", (torch.tensor([[[0.0, 1, 2, 3], [1, 0, 0, 0], [0.5, 2.0, -1.0, 0.0]]]),
                                              torch.tensor([1]), torch.tensor([2]))),
        Case("random, batch 4, 6 positions, vocab 10",
             (torch.randn(4, 6, 10, generator=g), torch.tensor([1, 2, 3, 4]), torch.tensor([5, 6, 7, 8]))),
    ]


# -- direct logit attribution -------------------------------------------------------------------------

def logit_attribution(components: torch.Tensor, W_U: torch.Tensor, io_tokens: torch.Tensor,
                      s_tokens: torch.Tensor) -> torch.Tensor:
    """Each component's direct contribution to logit[IO] - logit[S], averaged over the batch.
    components: [component batch d_model], already through the final LayerNorm's scale (at the last
    position); W_U: [d_model d_vocab] -> [component]."""
    direction = (W_U[:, io_tokens] - W_U[:, s_tokens]).T  # [batch d_model]
    return (components * direction).sum(-1).mean(-1)


def _wrong_dla_io_only(components, W_U, io_tokens, s_tokens):
    return (components * W_U[:, io_tokens].T).sum(-1).mean(-1)


def _wrong_dla_sign(components, W_U, io_tokens, s_tokens):
    return (components * (W_U[:, s_tokens] - W_U[:, io_tokens]).T).sum(-1).mean(-1)


def _wrong_dla_no_batch_mean(components, W_U, io_tokens, s_tokens):
    return (components * (W_U[:, io_tokens] - W_U[:, s_tokens]).T).sum(-1)


def _wrong_dla_rows(components, W_U, io_tokens, s_tokens):
    # reads W_U's rows (d_model) as if they were token columns: a transpose mistake
    d = components.shape[-1]
    return (components * (W_U.T[:d, io_tokens] - W_U.T[:d, s_tokens]).T).sum(-1).mean(-1)


def _dla_cases():
    g = torch.Generator().manual_seed(6)
    return [
        Case("3 components, batch 2, d_model 4, vocab 5",
             (torch.randn(3, 2, 4, generator=g), torch.randn(4, 5, generator=g), torch.tensor([0, 1]),
              torch.tensor([2, 3]))),
        Case("8 components, batch 5, d_model 6, vocab 9",
             (torch.randn(8, 5, 6, generator=g), torch.randn(6, 9, generator=g), torch.tensor([0, 1, 2, 3, 4]),
              torch.tensor([8, 7, 6, 5, 4]))),
    ]


# -- activation patching ------------------------------------------------------------------------------

def patch_position(corrupted_act: torch.Tensor, clean_act: torch.Tensor, pos: int) -> torch.Tensor:
    """The body of an activation-patching hook: the corrupted activation with position ``pos`` taken
    from the clean run. Both: [batch pos ...] -> same shape. Do not modify the inputs in place."""
    patched = corrupted_act.clone()
    patched[:, pos] = clean_act[:, pos]
    return patched


def _wrong_patch_all(corrupted_act, clean_act, pos):
    return clean_act.clone()


def _wrong_patch_batch_axis(corrupted_act, clean_act, pos):
    patched = corrupted_act.clone()
    patched[pos] = clean_act[pos]
    return patched


def _wrong_patch_from_pos(corrupted_act, clean_act, pos):
    patched = corrupted_act.clone()
    patched[:, pos:] = clean_act[:, pos:]
    return patched


def _wrong_patch_off_by_one(corrupted_act, clean_act, pos):
    patched = corrupted_act.clone()
    patched[:, pos - 1] = clean_act[:, pos - 1]
    return patched


def _patch_cases():
    g = torch.Generator().manual_seed(7)
    return [
        Case("batch 3, 5 positions, d_model 3, pos 2", (torch.zeros(3, 5, 3), torch.ones(3, 5, 3), 2)),
        Case("random, batch 3, 6 positions, 2 heads x 4, pos 4",
             (torch.randn(3, 6, 2, 4, generator=g), torch.randn(3, 6, 2, 4, generator=g), 4)),
        Case("pos 0", (torch.randn(3, 4, 2, generator=g), torch.randn(3, 4, 2, generator=g), 0)),
    ]


def restored_fraction(patched: torch.Tensor, clean: float, corrupted: float) -> torch.Tensor:
    """Normalise a patched metric: 0 where it equals the corrupted run's, 1 where it equals the clean run's.
    patched: any shape of metric values; clean, corrupted: the two runs' values -> same shape as patched."""
    return (patched - corrupted) / (clean - corrupted)


def _wrong_fraction_clean_origin(patched, clean, corrupted):
    return (patched - clean) / (clean - corrupted)


def _wrong_fraction_ratio(patched, clean, corrupted):
    return patched / clean


def _wrong_fraction_flipped(patched, clean, corrupted):
    return (patched - corrupted) / (corrupted - clean)


def _fraction_cases():
    g = torch.Generator().manual_seed(8)
    return [
        Case("clean 4, corrupted -2", (torch.tensor([-2.0, 1.0, 4.0, 5.0]), 4.0, -2.0)),
        Case("a [layer pos] grid", (torch.randn(3, 5, generator=g), 3.2, 0.4)),
    ]


EXERCISES = [
    Exercise(
        "ioi_logit_diff", CHAPTER, ioi_logit_diff, _ld_cases,
        hints=["Only the last position predicts the name: take logits[:, -1], one row of d_vocab per prompt.",
               "Pick each row's IO and S logits with advanced indexing (rows = torch.arange(batch)), subtract, "
               "then average over the batch."],
        mistakes=[
            Mistake("sign", _wrong_ld_sign, "Did you subtract the wrong way round? It is logit[IO] minus logit[S]: "
                                            "positive when the model gets it right."),
            Mistake("all positions", _wrong_ld_all_positions,
                    "Did you average over every position? Only the last position predicts the indirect object."),
            Mistake("first position", _wrong_ld_first_position,
                    "Did you read position 0? The prediction is at the last position, index -1."),
            Mistake("sum", _wrong_ld_sum, "Did you sum over the batch? Take the mean, so the number does not "
                                          "depend on how many prompts you used."),
            Mistake("probabilities", _wrong_ld_probs,
                    "Did you apply a softmax? The logit difference is on logits: it is also the log of the "
                    "ratio of the two probabilities."),
        ],
    ),
    Exercise(
        "logit_attribution", CHAPTER, logit_attribution, _dla_cases,
        hints=["The logit difference reads the residual stream along one direction: W_U[:, IO] - W_U[:, S].",
               "Build that direction per prompt ([batch d_model]), take the dot product with every component "
               "(sum over d_model), then average over the batch."],
        mistakes=[
            Mistake("io only", _wrong_dla_io_only, "Did you project on W_U[:, IO] alone? The metric is a difference: "
                                                   "project on W_U[:, IO] - W_U[:, S]."),
            Mistake("sign", _wrong_dla_sign, "Is your direction S minus IO? It must point towards IO."),
            Mistake("no mean", _wrong_dla_no_batch_mean,
                    "Did you forget to average over the batch? The result has one number per component."),
            Mistake("transpose", _wrong_dla_rows, "Did you index W_U's rows? Tokens are W_U's columns: W_U[:, token]."),
        ],
    ),
    Exercise(
        "patch_position", CHAPTER, patch_position, _patch_cases,
        hints=["Copy the corrupted activation (clone), then overwrite one position with the clean values.",
               "Position is the second axis: patched[:, pos] = clean_act[:, pos]."],
        mistakes=[
            Mistake("everything", _wrong_patch_all, "Did you return the whole clean activation? Patch one position "
                                                    "only, so you learn where the information is."),
            Mistake("batch axis", _wrong_patch_batch_axis,
                    "Did you index the batch axis? Position is axis 1: act[:, pos]."),
            Mistake("from pos on", _wrong_patch_from_pos, "Did you patch every position from pos onwards? Patch "
                                                          "exactly one position: act[:, pos], not act[:, pos:]."),
            Mistake("off by one", _wrong_patch_off_by_one, "Off by one: patch position pos itself, not pos - 1."),
        ],
    ),
    Exercise(
        "restored_fraction", CHAPTER, restored_fraction, _fraction_cases,
        hints=["Map the corrupted value to 0 and the clean value to 1 with a straight line.",
               "(patched - corrupted) / (clean - corrupted)."],
        mistakes=[
            Mistake("clean origin", _wrong_fraction_clean_origin,
                    "Did you measure from the clean value? The corrupted run is the 0 of the scale: subtract "
                    "the corrupted value."),
            Mistake("ratio", _wrong_fraction_ratio, "Did you divide by the clean value alone? Subtract the corrupted "
                                                    "value first, or a corrupted run would not score 0."),
            Mistake("flipped", _wrong_fraction_flipped, "Is the denominator corrupted - clean? It is clean - corrupted, "
                                                        "so full restoration scores +1."),
        ],
    ),
]
