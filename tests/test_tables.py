"""Results tables: HTML for notebooks, aligned text for terminals, clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alignlimits.tables import MISSING, table


def test_text_aligns_numbers_right_and_words_left():
    t = table([{"law": "Gaussian", "n": 16, "error": -0.0240}, {"law": "Bernoulli(0.3)", "n": 64, "error": 0.5}],
              formats={"error": "+.4f"})  # fmt: skip
    lines = str(t).splitlines()
    assert lines[0].split() == ["law", "n", "error"]
    assert lines[1].startswith("Gaussian ") and lines[1].endswith("-0.0240")
    assert lines[2].endswith("+0.5000") and len({len(line) for line in lines[1:]}) == 1  # same width when aligned


def test_html_escapes_and_scrolls_instead_of_overflowing():
    t = table([["<b>&", 1.5]], ["name", "value"], caption="a < b")
    page = t._repr_html_()
    assert "&lt;b&gt;&amp;" in page and "<caption>a &lt; b</caption>" in page
    assert "overflow-x:auto" in page and page.count("<tr>") == 2
    assert 'text-align:right">1.5<' in page and 'text-align:left">&lt;b' in page


def test_missing_values_booleans_numpy_scalars_and_callable_formats():
    t = table([[np.float64("nan"), True, np.int64(3), 2.0]], ["a", "b", "c", "d"], formats={"d": lambda v: f"{v:g}x"})
    assert t.cells == [[MISSING, "yes", "3", "2x"]]
    assert table([[None]], ["a"]).cells == [[MISSING]] and math.isnan(float("nan"))


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (([[1, 2]], ["a"]), {}, "row 0 has 2 values"),
        (([{"a": 1}], ["a", "b"]), {}, r"row 0 lacks the columns \['b'\]"),
        (([[1]],), {}, "give columns="),
        (([[1]], ["a"]), {"formats": {"z": ".2f"}}, "formats name columns"),
    ],
)
def test_bad_tables_get_one_line_errors(args, kwargs, message):
    with pytest.raises(ValueError, match=message) as err:
        table(*args, **kwargs)
    assert "\n" not in str(err.value)
