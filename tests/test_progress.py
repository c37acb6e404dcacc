"""Progress bars: on in terminals, off in notebooks nobody watches; one false transformers warning dropped."""

import logging

import pytest

from alignlimits import progress


def test_terminal_keeps_bars_and_the_variable_forces_them(monkeypatch):
    monkeypatch.delenv(progress.ENV_VAR, raising=False)
    assert progress.show_progress() is True  # pytest is not a notebook
    assert progress.tqdm(range(3)).disable is False
    monkeypatch.setenv(progress.ENV_VAR, "0")
    assert progress.show_progress() is False
    bar = progress.tqdm(range(3))
    assert bar.disable is True and list(bar) == [0, 1, 2]
    assert progress.tqdm(range(3), disable=False).disable is False  # an explicit choice wins
    monkeypatch.setenv(progress.ENV_VAR, "on")
    with pytest.raises(ValueError, match="must be 1"):
        progress.show_progress()


def test_headless_notebook_shows_no_bar_and_live_one_does(tmp_path, monkeypatch):
    monkeypatch.delenv(progress.ENV_VAR, raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    import nbformat
    from nbclient import NotebookClient

    loop = "from alignlimits.progress import tqdm\nfor i in tqdm(range(3), desc='work'):\n    print(i)\n"
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(loop),  # nbclient: no frontend, as in the book build
        nbformat.v4.new_code_cell("import os, alignlimits.lm\nprint(os.environ.get('HF_HUB_DISABLE_PROGRESS_BARS'))"),
        # the smoke tier's tokenizer: tokenizers' own bar wrote blank lines between a chapter's prints
        nbformat.v4.new_code_cell("from alignlimits.lm import models\n_ = models.build_tokenizer(['a b c'] * 50, 300)"),
        nbformat.v4.new_code_cell("os.environ['JPY_SESSION_NAME'] = 'x'\n" + loop),  # as under a Jupyter server
    ]
    NotebookClient(nb, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    headless, hub, tokenizer, live = nb.cells
    assert tokenizer.outputs == []
    assert [o.output_type for o in headless.outputs] == ["stream"] and headless.outputs[0].name == "stdout"
    assert hub.outputs[0].text.strip() == "1"
    assert any(o.output_type == "display_data" or o.get("name") == "stderr" for o in live.outputs)


def test_the_false_padding_warning_is_dropped_and_others_pass(caplog):
    progress.quiet_hugging_face()
    progress.quiet_hugging_face()  # idempotent: one filter
    logger = logging.getLogger("transformers.modeling_utils")
    assert sum(isinstance(f, progress.PaddedCompletionFilter) for f in logger.filters) == 1
    with caplog.at_level(logging.WARNING, logger="transformers.modeling_utils"):
        logger.warning("We strongly recommend passing in an `attention_mask` since your input_ids may be padded.")
        logger.warning("something else")
    assert [r.getMessage() for r in caplog.records] == ["something else"]
