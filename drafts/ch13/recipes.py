"""Chapter 13's zoo recipes, not registered yet (see NOTES.md): paste this block into
course/tinyworld_models.py after RECIPES when the variants are trained on a budget that forms
circuits. At 1,300 steps x 16 x 128 tokens (2.66M) none formed (induction <= 0.02, IOI at chance).
Shipped-size float16 weights of that run: /work/runs/variants/shipped/ (10.6 MB for the three).
"""
# ruff: noqa
# Chapter 13's architectures (course.variants) on TinyWorld v2: the same data, seed, token budget
# and schedule for all three, so they differ only in their parts. Sized so that each trains in at
# most about 12 minutes on one CPU thread: 1,300 steps of 16 x 128 tokens (2.7M tokens); the
# mixture of experts, the slowest (2.4 steps/s alone against gpt2's 4), sets the budget. 5 rows of
# each batch are repeated random tokens and the learning rate is higher than the main model's, to
# give induction heads a chance; measured: none formed in any variant (best head 0.02; the main
# model's formed after 12M tokens). Held-out loss 1.809 / 1.766 / 1.790 (gpt2 / llama / moe); 320,
# 354 and 662 s of training on one thread, others sharing the machine (drafts/ch13/NOTES.md).
def variant_metrics_during_training(model) -> dict:
    """The quick metrics, plus the induction and previous-token scores of the best head and the
    held-out loss: the card's per-step table of when each thing forms."""
    out = evaluate.tinyworld_metrics(model, quick=True)
    scores = evaluate.head_scores(model)
    out["max_induction_score"] = scores["induction"].max().item()
    out["max_previous_token_score"] = scores["previous_token"].max().item()
    out["held_out_loss"] = evaluate.held_out_loss(model)
    return out


def _variant_recipe(variant: str, description: str) -> Recipe:
    from course import variants

    return Recipe(
        description,
        variants.config(variant),
        TrainConfig(steps=1300, batch_size=16, seq_len=128, lr=3e-3, warmup_steps=100, eval_every=250,
                    seed=0, data_seed=0),
        evaluate.tinyworld_metrics,
        random_repeat_rows=0.3,  # 5 rows of 16 (the main model: a tenth)
        metrics_during_training=variant_metrics_during_training,
        corpus="course.corpus",
        bf16=True,
        keep_every=250,
        how_measured=evaluate.TINYWORLD_HOW_MEASURED,
    )


RECIPES.update({
    "tinyworld-gpt2": _variant_recipe(
        "gpt2", "Chapter 13's baseline: the main model's GPT-2-style architecture (LayerNorm, learned positions, "
                "GELU MLPs; 4 layers x 128) trained on a short budget shared with tinyworld-llama and tinyworld-moe."),
    "tinyworld-llama": _variant_recipe(
        "llama", "Chapter 13's Llama-style variant: RMSNorm, rotary positions, SwiGLU MLPs and grouped-query attention "
                 "(2 key/value heads), as many attention and MLP weights as tinyworld-gpt2, the same data and budget."),
    "tinyworld-moe": _variant_recipe(
        "moe", "Chapter 13's mixture-of-experts variant: tinyworld-gpt2 with each MLP replaced by 4 experts of "
               "width 256 and top-2 routing (the same active compute per token), the same data and budget."),
})

