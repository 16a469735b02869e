"""Values the clients, the exporter and the server must agree on, declared once."""

from __future__ import annotations

DEFAULT_TARGET = "127.0.0.1:8500"  # TF Serving's gRPC port, on this machine
TOP_K = 5  # labels a classifier answer carries (its graph's top k), and clients show
# The largest gRPC message either way and REST body: TF Serving's own cap is 2 GB, but
# 64 MiB holds any request of our endpoints and keeps one call from taking much more.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
BATCH_SIZE = 32  # inputs per request when scoring: under batching.config's max (64)
# Where a SavedModel keeps the records TF Serving replays before a version serves.
WARMUP_FOLDER = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
WARMUP_PATH = (WARMUP_FOLDER, WARMUP_FILE)
MAX_WARMUP_RECORDS = 1000  # TF Serving refuses a warm-up file with more (WarmupConsts)
# The metadata key (gRPC) and header (REST) of a call's request id, both ways.
REQUEST_ID_HEADER = "x-request-id"
