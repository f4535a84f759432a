"""Every `seqkit vis` command writes its files from a tiny trained run."""

import json

import numpy as np
import pytest

from seqkit.cli import main

TEXT = "static int f(int a)\n{\n\tif (a > 0) {\n\t\treturn \"yes\"; /* ok */\n\t}\n}\n" * 3


@pytest.mark.parametrize("command, files", [
    ("activations", ["activations.html", "activations.png"]),
    ("cells", ["cells.json", "cells.png", "cells.html"]),
    ("saturation", ["saturation.json", "saturation.png"]),
    ("gradient-flow", ["gradient_flow.json", "gradient_flow.png"]),
])
def test_char_lm_commands(char_run, tmp_path, command, files, capsys):
    extra = ["--steps", "20", "--batch", "2"] if command == "gradient-flow" else []
    assert main(["vis", command, str(char_run), "--text", TEXT, "--out", str(tmp_path),
                 *extra]) == 0
    for name in files:
        assert (tmp_path / name).stat().st_size > 0, name
    assert "wrote" in capsys.readouterr().out
    if command == "saturation":
        layers = json.loads((tmp_path / "saturation.json").read_text())["layers"]
        assert set(layers["0"]) == {"i", "f", "o"}
    if command == "gradient-flow":
        flow = json.loads((tmp_path / "gradient_flow.json").read_text())
        assert np.array(flow["h"]).shape == (2, 20) and np.array(flow["c"]).shape == (2, 20)


def test_default_output_folder_and_text_file(char_run, tmp_path):
    source = tmp_path / "in.c"
    source.write_text(TEXT)
    assert main(["vis", "activations", str(char_run), "--text-file", str(source)]) == 0
    assert (char_run / "vis" / "activations.html").exists()
    assert main(["vis", "curves", str(char_run)]) == 0
    assert (char_run / "vis" / "curves.png").exists()


def test_saliency_and_curves_of_supervised_runs(sentiment_run, caption_run, tmp_path):
    import tensorflow as tf

    out = tmp_path / "s"
    assert main(["vis", "saliency", str(sentiment_run), "--text", "good day but sad",
                 "--smooth-samples", "2", "--out", str(out)]) == 0
    data = json.loads((out / "saliency.json").read_text())
    assert data["tokens"] == ["good", "day", "but", "sad"] and (out / "saliency.png").exists()
    assert data["predicted"] in ("negative", "positive")
    assert main(["vis", "curves", str(sentiment_run), "--out", str(out)]) == 0
    assert (out / "curves.png").exists()
    image = tmp_path / "grid.png"
    image.write_bytes(tf.io.encode_png(np.load(caption_run / "image.npy")).numpy())
    assert main(["vis", "saliency", str(caption_run), "--image", str(image),
                 "--smooth-samples", "2", "--out", str(out)]) == 0
    assert json.loads((out / "saliency.json").read_text())["caption"]


def test_errors_name_the_problem(sentiment_run, char_run, capsys):
    assert main(["vis", "cells", str(sentiment_run), "--text", "x"]) == 2
    assert "task is one of ['char_lm']" in capsys.readouterr().err
    assert main(["vis", "saliency", str(sentiment_run)]) == 2
    assert "needs --text" in capsys.readouterr().err
    assert main(["vis", "cells", str(char_run), "--text", "abc", "--features", "nope"]) == 2
    assert "Unknown feature(s) ['nope']" in capsys.readouterr().err
