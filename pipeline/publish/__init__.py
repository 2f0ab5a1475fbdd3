"""Publish: turn a segmented partition into the datasets ML teams consume.

``stage.publish_partition`` (the entry point) writes WebDataset shards (``shards``) with their
index (``index``), the Parquet dataset (``dataset``), the LAPA-style latent-action JSONL
(``jsonl``) and the store's dataset card (``card``, loading ``snippets``); ``pipeline.io.keys``
holds every key template, ``records`` the per-segment steps, ``checks`` the pure asset checks,
``config``
``PublishConfig``; its errors are ``pipeline.errors.PublishError``.
"""
