"""Looking inside a running cluster from tests, through its own Flight actions."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from pyarrow import flight


def executors(uri: str) -> list[dict[str, Any]]:
    with flight.FlightClient(uri) as client:
        return json.loads(next(iter(client.do_action("list_executors"))).body.to_pybytes())  # type: ignore[no-any-return]


def executor_stats(uri: str) -> list[dict[str, Any]]:
    out = []
    for info in executors(uri):
        with flight.FlightClient(info["uri"]) as client:
            out.append(json.loads(next(iter(client.do_action("stats"))).body.to_pybytes()))
    return sorted(out, key=lambda s: s["executor_id"])


def wait_until_released(uri: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Executor stats once no shuffle data is held, stored or fetched (release is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        stats = executor_stats(uri)
        held = [
            s for s in stats if s["jobs"] or s["memory_bytes"] or s["disk_bytes"] or s["input_memory_bytes"]
        ]
        if not held or time.monotonic() > deadline:
            return stats
        time.sleep(0.1)


def http_get(url: str) -> tuple[int, str]:
    """Status and body of a GET (error statuses included)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def metric_samples(base_url: str) -> dict[str, float]:
    """``/metrics`` parsed with prometheus_client: ``name[label=value]...`` -> value."""
    status, text = http_get(base_url + "/metrics")
    assert status == 200
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = sample.name + "".join(f"[{k}={v}]" for k, v in sorted(sample.labels.items()))
            out[key] = sample.value
    return out
