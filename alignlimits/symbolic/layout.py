r"""Long SymPy results laid out over several lines, so that a displayed equation fits the page.

SymPy renders an expression as one line of LaTeX however long it is, and MathJax 3 does
not break lines, so an identity over three or four outcomes runs past the book's text
column. :func:`aligned` breaks an equation (or an expression) at its top-level ``+``
and ``−`` signs — inside a product, or in a fraction's numerator, when one term alone is
too long — into an ``aligned`` block, continuation lines indented. Only the layout
changes: the LaTeX says the same thing, and the object keeps the expression.

Line length is measured in characters of SymPy's Unicode pretty-printed form
(:func:`sympy.pretty`), which, like the typeset formula, counts a fraction as wide as its
wider part; ``tools/check_overflow.py`` checks the result in a browser.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

__all__ = ["WIDTH", "Aligned", "aligned"]

#: Default line length in pretty-printed characters: at most ~650 px of MathJax at the book's font
#: size (measured 8-13 px per character), inside the 676 px of a code cell's output at 1280 px.
WIDTH = 50


def _width(expr: sp.Basic) -> int:
    return max(len(line) for line in sp.pretty(expr, use_unicode=True, wrap_line=False).splitlines())


def _factor(expr: sp.Basic) -> str:
    # A sum inside a product needs its parentheses; sympy.latex(sum) alone has none.
    return rf"\left({sp.latex(expr)}\right)" if isinstance(expr, sp.Add) else sp.latex(expr)


def _pieces(expr: sp.Basic, width: int) -> list[tuple[str, int]]:
    """LaTeX pieces, with their widths, whose concatenation is ``expr``; a line may break between any two."""
    if _width(expr) <= width or not isinstance(expr, sp.Add | sp.Mul):
        return [(sp.latex(expr), _width(expr))]
    if isinstance(expr, sp.Add):
        out: list[tuple[str, int]] = []
        for i, term in enumerate(expr.as_ordered_terms()):
            negative = i > 0 and term.could_extract_minus_sign()
            parts = _pieces(-term if negative else term, width)
            if i:
                text, w = parts[0]
                parts[0] = (("- " if negative else "+ ") + text, w + 2)
            out += parts
        return out
    # A product: break its widest sum (for a fraction, the numerator's), the other factors in front.
    numerator, denominator = sp.fraction(expr)
    factors = list(sp.Mul.make_args(numerator))
    sums = [f for f in factors if isinstance(f, sp.Add)]
    inner = max(sums, key=_width, default=None)
    if inner is None or _width(inner) <= width // 2:
        return [(sp.latex(expr), _width(expr))]  # the long part is not a sum: breaking would not help
    rest = sp.Mul(*(f for f in factors if f is not inner))
    prefix = "" if denominator == 1 else rf"\frac{{1}}{{{sp.latex(denominator)}}}"
    prefix += {1: "", -1: "-"}.get(rest, _factor(rest))
    parts = _pieces(inner, width)
    last, w = parts[-1]
    parts[-1] = (last + r" \Big)", w + 1)
    # The factors in front are a piece of their own: a line may break right after "(".
    return [(prefix + r" \Big(", (_width(denominator) if denominator != 1 else 0) + _width(rest) + 1), *parts]


def _lines(pieces: list[tuple[str, int]], width: int) -> list[str]:
    lines: list[list[str]] = [[]]
    used = 0
    for text, w in pieces:
        if lines[-1] and used + w > width:
            lines.append([])
            used = 0
        lines[-1].append(text)
        used += w
    return [" ".join(line) for line in lines]


def _more(line: str) -> str:
    # A continuation line, indented; "{}" before its leading sign keeps that a binary operator.
    return r"&\quad " + ("{}" if line[:1] in "+-" else "") + line


@dataclass(frozen=True)
class Aligned:
    """A SymPy expression or equation and its LaTeX laid out over lines (``latex``); Jupyter shows it typeset.

    Printed (``str``), it is the expression as SymPy prints it. Build one with :func:`aligned`.

    Examples
    --------
    >>> a = aligned(sp.Eq(sp.Symbol("y"), sp.Symbol("x") + 1))
    >>> a.latex, str(a)
    ('y = x + 1', 'Eq(y, x + 1)')
    """

    expr: sp.Basic
    latex: str

    def _repr_latex_(self) -> str:
        return rf"$\displaystyle {self.latex}$"

    def __str__(self) -> str:
        return str(self.expr)

    def __repr__(self) -> str:
        return str(self.expr)


def aligned(expr: sp.Basic, width: int = WIDTH) -> Aligned:
    r"""``expr`` (an expression or a :class:`sympy.Eq`) laid out over lines of at most ``width`` characters.

    A result that fits stays on one line. An equation whose left side is short keeps it
    and aligns the right side's lines after the ``=``; otherwise the left side's lines come
    first and each side's continuation lines are indented. A single term wider than
    ``width`` that is neither a sum nor a product containing one (say ``log`` of a long
    sum) stays whole.

    Examples
    --------
    >>> x = sp.symbols("x1:7")
    >>> print(aligned(sp.Eq(sp.Symbol("S"), sum(x) - x[0] * (x[1] + x[2])), width=20).latex)
    \begin{aligned}S &= - x_{1} \left(x_{2} + x_{3}\right)\\
    &\quad {}+ x_{1} + x_{2} + x_{3} + x_{4}\\
    &\quad {}+ x_{5} + x_{6}\end{aligned}
    >>> print(aligned(-sp.Symbol("b") * sum(x), width=12).latex)
    \begin{aligned}&- b \Big( x_{1} + x_{2}\\
    &\quad {}+ x_{3} + x_{4} + x_{5}\\
    &\quad {}+ x_{6} \Big)\end{aligned}
    >>> print(aligned(sp.Eq(sp.Symbol("S"), x[0] + x[1]), width=20).latex)
    S = x_{1} + x_{2}
    """
    if _width(expr) <= width:
        return Aligned(expr, sp.latex(expr))
    if not isinstance(expr, sp.Equality):
        lines = _lines(_pieces(expr, width), width)
        rows = ["&" + lines[0], *map(_more, lines[1:])]
    elif _width(expr.lhs) <= width // 3:
        lines = _lines(_pieces(expr.rhs, width - _width(expr.lhs) - 3), width - _width(expr.lhs) - 3)
        rows = [f"{sp.latex(expr.lhs)} &= {lines[0]}", *map(_more, lines[1:])]
    else:
        left = _lines(_pieces(expr.lhs, width), width)
        right = _lines(_pieces(expr.rhs, width - 2), width - 2)
        rows = ["&" + left[0], *map(_more, left[1:]), "&= " + right[0],
                *map(_more, right[1:])]  # fmt: skip
    return Aligned(expr, r"\begin{aligned}" + "\\\\\n".join(rows) + r"\end{aligned}")
