"""Batch scoring: files in, one result row per input out, exactly once; on one machine
(`local`, over the asyncio client) or as an Apache Beam pipeline (`beam`, over the
blocking client or the SavedModel in each worker)."""
