"""A TF-Serving-compatible model server: serves any SavedModel repository over
TF Serving's gRPC protocol. Imports nothing of `models` or `export`."""
