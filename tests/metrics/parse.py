"""Reads the Prometheus text format on stdin with the official client's parser (prometheus_client,
pinned in tests/api/metrics.rs) and prints its metric families as JSON for the Rust test."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

families = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    families[family.name] = {
        "type": family.type,
        "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in family.samples],
    }
print(json.dumps(families))
