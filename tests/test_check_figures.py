"""tools/check_figures.py: a chapter's figures must exist and read in the text column."""

import importlib.util
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("check_figures", ROOT / "tools" / "check_figures.py")
check_figures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_figures)


def _site(tmp_path, images):
    """A built site whose objective chapter shows `images` (name -> writer)."""
    html = tmp_path / "html"
    (html / "book").mkdir(parents=True)
    (html / "_images").mkdir()
    tags = []
    for name, write in images.items():
        write(html / "_images" / name)
        tags.append(f'<img alt="" src="../_images/{name}" />')
    (html / "book" / "objective.html").write_text("<html>" + "".join(tags) + "</html>", encoding="utf-8")
    return html


def _figure(width_in, fmt, dpi=150):
    def write(path):
        # the full figure, whatever style an earlier test left (the book's crops to a tight box)
        with plt.rc_context({"savefig.bbox": "standard"}):
            fig = plt.figure(figsize=(width_in, 3))
            fig.add_subplot().plot([0, 1])
            fig.savefig(path, format=fmt, dpi=dpi)
            plt.close(fig)

    return write


def test_column_wide_svg_passes(tmp_path, capsys):
    assert check_figures.main(str(_site(tmp_path, {"a.svg": _figure(7.0, "svg")}))) == 0
    assert "1 figures on 1 chapter pages: 0 problems" in capsys.readouterr().out


def test_wide_figures_low_dpi_bitmaps_and_missing_images_fail(tmp_path, capsys):
    site = _site(tmp_path, {"wide.svg": _figure(13.0, "svg"), "blurry.png": _figure(6.0, "png", dpi=100),
                            "sharp.png": _figure(6.0, "png", dpi=200)})
    (site / "book" / "objective.html").write_text(
        (site / "book" / "objective.html").read_text() + '<img src="../_images/gone.svg" />', encoding="utf-8")
    assert check_figures.main(str(site)) == 1
    out = capsys.readouterr().out
    assert "wide.svg is 13.0 in wide" in out and "blurry.png is a PNG of 100" in out
    assert "gone.svg is missing" in out and "sharp.png" not in out


def test_a_page_without_images_fails(tmp_path, capsys):
    assert check_figures.main(str(_site(tmp_path, {}))) == 1
    assert "draws figures but the page shows none" in capsys.readouterr().out
