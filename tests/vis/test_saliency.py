"""tf-keras-vis Saliency on the embedding output and on caption pixels, checked against
gradients taken directly."""

import numpy as np
import tensorflow as tf

from seqkit.vis import load_run, pixel_saliency, token_saliency


def test_token_saliency_is_the_embedding_gradient(sentiment_run):
    run = load_run(sentiment_run)
    result = token_saliency(run.model, run.vocab, "good fun but sad day", smooth_samples=4)
    assert result["tokens"] == ["good", "fun", "but", "sad", "day"]
    model, ids = run.model, np.asarray([run.vocab.encode("good fun but sad day")])
    embedded = tf.constant(model.get_layer("embedding")(ids))
    with tf.GradientTape() as tape:
        tape.watch(embedded)
        p = model.get_layer("probabilities")(model.get_layer("recurrent")(embedded))
        score = p[0, result["class_index"]]
    direct = np.linalg.norm(tape.gradient(score, embedded).numpy()[0], axis=-1)
    np.testing.assert_allclose(result["saliency"], direct / direct.max(), rtol=1e-4)
    assert result["smoothgrad"].shape == (5,) and result["smoothgrad"].max() == 1.0


def test_pixel_saliency_per_caption_word(caption_run):
    run = load_run(caption_run)
    image = np.load(caption_run / "image.npy")
    result = pixel_saliency(run.model, run.vocab, image, smooth_samples=2, max_length=6)
    words = len(result["words"])
    assert words >= 1 and result["saliency"].shape == (words, 16, 16)
    assert np.allclose(result["saliency"].max(axis=(1, 2)), 1.0)
