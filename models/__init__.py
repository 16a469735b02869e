"""Keras model definitions, their data pipelines and training. Knows nothing of serving."""
