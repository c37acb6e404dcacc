"""Tests for the command line: alignlimits frontier FILE (alignlimits.cli)."""

from __future__ import annotations

import csv
import io
import json
import os
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


def test_a_table_wider_than_the_terminal_is_printed_in_blocks(rewards_file, capsys, monkeypatch) -> None:
    path, _, _ = rewards_file
    args = ["frontier", str(path), "--betas", "0.5,1,2", "--bootstrap", "20"]

    def table(columns: int) -> list[list[str]]:
        monkeypatch.setenv("COLUMNS", str(columns))
        lines = run(args, capsys)[1].splitlines()[2:]  # after the summary and the interval lines
        lines = [line for line in lines if not line.startswith("rows with reliable")]
        return [block.splitlines() for block in "\n".join(lines).split("\n\n")]

    (wide,) = table(300)
    header = wide[0].split()
    assert len(header) > 10 and len(wide) == 1 + 3
    narrow = table(60)
    assert len(narrow) > 1 and all(len(block) == 1 + 3 for block in narrow)
    assert all(len(line) <= 60 for block in narrow for line in block)
    # every block is led by beta, and together they hold each other column once, in order
    heads = [block[0].split() for block in narrow]
    assert all(h[0] == "beta" for h in heads)
    assert [c for h in heads for c in h[1:]] == header[1:]
    betas = [row.split()[0] for row in wide[1:]]
    assert all([row.split()[0] for row in block[1:]] == betas for block in narrow)


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


# ----------------------------------------------------------------------------- bad input, everywhere (issue 19)

try:
    import pyarrow  # noqa: F401

    HAVE_PYARROW = True
except ImportError:
    HAVE_PYARROW = False

needs_pyarrow = pytest.mark.skipif(not HAVE_PYARROW, reason="pyarrow is not installed")


def _good_csv() -> bytes:
    """3 prompts x 40 rewards in [0, 1]: good enough for every option, so each case fails for its own reason."""
    rng = np.random.default_rng(7)
    rewards = np.round(rng.uniform(size=120), 6)
    lines = ["prompt_id,reward", *(f"p{i // 40},{float(x)!r}" for i, x in enumerate(rewards))]
    return ("\n".join(lines) + "\n").encode()


GOOD = _good_csv()
CSV_HEAD = b"prompt_id,reward\na,0.5\n"

# (files written into the test's folder, argv with {d} for that folder, bytes on stdin, the message).
# Every case must exit with status 2, print nothing on stdout, and print exactly one line on stderr
# that starts 'alignlimits: error: ' and contains the message.
BAD_INPUT = [
    # --- values in the file
    pytest.param({"r.csv": CSV_HEAD + b"a,abc\n"}, ["{d}/r.csv"], None, "line 3: reward 'abc' is not a number",
                 id="value-not-a-number"),
    pytest.param({"r.csv": CSV_HEAD + b"a,nan\n"}, ["{d}/r.csv"], None, "line 3: reward is 'nan'", id="value-nan"),
    pytest.param({"r.csv": CSV_HEAD + b"a,inf\n"}, ["{d}/r.csv"], None, "rewards must be finite", id="value-inf"),
    pytest.param({"r.csv": CSV_HEAD + b"a,1e999\n"}, ["{d}/r.csv"], None, "rewards must be finite",
                 id="value-overflows-to-inf"),
    pytest.param({"r.csv": CSV_HEAD + b"a, \n"}, ["{d}/r.csv"], None, "line 3: reward is empty", id="value-empty"),
    pytest.param({"r.jsonl": b'{"reward": 1}\n{"reward": true}\n'}, ["{d}/r.jsonl"], None,
                 "line 2: reward True is not a number", id="value-bool"),
    pytest.param({"r.jsonl": b'{"reward": [1]}\n'}, ["{d}/r.jsonl"], None, "reward [1] is not a number",
                 id="value-list"),
    pytest.param({"r.jsonl": b'{"reward": 1' + b"0" * 400 + b"}\n"}, ["{d}/r.jsonl"], None,
                 "line 1: reward is too large for a float", id="value-huge-int"),
    pytest.param({"r.jsonl": b'{"reward": 1' + b"0" * 5000 + b"}\n"}, ["{d}/r.jsonl"], None,
                 "line 1: not valid JSON", id="value-int-over-digit-limit"),
    pytest.param({"r.jsonl": b'{"reward": Infinity}\n'}, ["{d}/r.jsonl"], None, "reward is inf",
                 id="value-json-infinity"),
    pytest.param({"r.csv": CSV_HEAD + b",0.5\n"}, ["{d}/r.csv"], None, "line 3: prompt_id is empty",
                 id="value-empty-prompt"),
    pytest.param({"r.csv": b"reward\n1\n1\n1\n"}, ["{d}/r.csv"], None, "constant", id="value-constant-rewards"),
    pytest.param({"r.csv": CSV_HEAD + b"a,1,2\n"}, ["{d}/r.csv"], None, "line 3: more fields",
                 id="value-extra-field"),
    pytest.param({"r.csv": CSV_HEAD + b"a,0.\x005\n"}, ["{d}/r.csv"], None, "reward '0.\\x005' is not a number",
                 id="value-nul-byte"),
    pytest.param({"r.csv": CSV_HEAD + b"a," + b"1" * 200_000 + b"\n"}, ["{d}/r.csv"], None,
                 "line 3: not valid CSV (field larger than field limit", id="value-field-too-large"),
    # --- columns
    pytest.param({"r.csv": b"prompt_id,score\na,1\n"}, ["{d}/r.csv"], None,
                 "line 1: no 'reward' column (found: 'prompt_id', 'score'); name the column with --reward-column",
                 id="column-reward-missing"),
    pytest.param({"r.csv": b"reward,reward\n1,2\n"}, ["{d}/r.csv"], None, "column 'reward' appears 2 times",
                 id="column-reward-duplicated"),
    pytest.param({"r.csv": b"prompt_id,prompt_id,reward\na,b,1\n"}, ["{d}/r.csv"], None,
                 "column 'prompt_id' appears 2 times", id="column-prompt-duplicated"),
    pytest.param({"r.jsonl": b'{"reward": 1, "reward": 2}\n'}, ["{d}/r.jsonl"], None,
                 "line 1: key 'reward' appears 2 times", id="column-json-key-duplicated"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--reward-column", "score"], None,
                 "no 'score' column (found: 'prompt_id', 'reward')", id="column-named-reward-missing"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--prompt-column", "question"], None,
                 "no 'question' column (found: 'prompt_id', 'reward'); name the column with --prompt-column",
                 id="column-named-prompt-missing"),
    pytest.param({"r.jsonl": b'{"reward": 1, "q": "a"}\n{"reward": 2}\n'}, ["{d}/r.jsonl", "--prompt-column", "q"],
                 None, "line 2: no 'q' key (found: reward)", id="column-named-prompt-missing-jsonl"),
    pytest.param({"r.jsonl": b'{"score": 1}\n'}, ["{d}/r.jsonl", "--reward-column", "points"], None,
                 "line 1: no 'points' key (found: score)", id="column-named-reward-missing-jsonl"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--reward-column", ""], None, "--reward-column needs a column name",
                 id="column-empty-name"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--reward-column", "reward", "--prompt-column", "reward"], None,
                 "they must differ", id="column-same-for-both"),
    pytest.param({"r.jsonl": b'{"reward": 1, "prompt_id": "a"}\n{"reward": 2}\n'}, ["{d}/r.jsonl"], None,
                 "line 2: prompt_id is given on some lines", id="column-prompt-on-some-lines"),
    # --- files and paths
    pytest.param({}, ["{d}/none.csv"], None, "none.csv: no such file", id="file-missing"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv/x.csv"], None, "no such file", id="file-under-a-file"),
    pytest.param({"sub/x.csv": GOOD}, ["{d}/sub"], None, "sub: is a directory; give a rewards file",
                 id="file-is-a-directory"),
    pytest.param({}, [""], None, "REWARDS is empty", id="file-empty-name"),
    pytest.param({"r.csv": b""}, ["{d}/r.csv"], None, "the file is empty", id="file-empty-csv"),
    pytest.param({"r.jsonl": b""}, ["{d}/r.jsonl"], None, "the file is empty", id="file-empty-jsonl"),
    pytest.param({"r.csv": b"prompt_id,reward\n\n"}, ["{d}/r.csv"], None, "no data rows", id="file-header-only"),
    pytest.param({"r.jsonl": b"\n \n"}, ["{d}/r.jsonl"], None, "no data rows", id="file-blank-lines"),
    pytest.param({"r.csv": b"prompt_id,reward\na,\xff\n"}, ["{d}/r.csv"], None,
                 "not UTF-8 text (byte 0xff at offset 19)", id="file-bad-utf8"),
    pytest.param({"r.jsonl": b'{"reward": 1}\n{"reward": 2\n'}, ["{d}/r.jsonl"], None, "line 2: not valid JSON",
                 id="file-bad-json"),
    pytest.param({"r.jsonl": b"[1, 2]\n"}, ["{d}/r.jsonl"], None, "line 1: expected a JSON object",
                 id="file-json-not-an-object"),
    # --- formats and standard input
    pytest.param({"r.txt": GOOD}, ["{d}/r.txt"], None, "cannot tell the file type from the suffix '.txt'",
                 id="format-unknown-suffix"),
    pytest.param({"rewards": GOOD}, ["{d}/rewards"], None, "suffix '(none)'", id="format-no-suffix"),
    pytest.param({}, ["-"], GOOD, "reading standard input ('-') needs --format", id="format-stdin-without"),
    pytest.param({}, ["-", "--format", "xml"], GOOD, "argument --format: invalid choice: 'xml'",
                 id="format-unknown-choice"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--format", "jsonl"], None, "r.csv line 1: not valid JSON",
                 id="format-wrong-for-file"),
    pytest.param({}, ["-", "--format", "csv"], b"", "<stdin>: the file is empty", id="format-stdin-empty"),
    pytest.param({}, ["-", "--format", "csv"], b"prompt_id,reward\na,x\n", "<stdin> line 2: reward 'x'",
                 id="format-stdin-bad-value"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--format", "parquet"], None,
                 "not a readable Parquet file" if HAVE_PYARROW else "pip install pyarrow", id="format-not-parquet"),
    pytest.param({"r.parquet": b"PAR1 not really"}, ["{d}/r.parquet"], None,
                 "not a readable Parquet file" if HAVE_PYARROW else "pip install pyarrow", id="format-bad-parquet"),
    # --- output locations
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--plot", "{d}/f.pdf"], None, "--plot needs a .png file name",
                 id="output-plot-not-png"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--plot", ".png"], None, "--plot needs a .png file name",
                 id="output-plot-bare-suffix"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--plot", "{d}/no/such/f.png"], None, "does not exist",
                 id="output-plot-missing-folder"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--plot", "{d}/r.csv/f.png"], None, "is not a folder",
                 id="output-plot-under-a-file"),
    pytest.param({"r.csv": GOOD, "f.png/x": b""}, ["{d}/r.csv", "--plot", "{d}/f.png"], None, "is a directory",
                 id="output-plot-is-a-directory"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--json", "--csv"], None, "not allowed with argument",
                 id="output-json-and-csv"),
    # --- option values and ranges
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--betas", "abc"], None, "expected comma-separated numbers",
                 id="range-betas-not-numbers"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--betas", "1,nan"], None, "expected finite numbers",
                 id="range-betas-nan"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--betas", "0,1"], None, "must be > 0", id="range-betas-zero"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--betas", "-1"], None, "must be > 0", id="range-betas-negative"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--betas", ","], None, "expected at least one number",
                 id="range-betas-empty"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--betas", "1", "--beta-min", "0.1"], None, "not both",
                 id="range-betas-and-grid"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--beta-min", "2", "--beta-max", "1"], None,
                 "--beta-min <= --beta-max", id="range-beta-min-above-max"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--beta-min", "0"], None, "0 < --beta-min",
                 id="range-beta-min-zero"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--beta-max", "inf"], None, "expected a finite number",
                 id="range-beta-max-inf"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--num", "0"], None, "--num must be at least 1", id="range-num-0"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--num", "2.5"], None, "argument --num: invalid int value",
                 id="range-num-not-int"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--kl-budgets", "-1"], None, ">= 0", id="range-budget-negative"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--kl-budgets", "inf"], None, "expected finite numbers",
                 id="range-budget-inf"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--kl-budgets", "5"], None, "never exceeds 3.6888",
                 id="range-budget-above-ceiling"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--kl-budgets", "0.1", "--betas", "1"], None, "not both",
                 id="range-budgets-and-betas"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--bootstrap", "1"], None, "at least 2", id="range-bootstrap-1"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--bootstrap", "-5"], None, "at least 2",
                 id="range-bootstrap-negative"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--level", "1"], None, "--level must be between 0 and 1",
                 id="range-level-1"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--level", "nan"], None, "expected a finite number",
                 id="range-level-nan"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--seed", "-1"], None, "--seed must be a non-negative integer",
                 id="range-seed-negative"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--min-ess", "0.5"], None, "--min-ess must be at least 1",
                 id="range-min-ess"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--min-reliable-fraction", "1.5"], None,
                 "--min-reliable-fraction must be in (0, 1]", id="range-min-reliable-fraction"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--certify"], None, "needs --reward-range",
                 id="range-certify-without-range"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--reward-range", "0,1"], None, "only with --certify",
                 id="range-range-without-certify"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--certify", "--reward-range", "0,1,2"], None, "two numbers",
                 id="range-range-three-numbers"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--certify", "--reward-range", "1,0"], None, "a < b",
                 id="range-range-reversed"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--certify", "--reward-range", "0,0.5"], None,
                 "outside the stated reward_range", id="range-rewards-outside-range"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--certify", "--reward-range=nan,1"], None,
                 "expected finite numbers", id="range-range-nan"),
    pytest.param({"r.csv": GOOD}, ["{d}/r.csv", "--frobnicate"], None, "unrecognized arguments: --frobnicate",
                 id="option-unknown"),
]  # fmt: skip


def run_any(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Like ``run``, but a usage error (argparse's SystemExit) is an exit status too."""
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


def _stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALIGNLIMITS_DEBUG", raising=False)  # a developer's shell must not change the exit codes


@pytest.mark.parametrize(("files", "argv", "stdin", "message"), BAD_INPUT)
def test_bad_input_gets_one_line_and_exit_2(
    tmp_path: Path, capsys, monkeypatch, files: dict[str, bytes], argv: list[str], stdin: bytes | None, message: str
) -> None:
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    _stdin(monkeypatch, stdin or b"")
    code, out, err = run_any(["frontier", *(a.format(d=tmp_path) for a in argv)], capsys)
    assert (code, out) == (2, ""), err
    assert err.startswith("alignlimits: error: ") and err.count("\n") == 1, err
    assert message in err, err


def test_the_bad_input_table_covers_every_kind() -> None:
    kinds = {p.id.split("-")[0] for p in BAD_INPUT}
    assert kinds >= {"value", "column", "file", "format", "output", "range"}
    assert len(BAD_INPUT) >= 60 and len({p.id for p in BAD_INPUT}) == len(BAD_INPUT)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads and writes anything")
def test_unreadable_file_and_unwritable_plot_folder(tmp_path: Path, capsys) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(GOOD)
    path.chmod(0)
    code, _, err = run(["frontier", str(path)], capsys)
    assert code == 2 and "permission denied" in err and err.count("\n") == 1
    path.chmod(0o644)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    code, out, err = run(["frontier", str(path), "--plot", str(locked / "f.png")], capsys)
    assert code == 2 and out == "" and "--plot: permission denied" in err


def test_permission_errors_even_as_root(tmp_path: Path, capsys, monkeypatch) -> None:
    # root ignores file modes, so the same two paths once more with the refusals simulated
    path = tmp_path / "r.csv"
    path.write_bytes(GOOD)

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied")

    with monkeypatch.context() as m:
        m.setattr(Path, "read_bytes", refuse)
        code, _, err = run(["frontier", str(path)], capsys)
    assert code == 2 and err == f"alignlimits: error: {path}: permission denied; cannot read it.\n"
    monkeypatch.setattr(cli.os, "access", lambda *args: False)
    code, out, err = run(["frontier", str(path), "--plot", str(tmp_path / "f.png")], capsys)
    assert code == 2 and out == "" and "--plot: permission denied" in err and err.count("\n") == 1


def test_plot_write_failing_late_is_input_error(rewards_file, tmp_path: Path, capsys, monkeypatch) -> None:
    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cli, "_plot", fail)
    path, _, _ = rewards_file
    code, _, err = run(["frontier", str(path), "--num", "3", "--plot", str(tmp_path / "f.png")], capsys)
    assert code == 2 and "--plot: cannot write" in err and "No space left" in err and err.count("\n") == 1


# ----------------------------------------------------------------------------- standard input and columns


def _frontier_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    code, out, err = run(["frontier", *argv, "--betas", "0.5,2", "--json"], capsys)
    assert code == 0, err
    return json.loads(out)


def test_stdin_csv_and_jsonl_match_the_file(rewards_file, capsys, monkeypatch) -> None:
    path, r, ids = rewards_file
    from_file = _frontier_json([str(path)], capsys)
    _stdin(monkeypatch, path.read_bytes())
    from_csv = _frontier_json(["-", "--format", "csv"], capsys)
    jsonl = "".join(json.dumps({"prompt_id": i, "reward": float(x)}) + "\n" for i, x in zip(ids, r, strict=True))
    _stdin(monkeypatch, jsonl.encode())
    from_jsonl = _frontier_json(["-", "--format", "jsonl"], capsys)
    assert from_csv["rows"] == from_file["rows"] == from_jsonl["rows"]
    assert from_csv["file"] == "-" and from_csv["options"]["format"] == "csv"
    assert from_jsonl["options"]["format"] == "jsonl" and from_file["options"]["format"] == "csv"


def test_stdin_through_a_real_pipe(rewards_file) -> None:
    path, _, _ = rewards_file
    argv = [sys.executable, "-m", "alignlimits", "frontier", "-", "--format", "csv", "--betas", "1", "--csv"]
    proc = subprocess.run(argv, input=path.read_bytes(), capture_output=True, check=False)
    assert proc.returncode == 0 and proc.stdout.decode().startswith("beta,kl,reverse_kl,gain")


def test_format_overrides_the_suffix(rewards_file, tmp_path: Path, capsys) -> None:
    path, _, _ = rewards_file
    txt = tmp_path / "rewards.txt"
    txt.write_bytes(path.read_bytes())
    assert _frontier_json([str(txt), "--format", "csv"], capsys)["rows"] == _frontier_json([str(path)], capsys)["rows"]


def test_column_options(rewards_file, tmp_path: Path, capsys) -> None:
    path, r, ids = rewards_file
    renamed = tmp_path / "renamed.csv"
    renamed.write_text(path.read_text().replace("prompt_id,completion,reward", "question,completion,score", 1))
    doc = _frontier_json([str(renamed), "--reward-column", "score", "--prompt-column", "question"], capsys)
    assert doc["rows"] == _frontier_json([str(path)], capsys)["rows"]
    assert doc["n_prompts"] == 6
    assert doc["options"]["reward_column"] == "score" and doc["options"]["prompt_column"] == "question"
    # a prompt column that is not named is not used: without prompt_id every row is one prompt
    pooled = _frontier_json([str(renamed), "--reward-column", "score"], capsys)
    assert pooled["n_prompts"] == 1 and pooled["options"]["prompt_column"] is None
    gain = estimator.estimate_frontier(r, [0.5, 2.0]).gain
    np.testing.assert_allclose([row["gain"] for row in pooled["rows"]], gain, rtol=1e-12)
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text("".join(json.dumps({"q": i, "s": float(x)}) + "\n" for i, x in zip(ids, r, strict=True)))
    assert _frontier_json([str(jsonl), "--reward-column", "s", "--prompt-column", "q"], capsys)["rows"] == doc["rows"]


def test_read_rewards_keeps_its_positional_call(rewards_file) -> None:
    path, r, ids = rewards_file  # the book calls cli.read_rewards(path)
    rewards, prompts = cli.read_rewards(path)
    np.testing.assert_array_equal(rewards, r)
    np.testing.assert_array_equal(prompts, ids)


# ----------------------------------------------------------------------------- Parquet


@needs_pyarrow
def test_parquet_file_and_stdin_match_the_csv(rewards_file, tmp_path: Path, capsys, monkeypatch) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path, r, ids = rewards_file
    pq_path = tmp_path / "r.parquet"
    pq.write_table(pa.table({"question": ids.tolist(), "score": r}), pq_path)
    args = ["--reward-column", "score", "--prompt-column", "question"]
    doc = _frontier_json([str(pq_path), *args], capsys)
    assert doc["rows"] == _frontier_json([str(path)], capsys)["rows"]
    assert doc["options"]["format"] == "parquet"
    _stdin(monkeypatch, pq_path.read_bytes())
    assert _frontier_json(["-", "--format", "parquet", *args], capsys)["rows"] == doc["rows"]


@needs_pyarrow
def test_parquet_bad_values_name_the_row(tmp_path: Path, capsys) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cases = [
        (pa.table({"reward": [1.0, float("nan")]}), "row 2: reward is nan"),
        (pa.table({"reward": [1.0, None]}), "row 2: reward is empty"),
        (pa.table({"reward": ["1", "x"]}), "row 2: reward 'x' is not a number"),
        (pa.table({"score": [1.0]}), "no 'reward' column (found: 'score')"),
    ]
    for table, message in cases:
        pq.write_table(table, tmp_path / "r.parquet")
        code, _, err = run(["frontier", str(tmp_path / "r.parquet")], capsys)
        assert code == 2 and message in err and err.count("\n") == 1, err


def test_parquet_without_pyarrow_says_what_to_install(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    (tmp_path / "r.parquet").write_bytes(b"PAR1")
    code, out, err = run(["frontier", str(tmp_path / "r.parquet")], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("alignlimits: error: reading Parquet needs pyarrow") and "pip install pyarrow" in err


# ----------------------------------------------------------------------------- JSON schema and options


def test_json_carries_schema_version_and_every_option(bounded_file, capsys) -> None:
    import alignlimits

    path, _, _ = bounded_file
    argv = ["frontier", str(path), "--kl-budgets", "0.1,0.5", "--bootstrap", "20", "--seed", "4", "--level", "0.9",
            "--certify", "--reward-range", "0,1", "--min-ess", "5", "--min-reliable-fraction", "0.5",
            "--bias-correction", "--json"]  # fmt: skip
    code, out, _ = run(argv, capsys)
    assert code == 0
    doc = json.loads(out)
    assert list(doc)[:3] == ["schema", "schema_version", "alignlimits_version"]
    assert doc["schema"] == "alignlimits.cli.frontier" and doc["schema_version"] == 1
    assert doc["alignlimits_version"] == alignlimits.__version__
    # the keys readers had before the schema (tests, book/predicting-gains.md) are all still there
    assert {"file", "n_samples", "n_prompts", "samples_per_prompt_min", "kl_ceiling", "base_mean", "bootstrap",
            "level", "seed", "certify", "rows"} <= doc.keys()  # fmt: skip
    assert doc["options"] == {
        "format": "csv",
        "reward_column": "reward",
        "prompt_column": "prompt_id",
        "betas": None,
        "beta_min": None,
        "beta_max": None,
        "num": 20,
        "kl_budgets": [0.1, 0.5],
        "bootstrap": 20,
        "level": 0.9,
        "seed": 4,
        "min_ess": 5.0,
        "min_reliable_fraction": 0.5,
        "bias_correction": True,
        "certify": True,
        "reward_range": [0.0, 1.0],
    }


def test_json_options_record_the_grid(rewards_file, capsys) -> None:
    path, _, _ = rewards_file
    code, out, _ = run(["frontier", str(path), "--beta-min", "0.2", "--beta-max", "2", "--num", "4", "--json"], capsys)
    options = json.loads(out)["options"]
    assert code == 0 and (options["beta_min"], options["beta_max"], options["num"]) == (0.2, 2.0, 4)
    assert options["betas"] is None and options["certify"] is False and options["reward_range"] is None


# ----------------------------------------------------------------------------- internal errors


def test_internal_error_is_one_line_exit_1(rewards_file, capsys, monkeypatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(estimator, "estimate_frontier", boom)
    path, _, _ = rewards_file
    code, out, err = run(["frontier", str(path), "--betas", "1"], capsys)
    assert code == 1 and out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("alignlimits: internal error: RuntimeError: boom second line; please report it with the")
    monkeypatch.setenv("ALIGNLIMITS_DEBUG", "1")  # developers get the traceback
    with pytest.raises(RuntimeError, match="boom"):
        cli.main(["frontier", str(path), "--betas", "1"])


def test_a_type_error_is_internal_not_bad_input(rewards_file, capsys, monkeypatch) -> None:
    def bad(*args: object, **kwargs: object) -> None:
        raise TypeError("unsupported operand")

    monkeypatch.setattr(cli, "_write_table", bad)
    path, _, _ = rewards_file
    code, _, err = run(["frontier", str(path), "--betas", "1"], capsys)
    assert code == 1 and "internal error: TypeError: unsupported operand" in err


def test_interrupt_exits_130(rewards_file, capsys, monkeypatch) -> None:
    def stop(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(estimator, "estimate_frontier", stop)
    path, _, _ = rewards_file
    code, _, err = run(["frontier", str(path), "--betas", "1"], capsys)
    assert code == 130 and err == "alignlimits: interrupted\n"


def test_reader_gone_away_is_quiet(rewards_file) -> None:
    path, _, _ = rewards_file
    proc = subprocess.Popen(
        [sys.executable, "-m", "alignlimits", "frontier", str(path), "--num", "50"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like '| head' exiting before the table is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1 and err == ""


# ----------------------------------------------------------------------------- --version and experiments


def test_version(capsys) -> None:
    import alignlimits

    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out == f"alignlimits {alignlimits.__version__}\n"


def test_help_lists_experiments_and_stays_torch_free() -> None:
    code = (
        "import sys\nfrom alignlimits import cli\ntry:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('LOADED', 'torch' in sys.modules, 'alignlimits.experiments' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "experiments" in proc.stdout and "--version" in proc.stdout
    assert proc.stdout.strip().endswith("LOADED False False")


def test_experiments_subcommand_delegates(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["experiments", "frontier", "--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0 and "--task" in out and "--n-samples" in out
    code = cli.main(["experiments", "frontier", "--task", "safety", "--tier", "smoke", "--n-samples", "0"])
    err = capsys.readouterr().err
    assert code == 2 and "n_samples must be a positive integer" in err and err.count("\n") == 1


def test_experiments_internal_error_is_one_line(capsys, monkeypatch) -> None:
    from alignlimits.experiments import cli as experiments_cli

    def crash(argv: list[str]) -> int:
        raise RuntimeError("cuda went away")

    monkeypatch.setattr(experiments_cli, "main", crash)
    code = cli.main(["experiments", "rl", "--task", "safety"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("alignlimits: internal error: RuntimeError: cuda went away;")


def test_experiments_through_the_command_and_the_module() -> None:
    for argv in (["-m", "alignlimits", "experiments", "rl", "--help"], ["-m", "alignlimits.experiments", "rl", "-h"]):
        proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True, check=False)
        assert proc.returncode == 0 and "--kl-coefs" in proc.stdout, proc.stderr
