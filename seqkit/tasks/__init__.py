"""Supervised tasks, one small module each: ``prepare(config)`` gives the model and the
``tf.data`` splits, ``evaluate(config, model, prepared)`` the held-out metrics.
``seqkit.train.run`` does the training the same way for all of them."""
