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


def date_and_station(context: dg.AssetExecutionContext) -> tuple[str, str]:
    """(date, station) of the partition being materialized."""
    key = context.partition_key
    if not isinstance(key, dg.MultiPartitionKey):
        key = dg.MultiPartitionKey.from_str(str(key)) if "|" in str(key) else key
    dims = key.keys_by_dimension
    return dims["date"], dims["station"]
