"""Partitions: one (date, station) per partition. Videos and chunks are manifest rows.

Both dimensions are dynamic: a date or a station exists once video landed for it (the landing
sensor registers both; the nightly schedule registers the day it requests). So the UI's
"missing" means "landed and not processed", never "a day nobody filmed"."""

from collections.abc import Iterable

import dagster as dg

station_partitions = dg.DynamicPartitionsDefinition(name="station")
date_partitions = dg.DynamicPartitionsDefinition(name="date")
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


def add_requests(
    instance: dg.DagsterInstance, pairs: Iterable[tuple[str, str]]
) -> list[dg.AddDynamicPartitionsRequest]:
    """The requests that register the dates and stations of ``pairs`` the instance lacks
    (dates first; none when every one is known)."""
    pairs = list(pairs)
    out = []
    dims = ((date_partitions, {d for d, _ in pairs}), (station_partitions, {s for _, s in pairs}))
    for dim, values in dims:
        new = sorted(values - set(instance.get_dynamic_partitions(dim.name)))
        if new:
            out.append(dim.build_add_request(new))
    return out


def register(instance: dg.DagsterInstance, pairs: Iterable[tuple[str, str]]) -> dict[str, list]:
    """Add the dates and stations of ``pairs`` to the instance; what was new, per dimension."""
    added = {}
    for req in add_requests(instance, pairs):
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
        added[req.partitions_def_name] = list(req.partition_keys)
    return added
