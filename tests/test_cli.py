"""Tests for the command line: alignlimits frontier FILE (alignlimits.cli)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from alignlimits import cli, estimator


@pytest.fixture
def rewards_file(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    ids = np.repeat([f"p{i}" for i in range(6)], 120)
    r = np.round(rng.normal(size=ids.size), 6)
    path = tmp_path / "rewards.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["prompt_id", "completion", "reward"])  # extra columns are ignored
        w.writerows((i, "text, with a comma", repr(float(x))) for i, x in zip(ids, r, strict=True))
    return path, r, ids


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_agrees_with_the_library(rewards_file, capsys) -> None:
    path, r, ids = rewards_file
    code, out, _ = run(["frontier", str(path), "--betas", "0.5,1,2", "--json"], capsys)
    assert code == 0
    doc = json.loads(out)
    fit = estimator.estimate_frontier(r, [0.5, 1.0, 2.0], ids)
    assert doc["n_samples"] == r.size and doc["n_prompts"] == 6
    assert doc["kl_ceiling"] == pytest.approx(np.log(120))
    for key in ("kl", "reverse_kl", "gain", "jeffreys", "ess_min", "khat"):
        np.testing.assert_allclose([row[key] for row in doc["rows"]], getattr(fit, key), rtol=1e-12)
    assert [row["reliable"] for row in doc["rows"]] == fit.reliable.tolist()


def test_csv_and_table_agree_with_json(rewards_file, capsys) -> None:
    path, _, _ = rewards_file
    args = ["frontier", str(path), "--beta-min", "0.3", "--beta-max", "3", "--num", "5"]
    _, out_json, _ = run([*args, "--json"], capsys)
    _, out_csv, _ = run([*args, "--csv"], capsys)
    _, out_table, _ = run(args, capsys)
    rows_json = json.loads(out_json)["rows"]
    rows_csv = list(csv.DictReader(io.StringIO(out_csv)))
    assert len(rows_csv) == len(rows_json) == 5
    np.testing.assert_allclose([float(r["gain"]) for r in rows_csv], [r["gain"] for r in rows_json], rtol=0)
    np.testing.assert_allclose([r["beta"] for r in rows_json], np.geomspace(0.3, 3, 5))
    lines = out_table.strip().splitlines()
    header = lines[1].split()
    assert header[:5] == ["beta", "kl", "reverse_kl", "gain", "jeffreys"]
    table_gain = [float(line.split()[3]) for line in lines[2:7]]
    np.testing.assert_allclose(table_gain, [r["gain"] for r in rows_json], rtol=1e-3)


def test_bootstrap_columns_are_seeded(rewards_file, capsys) -> None:
    path, r, ids = rewards_file
    args = ["frontier", str(path), "--betas", "1,2", "--bootstrap", "200", "--seed", "3", "--json"]
    _, first, _ = run(args, capsys)
    _, second, _ = run(args, capsys)
    assert first == second
    rows = json.loads(first)["rows"]
    ci = estimator.bootstrap_frontier(r, [1.0, 2.0], ids, n_boot=200, rng=np.random.default_rng(3))
    np.testing.assert_allclose([row["gain_ci_low"] for row in rows], ci.gain_low)
    np.testing.assert_allclose([row["kl_ci_high"] for row in rows], ci.kl_high)
    assert all(row["gain_ci_low"] < row["gain"] < row["gain_ci_high"] for row in rows)


def test_kl_budgets(rewards_file, capsys) -> None:
    path, r, ids = rewards_file
    code, out, _ = run(["frontier", str(path), "--kl-budgets", "0.1,0.5", "--bootstrap", "50", "--csv"], capsys)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    expected = estimator.gain_at_budget(r, [0.1, 0.5], ids)
    np.testing.assert_allclose([float(row["gain"]) for row in rows], expected.gain, rtol=1e-12)
    np.testing.assert_allclose([float(row["kl"]) for row in rows], [0.1, 0.5], rtol=1e-9)
    assert "gain_ci_low" in rows[0] and "kl_ci_low" not in rows[0]


def test_unsupported_budget_exits_2_with_the_ceiling(rewards_file, capsys) -> None:
    path, _, _ = rewards_file
    code, out, err = run(["frontier", str(path), "--kl-budgets", "5"], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "never exceeds 4.78749" in err


def test_jsonl_without_prompt_ids(tmp_path: Path, capsys) -> None:
    r = np.random.default_rng(1).normal(size=300)
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(json.dumps({"reward": float(x)}) for x in r) + "\n\n")
    code, out, _ = run(["frontier", str(path), "--betas", "1", "--json"], capsys)
    assert code == 0
    assert json.loads(out)["rows"][0]["gain"] == pytest.approx(estimator.estimate_frontier(r, 1.0).gain, rel=1e-12)


def test_plot_writes_a_png(rewards_file, tmp_path: Path, capsys) -> None:
    path, _, _ = rewards_file
    png = tmp_path / "f.png"
    code, _, _ = run(["frontier", str(path), "--num", "6", "--bootstrap", "20", "--plot", str(png)], capsys)
    assert code == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


MALFORMED_CSV = [
    ("", "file is empty"),
    ("prompt_id,score\na,1\n", "line 1: no 'reward' column"),
    ("prompt_id,reward\n", "no data rows"),
    ("prompt_id,reward\na,1\na,abc\n", "line 3: reward 'abc' is not a number"),
    ("prompt_id,reward\na,1\na,nan\n", "line 3: reward is 'nan'"),
    ("prompt_id,reward\na,1\nb,1\nb,-inf\n", "line 4: reward is '-inf'"),
    ("prompt_id,reward\na,1\na,\n", "line 3: reward is empty"),
    ("prompt_id,reward\na,1\n,2\n", "line 3: prompt_id is empty"),
    ("prompt_id,reward\na,1\na,2,3\n", "line 3: more fields"),
]


@pytest.mark.parametrize(("text", "message"), MALFORMED_CSV)
def test_malformed_csv_names_the_line(tmp_path: Path, capsys, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    code, out, err = run(["frontier", str(path)], capsys)
    assert code == 2 and out == ""
    assert err.startswith("alignlimits: error: ") and err.count("\n") == 1
    assert message in err and "bad.csv" in err


MALFORMED_JSONL = [
    ('{"reward": 1}\n{"reward": 2\n', "line 2: not valid JSON"),
    ('{"reward": 1}\n[1, 2]\n', "line 2: expected a JSON object"),
    ('{"reward": 1}\n\n{"score": 2}\n', "line 3: no 'reward' key"),
    ('{"reward": 1}\n{"reward": "x"}\n', "line 2: reward 'x' is not a number"),
    ('{"reward": 1}\n{"reward": NaN}\n', "line 2: reward is nan"),
    ('{"reward": true}\n', "line 1: reward True is not a number"),
    ('{"reward": 1, "prompt_id": "a"}\n{"reward": 2}\n', "line 2: prompt_id is given on some lines"),
    ("\n\n", "no data rows"),
]


@pytest.mark.parametrize(("text", "message"), MALFORMED_JSONL)
def test_malformed_jsonl_names_the_line(tmp_path: Path, capsys, text: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    code, out, err = run(["frontier", str(path)], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--betas", "0,1"], "must be > 0"),
        (["--betas", "1", "--beta-min", "0.1"], "not both"),
        (["--beta-min", "2", "--beta-max", "1"], "--beta-min <= --beta-max"),
        (["--kl-budgets", "0.1", "--betas", "1"], "not both"),
        (["--kl-budgets", "-1"], ">= 0"),
        (["--bootstrap", "1"], "at least 2"),
        (["--level", "2", "--bootstrap", "10"], "--level"),
        (["--plot", "x.pdf"], ".png"),
        (["--num", "0"], "--num"),
    ],
)
def test_bad_options_exit_2(rewards_file, capsys, extra: list[str], message: str) -> None:
    path, _, _ = rewards_file
    code, _, err = run(["frontier", str(path), *extra], capsys)
    assert code == 2 and err.count("\n") == 1 and message in err


@pytest.mark.parametrize(
    "argv",
    [["frontier"], ["frontier", "x.csv", "--betas", "abc"], ["frontier", "x.csv", "--json", "--csv"], ["nope"], []],
)
def test_usage_errors_are_one_line_and_exit_2(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and err.startswith("alignlimits")


def test_missing_file_and_unknown_type(tmp_path: Path, capsys) -> None:
    code, _, err = run(["frontier", str(tmp_path / "none.csv")], capsys)
    assert code == 2 and "no such file" in err
    (tmp_path / "r.txt").write_text("reward\n1\n")
    code, _, err = run(["frontier", str(tmp_path / "r.txt")], capsys)
    assert code == 2 and ".csv or .jsonl" in err


def test_constant_rewards_are_explained(tmp_path: Path, capsys) -> None:
    path = tmp_path / "c.csv"
    path.write_text("reward\n1\n1\n1\n")
    code, _, err = run(["frontier", str(path)], capsys)
    assert code == 2 and "constant" in err


def test_python_dash_m_and_help() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "alignlimits", "frontier", "--help"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0
    for word in ("prompt_id", "reward", "--kl-budgets", "--bootstrap", "--json", "--csv", "--plot", "khat", "log("):
        assert word in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "alignlimits", "frontier", "nope.csv"], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and bad.stderr.count("\n") == 1


def test_example_file_is_reproducible(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "tools"))
    try:
        import make_example_rewards as mk
    finally:
        sys.path.pop(0)
    ids, rewards = mk.make_rewards(np.random.default_rng(mk.SEED))
    shipped, shipped_ids = cli.read_rewards(root / "book" / "data" / "example_rewards.csv")
    np.testing.assert_array_equal(shipped_ids, ids)
    np.testing.assert_allclose(shipped, rewards, atol=5e-5)


# ----------------------------------------------------------------------------- --certify


@pytest.fixture
def bounded_file(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    ids = np.repeat([f"p{i}" for i in range(3)], 80)
    r = np.round(rng.beta(2.0, 5.0, size=ids.size), 6)
    path = tmp_path / "bounded.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["prompt_id", "reward"])
        w.writerows((i, repr(float(x))) for i, x in zip(ids, r, strict=True))
    return path, r, ids


def test_certify_json_agrees_with_the_library(bounded_file, capsys) -> None:
    from alignlimits import certify

    path, r, ids = bounded_file
    argv = ["frontier", str(path), "--kl-budgets", "0.1,0.5", "--certify", "--reward-range", "0,1", "--level", "0.9"]
    code, out, _ = run([*argv, "--json"], capsys)
    assert code == 0
    doc = json.loads(out)
    bound = certify.certified_gain(r, [0.1, 0.5], (0.0, 1.0), level=0.9, prompt_ids=ids)
    np.testing.assert_allclose([row["certified_low"] for row in doc["rows"]], bound.lower, rtol=1e-12)
    np.testing.assert_allclose([row["certified_high"] for row in doc["rows"]], bound.upper, rtol=1e-12)
    assert doc["certify"]["level"] == 0.9 and doc["certify"]["reward_range"] == [0.0, 1.0]
    assert "Bonferroni over 3 prompts" in doc["certify"]["method"]
    for row in doc["rows"]:
        assert row["certified_low"] <= row["gain"] <= row["certified_high"]
    _, table, _ = run(argv, capsys)
    assert "certified_low" in table and "90% distribution-free bounds" in table
    _, out_csv, _ = run([*argv, "--csv"], capsys)
    assert next(iter(csv.DictReader(io.StringIO(out_csv)))).keys() >= {"certified_low", "certified_high"}


def test_certify_on_a_beta_grid_uses_each_rows_kl(bounded_file, capsys) -> None:
    path, _, _ = bounded_file
    code, out, _ = run(["frontier", str(path), "--num", "3", "--certify", "--reward-range", "0,1", "--json"], capsys)
    assert code == 0
    for row in json.loads(out)["rows"]:
        assert 0 <= row["certified_low"] <= row["gain"] <= row["certified_high"] <= 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--certify"], "needs --reward-range"),
        (["--reward-range", "0,1"], "only with --certify"),
        (["--certify", "--reward-range", "0,1,2"], "two numbers"),
        (["--certify", "--reward-range", "1,0"], "a < b"),
        (["--certify", "--reward-range", "0,0.5"], "outside the stated reward_range"),
        (["--certify", "--reward-range", "0,1", "--level", "1.5"], "--level must be between 0 and 1"),
    ],
)
def test_certify_bad_input_exits_2(bounded_file, capsys, extra: list[str], message: str) -> None:
    path, _, _ = bounded_file
    code, _, err = run(["frontier", str(path), "--num", "2", *extra], capsys)
    assert code == 2 and message in err and err.count("\n") == 1
