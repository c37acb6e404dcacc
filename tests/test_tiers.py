import pytest

from alignlimits import tiers


def test_default_when_unset(monkeypatch):
    monkeypatch.delenv(tiers.ENV_VAR, raising=False)
    assert tiers.current_tier() == "default"
    monkeypatch.setenv(tiers.ENV_VAR, "")
    assert tiers.current_tier() == "default"


@pytest.mark.parametrize("value", ["smoke", "default", "full", " SMOKE "])
def test_reads_the_environment(monkeypatch, value):
    monkeypatch.setenv(tiers.ENV_VAR, value)
    assert tiers.current_tier() == value.strip().lower()
    assert tiers.by_tier(smoke=1, default=2, full=3) == {"smoke": 1, "default": 2, "full": 3}[value.strip().lower()]


def test_unknown_tier_raises_with_advice(monkeypatch):
    monkeypatch.setenv(tiers.ENV_VAR, "quick")
    with pytest.raises(ValueError, match="smoke, default, full"):
        tiers.current_tier()
    with pytest.raises(ValueError, match="unknown tier"):
        tiers.by_tier(1, 2, 3, tier="huge")


def test_explicit_tier_overrides_environment(monkeypatch):
    monkeypatch.setenv(tiers.ENV_VAR, "smoke")
    assert tiers.by_tier(smoke="s", default="d", full="f", tier="full") == "f"
