"""Clients of any TF-Serving-compatible server: Python client, command line.

Knows only the wire contract (`contract.endpoints`), never `models` or `serving`.
"""
