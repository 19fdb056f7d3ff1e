"""A data job: summary statistics of a CSV column, with the standard library only."""

import csv
import io
import statistics


def handler(event, context):
    rows = list(csv.DictReader(io.StringIO(event["csv"])))
    column = event.get("column", "value")
    values = [float(row[column]) for row in rows if row.get(column) not in (None, "")]
    if not values:
        raise ValueError(f"no values in column {column!r}")
    by_group = {}
    group = event.get("group_by")
    if group:
        for row in rows:
            by_group.setdefault(row[group], []).append(float(row[column]))
    print(f"{len(values)} rows of {column}")
    return {
        "count": len(values),
        "mean": round(statistics.fmean(values), 4),
        "median": statistics.median(values),
        "stdev": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
        "sum_by_group": {key: sum(vals) for key, vals in sorted(by_group.items())},
    }
