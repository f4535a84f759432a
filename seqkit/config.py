"""Recipe configs: nested dicts with defaults in the recipe, overridden by ``key=value``.

Example:
    >>> config = recipe_config("char_rnn", ["model.cell=mut1", "train.batch_size=32"])
"""

from __future__ import annotations

import ast
import copy
import importlib
import json
from pathlib import Path

RECIPES_DIR = Path(__file__).resolve().parent.parent / "recipes"


def available_recipes():
    """Names of the recipes shipped in ``recipes/``."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.py") if not p.stem.startswith("_"))


def load_recipe(name):
    """Imports ``recipes/<name>.py`` (dashes read as underscores)."""
    module_name = str(name).replace("-", "_")
    if module_name not in available_recipes():
        raise ValueError(f"Unknown recipe {name!r}; valid recipes: {available_recipes()}.")
    return importlib.import_module(f"recipes.{module_name}")


def parse_value(text):
    """``"3"`` -> 3, ``"1e-3"`` -> 0.001, ``"none"`` -> None, ``"[1,2]"`` -> [1, 2]; else text."""
    lowered = text.strip().lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def apply_overrides(config, overrides):
    """Applies ``["section.key=value", ...]`` to a copy of ``config``.

    Keys must exist, except inside ``*_kwargs`` dicts (``train.optimizer_kwargs.rho=0.9``).
    """
    config = copy.deepcopy(config)
    for item in overrides or ():
        if "=" not in item:
            raise ValueError(f"Override must look like section.key=value, received {item!r}.")
        key, value = item.split("=", 1)
        node, parts = config, key.strip().split(".")
        for depth, part in enumerate(parts):
            open_dict = depth > 0 and parts[depth - 1].endswith("_kwargs")
            if not isinstance(node, dict) or (part not in node and not open_dict):
                where = ".".join(parts[:depth]) or "the config"
                valid = sorted(node) if isinstance(node, dict) else []
                raise ValueError(
                    f"Unknown config key {key!r}: {part!r} is not in {where}; valid keys: {valid}."
                )
            if depth == len(parts) - 1:
                node[part] = parse_value(value)
            else:
                node = node[part]
    return config


def merge(config, changes, _where="the config"):
    """Deep-merges the dict ``changes`` into a copy of ``config``.

    Keys must exist in ``config``, except inside ``*_kwargs`` dicts, which pass
    arguments through (``optimizer_kwargs``, ``cell_kwargs``), and dicts that are
    empty in the defaults (a task's ``data`` and ``eval`` sections).
    """
    config = copy.deepcopy(config)
    open_dict = not config or _where.endswith("_kwargs")
    for key, value in changes.items():
        if key not in config and not open_dict:
            raise ValueError(f"Unknown config key {key!r} in {_where}; valid keys: "
                             f"{sorted(config)}.")
        if isinstance(value, dict) and isinstance(config[key], dict) and value:
            config[key] = merge(config[key], value, _where=key)
        else:
            config[key] = copy.deepcopy(value)
    return config


def recipe_config(name, overrides=(), preset=None):
    """The recipe's ``config()``, then its ``PRESETS[preset]``, then ``overrides``."""
    recipe = load_recipe(name)
    config = recipe.config()
    if preset:
        presets = getattr(recipe, "PRESETS", {})
        if preset not in presets:
            raise ValueError(f"Unknown preset {preset!r} for {name}; valid presets: "
                             f"{sorted(presets)}.")
        config = merge(config, presets[preset])
    return apply_overrides(config, overrides)


def save_config(config, path):
    Path(path).write_text(json.dumps(config, indent=2, sort_keys=True))


def paper_space(hp, dropout=False):
    """The search space of the papers' tasks (arithmetic, XML, music): units 64/128/256,
    depth 1-2, learning rate 1e-3..1e-2 (log), global clipnorm 1 or 5, and with
    ``dropout`` also dropout 0/0.2/0.4.

    Example:
        >>> paper_space(keras_tuner.HyperParameters(), dropout=True)  # in search_space(hp)
    """
    space = {
        "model.units": hp.Choice("model.units", [64, 128, 256]),
        "model.depth": hp.Int("model.depth", 1, 2),
        "train.learning_rate": hp.Float("train.learning_rate", 1e-3, 1e-2, sampling="log"),
        "train.global_clipnorm": hp.Choice("train.global_clipnorm", [1.0, 5.0]),
    }
    if dropout:
        space["model.dropout"] = hp.Float("model.dropout", 0.0, 0.4, step=0.2)
    return space
