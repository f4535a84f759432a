from seqkit.cli import main


def test_train_then_sample_from_the_command_line(tmp_path, capsys):
    code = main(["train", "char_rnn", "--set", "data.corpus=linux",
                 "--set", "data.max_chars=20000", "--set", "model.units=16",
                 "--set", "train.batch_size=4", "--set", "train.seq_length=16",
                 "--set", "train.max_steps=20", "--set", "train.sample_every=0",
                 "--set", "train.verbose=0", "--set", "train.val_steps=2",
                 "--set", f"train.run_dir={tmp_path}", "--set", "sample.length=30"])
    assert code == 0
    out = capsys.readouterr().out
    assert '"steps": 20' in out and "final sample" in out
    assert main(["sample", str(tmp_path), "--prime", "#define", "--length", "25",
                 "--top-k", "5", "--seed", "7"]) == 0
    sample = capsys.readouterr().out
    assert sample.startswith("#define") and len(sample.rstrip("\n")) >= 25


def test_errors_are_reported_with_the_received_value(capsys):
    assert main(["train", "char_rnn", "--set", "model.cel=gru"]) == 2
    assert "'cel' is not in model" in capsys.readouterr().err
    assert main(["sample", "/nonexistent/run"]) == 2
    assert "missing" in capsys.readouterr().err
