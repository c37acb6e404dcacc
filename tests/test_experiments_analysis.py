"""Statistics over finished runs (alignlimits.experiments.analysis) against brute force."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alignlimits import estimator, lab
from alignlimits.experiments import analysis, frontier, rl_runs
from alignlimits.rl import grpo
from alignlimits.rl.training import step_rng


def fake_eval(rng: np.random.Generator, n_prompts: int = 4, per_prompt: int = 3, shift: float = 0.0) -> dict:
    index = np.repeat(np.arange(n_prompts), per_prompt)
    e = index.size
    return {
        "prompt_index": index.tolist(),
        "reward": (rng.normal(size=e) + shift).tolist(),
        "judge": rng.normal(size=e).tolist(),
        "kl_exact": rng.uniform(0.1, 2.0, size=e).tolist(),
        "kl_k1": rng.uniform(0.0, 2.0, size=e).tolist(),
        "kl_k3": rng.uniform(0.0, 2.0, size=e).tolist(),
        "length": rng.integers(1, 8, size=e).tolist(),
    }


def fake_run(config: rl_runs.LMRunConfig, rng: np.random.Generator, shift: float = 0.0) -> dict:
    return {"config": config.as_dict(), "eval": fake_eval(rng, config.n_prompts, 2, shift),
            "provenance": {"wall_time_s": 12.5, "samples_trained": config.steps * config.samples_per_step}}  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=30), st.integers(2, 5), st.integers(0, 2**31))
def test_clustered_mean_se_is_the_spread_of_prompt_means(values, n_prompts, seed):
    rng = np.random.default_rng(seed)
    prompts = rng.integers(n_prompts, size=len(values))
    mean, se = analysis.clustered_mean_se(values, prompts)
    assert mean == pytest.approx(np.mean(values), rel=1e-12, abs=1e-9)
    ids = sorted(set(prompts.tolist()))
    means = [np.mean([v for v, p in zip(values, prompts, strict=True) if p == i]) for i in ids]
    if len(ids) > 1:
        assert se == pytest.approx(np.std(means, ddof=1) / np.sqrt(len(ids)), rel=1e-9, abs=1e-9)
    else:
        assert np.isnan(se)


def test_clustered_mean_se_refuses_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        analysis.clustered_mean_se([1.0, 2.0], [0])
    with pytest.raises(ValueError, match="finite"):
        analysis.clustered_mean_se([1.0, np.nan], [0, 1])
    with pytest.raises(ValueError, match="no values"):
        analysis.clustered_mean_se([], [])


def test_summarize_run_is_a_dataclass_of_every_eval_field():
    ev = fake_eval(np.random.default_rng(0))
    s = analysis.summarize_run({"eval": ev})
    for name in ("reward", "judge", "kl_exact", "kl_k1", "kl_k3", "length"):
        assert (getattr(s, name), getattr(s, name + "_se")) == analysis.clustered_mean_se(ev[name], ev["prompt_index"])


@pytest.fixture(scope="module")
def curves() -> lab.LabCurves:
    rng = np.random.default_rng(1)
    r, j = rng.normal(size=(6, 32)), rng.normal(size=(6, 32))
    return lab.lab_curves(r, j, np.geomspace(0.05, 20, 40), (2, 4, 8), n_boot=4, rng=np.random.default_rng(2))


def test_run_points_place_each_run_against_the_frontier(curves):
    rng = np.random.default_rng(3)
    runs = [fake_run(rl_runs.run_config("safety", m, b, s, "smoke"), rng, shift=0.3)
            for m in rl_runs.METHODS for b in (0.1, 0.3) for s in (1, 2)]  # fmt: skip
    points = analysis.run_points(curves, runs)
    edge = analysis.reliable_kl(curves)
    assert 0 < edge <= np.max(curves.kl)
    for p, run in zip(points, runs, strict=True):
        s = analysis.summarize_run(run)
        assert (p.method, p.beta, p.seed) == (run["config"]["method"], run["config"]["kl_coef"], run["config"]["seed"])
        assert p.gain == pytest.approx(s.reward - curves.base_reward)
        assert p.judge_gain == pytest.approx(s.judge - curves.base_judge)
        limit = lab.limit_at(curves, s.kl_exact)
        assert p.limit == pytest.approx(limit, nan_ok=True)
        assert p.share == pytest.approx(p.gain / limit if limit > 0 else np.nan, nan_ok=True)
        assert p.reliable == (s.kl_exact <= edge)
        assert p.samples == run["config"]["steps"] * run["config"]["samples_per_step"]


def test_training_path_measures_each_step_against_its_own_prompts():
    cfg = {"method": "grpo", "n_prompts": 5}
    algorithm = dataclasses.asdict(grpo.GRPOConfig(steps=6, groups=2, group_size=3, seed=11))
    rng = np.random.default_rng(4)
    hist = [{"step": float(k), "reward": float(rng.normal()), "kl_exact": 0.1 * k + float(rng.uniform(0, 0.05)),
             "kl_k1": 0.1 * k - 0.2, "reward_se": 0.05, "advantage_zero_groups": 0.5 * (k % 2)}
            for k in range(6)]  # fmt: skip
    run = {"config": cfg, "algorithm": algorithm, "history": hist}
    base = rng.normal(size=5)
    path = analysis.training_path(run, base)
    # brute force: redraw each step's prompts exactly as GRPO does
    expected_base = []
    for k in range(6):
        prompts = grpo.draw_prompts(step_rng(11, k), grpo.GRPOConfig(**algorithm), 5).numpy()
        expected_base.append(base[prompts].mean())
    np.testing.assert_allclose(path.reward_gain, np.array([h["reward"] for h in hist]) - expected_base)
    np.testing.assert_array_equal(path.steps, np.arange(1, 7))
    assert path.slope == pytest.approx(np.polyfit(path.steps[3:], path.reward_gain[3:], 1)[0])
    assert path.kl_growth == pytest.approx(np.polyfit(path.steps[3:], path.kl_exact[3:], 1)[0])
    assert path.k1_negative == pytest.approx(2 / 6)  # steps 0 and 1 have k1 < 0
    assert path.zero_groups == pytest.approx(0.25)
    assert path.k1_rms_error == pytest.approx(np.sqrt(np.mean((path.kl_k1 - path.kl_exact) ** 2)))


def test_pair_controls_finds_each_controls_sweep_run_and_checks_the_base():
    rng = np.random.default_rng(5)
    front = {"task": "safety", "config": dataclasses.asdict(frontier.frontier_config("safety", "smoke"))}
    real = [fake_run(rl_runs.run_config("safety", m, 0.1, 1, "smoke"), rng, shift=1.0) for m in rl_runs.METHODS]
    controls = [fake_run(rl_runs.run_config("safety", m, 0.1, 1, "smoke", reward_signal="shuffled"), rng)
                for m in rl_runs.METHODS]  # fmt: skip
    pairs = analysis.pair_controls(real, controls, front)
    assert [p.method for p in pairs] == list(rl_runs.METHODS)
    for pair, r, c in zip(pairs, real, controls, strict=True):
        assert pair.real == analysis.summarize_run(r) and pair.control == analysis.summarize_run(c)
        assert pair.kl_ratio == pytest.approx(pair.control.kl_exact / pair.real.kl_exact)
        diff, se = pair.reward_difference
        assert diff == pytest.approx(pair.real.reward - pair.control.reward)
        assert se == pytest.approx(np.hypot(pair.real.reward_se, pair.control.reward_se))
    with pytest.raises(ValueError, match="no sweep run"):
        analysis.pair_controls(real[:1], controls, front)
    other = {**front, "config": {**front["config"], "temperature": 1.0}}
    with pytest.raises(ValueError, match="different base policies"):
        analysis.pair_controls(real, controls, other)


def test_k1_bias_pools_per_run_z_scores():
    rng = np.random.default_rng(6)
    runs = [{"eval": fake_eval(rng)} for _ in range(5)]
    bias = analysis.k1_bias(runs)
    z = []
    for run in runs:
        ev = run["eval"]
        m, se = analysis.clustered_mean_se(np.subtract(ev["kl_k1"], ev["kl_exact"]), ev["prompt_index"])
        z.append(m / se)
    np.testing.assert_allclose(bias.z_scores, z)
    assert bias.pooled_z == pytest.approx(np.sum(z) / np.sqrt(5))
    still = {"eval": {**fake_eval(rng), "kl_k1": [0.0] * 12, "kl_exact": [0.0] * 12}}
    assert analysis.k1_bias([still]).z_scores.size == 0 and np.isnan(analysis.k1_bias([still]).pooled_z)


def test_ppo_fixed_points_use_the_estimator_at_each_runs_beta(curves):
    rng = np.random.default_rng(7)
    r = rng.normal(size=(6, 32))
    runs = [fake_run(rl_runs.run_config("safety", "ppo", b, 1, "smoke"), rng) for b in (0.3, 1.0)]
    runs.append(fake_run(rl_runs.run_config("safety", "grpo", 0.3, 1, "smoke"), rng))
    comparisons = analysis.ppo_fixed_points(r, analysis.run_points(curves, runs))
    assert [c.beta for c in comparisons] == [0.3, 1.0]  # GRPO's fixed point is not π_β: left out
    ids = np.repeat(np.arange(6), 32)
    for c in comparisons:
        est = estimator.estimate_frontier(r.ravel(), c.beta, ids)
        assert c.kl_beta == pytest.approx(float(est.kl)) and c.gain_beta == pytest.approx(float(est.gain))
        p = c.point
        assert c.objective_gap == pytest.approx((c.gain_beta - c.beta * c.kl_beta) - (p.gain - c.beta * p.kl))
    with pytest.raises(ValueError, match="shape"):
        analysis.ppo_fixed_points(r.ravel(), [])


def test_training_path_uses_the_exact_kl_only_where_it_was_logged():
    cfg = {"method": "grpo", "n_prompts": 3}
    algorithm = dataclasses.asdict(grpo.GRPOConfig(steps=6, groups=1, group_size=2, seed=3, metrics_every=2))
    hist = []
    for k in range(6):
        h = {"step": float(k), "reward": 0.1 * k, "kl_k1": 0.2 * k, "reward_se": 0.01}
        if k % 2 == 0 or k == 5:  # what metrics_every=2 logs
            h["kl_exact"] = 0.3 * k
        hist.append(h)
    path = analysis.training_path({"config": cfg, "algorithm": algorithm, "history": hist}, np.zeros(3))
    assert np.isnan(path.kl_exact[1]) and path.kl_exact[4] == pytest.approx(1.2)
    assert path.kl_growth == pytest.approx(0.3)  # from steps 4 and 5 (the logged ones in the last half) ...
    logged = [0, 2, 4, 5]
    assert path.k1_rms_error == pytest.approx(np.sqrt(np.mean([(0.1 * k) ** 2 for k in logged])))  # ... and these


# ---------------------------------------------------------------------------- trajectories

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 30), st.integers(1, 6), st.booleans(), st.integers(0, 2**32 - 1))
def test_block_means_against_brute_force(n, size, with_se, seed) -> None:
    size = min(size, n)
    rng = np.random.default_rng(seed)
    x, s = rng.normal(size=n), rng.uniform(0.1, 1.0, n)
    b = analysis.block_means(x, size, s if with_se else None)
    blocks = n // size
    assert b.mean.shape == (blocks,) and b.size == size
    for k in range(blocks):
        chunk = x[k * size : (k + 1) * size]
        steps = np.arange(k * size, (k + 1) * size) + 1
        assert b.step[k] == pytest.approx(steps.mean())
        assert b.mean[k] == pytest.approx(chunk.mean(), abs=1e-12)
        if with_se:
            expected = np.sqrt(np.sum(s[k * size : (k + 1) * size] ** 2)) / size
        else:
            expected = np.std(chunk, ddof=1) / np.sqrt(size) if size > 1 else np.nan
        assert b.se[k] == pytest.approx(expected, abs=1e-12, nan_ok=True)


@pytest.mark.parametrize(
    ("args", "message"),
    [(([1.0, 2.0], 3), "size must be"), (([[1.0]], 1), "1-D"), (([1.0, 2.0], 1, [1.0]), "se must have")],
)
def test_block_means_refuses_bad_input(args, message) -> None:
    with pytest.raises(ValueError, match=message):
        analysis.block_means(*args)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 12), st.integers(0, 2**32 - 1))
def test_value_at_kl_is_piecewise_linear_and_never_extrapolates(n, seed) -> None:
    rng = np.random.default_rng(seed)
    xs = np.sort(rng.uniform(0, 3, n)) + np.arange(n) * 1e-3  # distinct
    ys = rng.normal(size=n)
    shuffled = rng.permutation(n)
    queries = rng.uniform(-0.5, 3.5, 20)
    got = analysis.value_at_kl(queries, xs[shuffled], ys[shuffled])
    for q, g in zip(queries, got, strict=True):
        if q < xs[0] or q > xs[-1]:
            assert np.isnan(g)
            continue
        k = min(np.searchsorted(xs, q, side="right") - 1, n - 2)  # brute force: the segment holding q
        t = (q - xs[k]) / (xs[k + 1] - xs[k])
        assert g == pytest.approx(ys[k] + t * (ys[k + 1] - ys[k]), abs=1e-9)
    assert isinstance(analysis.value_at_kl(float(xs[0]), xs, ys), float)
    with pytest.raises(ValueError, match="finite"):
        analysis.value_at_kl(0.5, [0.0, np.nan], [0.0, 1.0])


def test_path_points_pair_every_evaluation_with_the_zero_step_run() -> None:
    rng = np.random.default_rng(1)
    prompts = np.repeat(np.arange(5), 4)

    def ev(shift, kl):
        reward = rng.normal(size=prompts.size) * 0.01 + shift
        return {"prompt_index": prompts.tolist(), "reward": reward.tolist(), "judge": (reward * 2).tolist(),
                "kl_exact": np.full(prompts.size, kl).tolist(), "length": [3] * prompts.size}  # fmt: skip

    zero = {"eval": ev(0.0, 0.0)}
    run = {"config": {"steps": 10}, "path": [{"step": 5, "eval": ev(0.1, 0.2)}], "eval": ev(0.3, 0.5)}
    points = analysis.path_points(run, zero)
    assert [p.step for p in points] == [0, 5, 10]
    assert points[0].gain == 0 and points[0].kl == 0
    assert points[1].gain == pytest.approx(0.1, abs=0.02) and points[2].kl == pytest.approx(0.5)
    assert points[2].judge_gain == pytest.approx(2 * points[2].gain)
    mean, se = analysis.paired_difference(run["eval"], zero["eval"])
    assert (points[2].gain, points[2].gain_se) == (mean, se)


# ---------------------------------------------------------------------------- the long runs (study)


def _brute_paired(a: dict, b: dict, key: str = "reward") -> tuple[float, float]:
    """Per-prompt means by loops, their differences, mean and se: the definition, written out."""
    diffs = []
    for prompt in sorted(set(a["prompt_index"])):
        mean_a = np.mean([v for i, v in zip(a["prompt_index"], a[key], strict=True) if i == prompt])
        mean_b = np.mean([v for i, v in zip(b["prompt_index"], b[key], strict=True) if i == prompt])
        diffs.append(mean_a - mean_b)
    return float(np.mean(diffs)), float(np.std(diffs, ddof=1) / np.sqrt(len(diffs)))


@settings(max_examples=20, deadline=None)
@given(st.integers(2, 6), st.integers(1, 4), st.floats(-1.0, 1.0), st.integers(0, 2**31))
def test_control_gains_against_a_direct_paired_computation(n_prompts, per_prompt, shift, seed) -> None:
    rng = np.random.default_rng(seed)
    cfg = {"method": "grpo", "kl_coef": 0.1, "seed": 1, "steps": 4, "lr": 1e-4}
    run = {"config": cfg, "eval": fake_eval(rng, n_prompts, per_prompt, shift)}
    control = {"config": {**cfg, "reward_signal": "shuffled"}, "eval": fake_eval(rng, n_prompts, per_prompt)}
    (g,) = analysis.control_gains([control, run])
    gain, se = _brute_paired(run["eval"], control["eval"])
    judge, judge_se = _brute_paired(run["eval"], control["eval"], "judge")
    assert g.gain == pytest.approx(gain, abs=1e-12) and g.se == pytest.approx(se, rel=1e-9)
    assert g.judge_gain == pytest.approx(judge, abs=1e-12) and g.judge_se == pytest.approx(judge_se, rel=1e-9)
    assert g.z == pytest.approx(gain / se) and g.learned == (gain / se > analysis.LEARNED_Z)
    assert g.kl == pytest.approx(np.mean(run["eval"]["kl_exact"]))
    assert (g.method, g.beta, g.seed) == ("grpo", 0.1, 1)


def test_control_gains_pair_only_identical_configs() -> None:
    rng = np.random.default_rng(0)
    cfg = {"method": "ppo", "kl_coef": 0.1, "seed": 1, "steps": 4, "lr": 3e-5}
    runs = [
        {"config": {**cfg, "seed": 2}, "eval": fake_eval(rng)},  # another seed: not the control's run
        {"config": {**cfg, "reward_signal": "shuffled"}, "eval": fake_eval(rng)},
        {"config": {**cfg, "method": "grpo", "reward_signal": "shuffled"}, "eval": fake_eval(rng)},  # no run yet
    ]
    assert analysis.control_gains(runs) == []
    runs.append({"config": cfg, "eval": fake_eval(rng, shift=5.0)})
    (g,) = analysis.control_gains(runs)
    assert (g.method, g.seed) == ("ppo", 1) and g.learned  # a shift of 5 against noise of about 0.8 per prompt


def _hand_interpolation(x: float, xs: list[float], ys: list[float]) -> float:
    """Linear interpolation by hand: find the bracketing pair and weigh its ends."""
    pairs = sorted(zip(xs, ys, strict=True))
    for (x0, y0), (x1, y1) in itertools.pairwise(pairs):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return float("nan")


@settings(max_examples=25, deadline=None)
@given(st.floats(0.0, 1.0), st.floats(-0.5, 1.0), st.floats(0.0, 0.1))
def test_matched_share_against_a_hand_interpolation(where, gain, gain_se) -> None:
    rng = np.random.default_rng(5)
    r, j = rng.normal(size=(6, 32)), rng.normal(size=(6, 32))
    c = lab.lab_curves(r, j, np.geomspace(0.05, 20, 40), (1, 2, 4, 8), n_boot=20, rng=np.random.default_rng(2))
    inside = [(k, i) for i, k in enumerate(c.kl) if k <= c.kl_ceiling]
    xs = [0.0] + [k for k, _ in inside]
    kl = where * 1.2 * c.kl_ceiling  # a fifth of the draws lie beyond the ceiling
    s = analysis.matched_share(c, kl, gain, gain_se)
    limit = _hand_interpolation(kl, xs, [0.0] + [c.gain_reward[i] for _, i in inside])
    low = _hand_interpolation(kl, xs, [0.0] + [c.bands["gain_reward"][0][i] for _, i in inside])
    high = _hand_interpolation(kl, xs, [0.0] + [c.bands["gain_reward"][1][i] for _, i in inside])
    if np.isnan(limit):
        assert kl > max(xs) and np.isnan(s.limit) and np.isnan(s.share)
        return
    assert s.limit == pytest.approx(limit, abs=1e-12)
    assert (s.limit_low, s.limit_high) == (pytest.approx(low, abs=1e-12), pytest.approx(high, abs=1e-12))
    if limit > 0:
        assert s.share == pytest.approx(gain / limit) and s.share_se == pytest.approx(gain_se / limit)
    if high > 0 and low > 0:
        assert s.share_low == pytest.approx(gain / high) and s.share_high == pytest.approx(gain / low)
    assert s.reliable == (kl <= analysis.reliable_kl(c))
    bon = _hand_interpolation(kl, list(c.bon_kl), list(c.bon_gain_reward))
    assert s.bon_gain == pytest.approx(bon, abs=1e-12, nan_ok=True)


@pytest.mark.parametrize(("kl", "gain", "message"), [(-0.1, 0.1, "kl must be"), (np.nan, 0.1, "kl must be"),
                                                     (0.1, np.inf, "gain must be")])  # fmt: skip
def test_matched_share_refuses_bad_input(curves, kl, gain, message) -> None:
    with pytest.raises(ValueError, match=message):
        analysis.matched_share(curves, kl, gain)


def test_run_cost_reads_the_provenance() -> None:
    prov = {"samples_trained": 100, "wall_time_s": 1800.0, "train_time_s": 900.0, "sampling_time_s": 900.0,
            "hardware": {"device": "cpu", "torch_threads": 2}}  # fmt: skip
    cost = analysis.run_cost({"provenance": prov})
    assert (cost.samples_drawn, cost.samples_trained, cost.per_answer) == (100, 100, 1)  # drawn: trained by default
    assert cost.cpu_hours == pytest.approx(1.0) and cost.train_hours == pytest.approx(1.0)  # two threads


def test_path_points_measure_the_length_change_like_the_gains() -> None:
    rng = np.random.default_rng(2)
    zero = {"eval": fake_eval(rng, 5, 3)}
    run = {"config": {"steps": 3}, "eval": fake_eval(rng, 5, 3, shift=0.2)}
    last = analysis.path_points(run, zero)[-1]
    assert (last.length_change, last.length_change_se) == pytest.approx(_brute_paired(run["eval"], zero["eval"],
                                                                                      "length"))  # fmt: skip
