"""Pure core of the LAPS pipeline: config, video I/O, tracking, energy, segmentation, storage.

Nothing in this package imports dagster; the Dagster adapters live in ``assets/``.
"""

__version__ = "0.1.0"
