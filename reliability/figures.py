"""The figures a run reports (faults injected, requests sent, concurrency held, rows audited, payloads tried):
counters and high-water marks, thread-safe; conftest.py writes them out and scripts/reliability.sh sums them up."""
from __future__ import annotations

import threading
from collections import Counter

class Figures:
    """Counters and high-water marks for the run's summary; thread-safe."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts: Counter = Counter()
        self.highs: dict[str, float] = {}
        self.notes: list[str] = []

    def add(self, name: str, n: int = 1):
        with self.lock:
            self.counts[name] += n

    def high(self, name: str, value: float):
        with self.lock:
            self.highs[name] = max(self.highs.get(name, value), value)

    def note(self, text: str):
        with self.lock:
            self.notes.append(text)

    def as_dict(self) -> dict:
        with self.lock:
            return {"counts": dict(self.counts), "highs": dict(self.highs), "notes": list(self.notes)}


FIGURES = Figures()


class Gauge:
    """How many of something are open now; records its peak in FIGURES under `name`."""

    def __init__(self, name: str):
        self.name, self.now, self.lock = name, 0, threading.Lock()

    def __enter__(self):
        with self.lock:
            self.now += 1
            FIGURES.high(self.name, self.now)
        return self

    def __exit__(self, *exc):
        with self.lock:
            self.now -= 1
