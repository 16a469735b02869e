"""Serving signatures, versioned SavedModels and warm-up records for tfstack's models.

Importing this package loads no TensorFlow: `contract.endpoints` is plain data that
clients read too.
"""
