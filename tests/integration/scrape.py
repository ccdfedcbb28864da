"""Read a Prometheus exposition with prometheus-client's own parser, for exact comparisons."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from inferline_core.server import CoreServer


class Samples:
    """Every sample of one scrape, looked up by name and labels."""

    def __init__(self, text: str) -> None:
        self.families = {family.name: family for family in text_string_to_metric_families(text)}
        self._values = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in self.families.values()
            for sample in family.samples
        }

    def get(self, name: str, **labels: str) -> float:
        """The sample's value; 0 when absent (a labelled series not yet touched)."""
        return self._values.get((name, frozenset(labels.items())), 0.0)

    def moved(self, before: Samples, name: str, **labels: str) -> float:
        """How far ``name{labels}`` moved since ``before``."""
        return self.get(name, **labels) - before.get(name, **labels)


async def scrape(server: CoreServer) -> Samples:
    """A scrape of ``server``'s metrics endpoint."""
    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://127.0.0.1:{server.metrics_port}/metrics")
    assert response.status_code == 200
    return Samples(response.text)
