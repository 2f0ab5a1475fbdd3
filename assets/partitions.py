"""Partitions: one (date, station) per partition. Videos and chunks are manifest rows."""

import dagster as dg

FIRST_DATE = "2024-01-01"

station_partitions = dg.DynamicPartitionsDefinition(name="station")
# end_offset=1: today's partition exists already, so files landed today can be processed today.
date_partitions = dg.DailyPartitionsDefinition(start_date=FIRST_DATE, end_offset=1)
date_station = dg.MultiPartitionsDefinition(
    {"date": date_partitions, "station": station_partitions}
)


def partition_key(date: str, station: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"date": date, "station": station})


def split_key(key: str | dg.MultiPartitionKey) -> tuple[str, str]:
    """(date, station) of a partition key, as object or as its "date|station" string."""
    if isinstance(key, dg.MultiPartitionKey):
        dims = key.keys_by_dimension
        return dims["date"], dims["station"]
    date, sep, station = str(key).partition("|")  # dimensions are joined in name order
    if not sep:
        raise ValueError(f"not a date|station partition key: {key!r}")
    return date, station


def date_and_station(context: dg.AssetExecutionContext) -> tuple[str, str]:
    """(date, station) of the partition being materialized."""
    return split_key(context.partition_key)
