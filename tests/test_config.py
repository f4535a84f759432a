import pytest

from seqkit.config import apply_overrides, available_recipes, merge, parse_value, recipe_config


def test_recipes_are_found_and_overrides_apply():
    assert {"char_rnn", "min_char_rnn"} <= set(available_recipes())
    config = recipe_config("char-rnn", ["model.cell=mut1", "train.batch_size=8",
                                        "train.optimizer_kwargs.rho=0.9", "data.max_chars=none"])
    assert config["model"]["cell"] == "mut1" and config["train"]["batch_size"] == 8
    assert config["train"]["optimizer_kwargs"] == {"rho": 0.9, "epsilon": 1e-8}
    assert config["data"]["max_chars"] is None
    assert recipe_config("char_rnn", preset="demo")["train"]["max_steps"] == 3000


def test_parse_value():
    assert parse_value("3") == 3 and parse_value("1e-3") == 0.001
    assert parse_value("True") is True and parse_value("[1, 2]") == [1, 2]
    assert parse_value("mut1") == "mut1" and parse_value("None") is None


@pytest.mark.parametrize("override, match", [
    ("model.cel=lstm", r"'cel' is not in model; valid keys: \['cell'"),
    ("nothing", "section.key=value"),
])
def test_bad_overrides(override, match):
    with pytest.raises(ValueError, match=match):
        apply_overrides(recipe_config("char_rnn"), [override])


def test_unknown_recipe_and_preset():
    with pytest.raises(ValueError, match=r"'chr_rnn'.*valid recipes"):
        recipe_config("chr_rnn")
    with pytest.raises(ValueError, match="valid presets"):
        recipe_config("char_rnn", preset="huge")
    with pytest.raises(ValueError, match="Unknown config key 'x'"):
        merge({"a": 1}, {"x": 2})
