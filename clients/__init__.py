"""Clients of any TF-Serving-compatible server: Python client, command line.

Knows only the wire contract (`export.contracts`), never `models` or `serving`.
"""
