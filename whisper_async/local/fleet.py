"""An endpoint's instances: those that serve, those starting and those retiring.

The fleet starts instances in parallel, puts them into service, and retires the ones a
smaller count or a new config no longer needs: a retiring instance takes no new job,
finishes its running ones, then stops. Once closed (the endpoint is going away) it puts
nothing into service again, so an instance that finishes starting after a delete is stopped,
not served. One lock guards the lists; starting and retiring happen outside it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .instance import Instance


class Fleet:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._serving: list[Instance] = []
        self._starting: list[Instance] = []
        self._retiring: list[Instance] = []
        self._closed = False

    def start(self, make: Callable[[], Instance], count: int) -> tuple[list[Instance], str | None]:
        """Start `count` new instances at once: (them, None) once all are healthy, or
        ([], why one could not start) with none of them left running."""
        with self._lock:
            if self._closed:  # deleted while its model was extracted: start nothing
                return [], "the endpoint was deleted"
            instances = [make() for _ in range(count)]
            self._starting += instances  # from here close() stops them, started or not
        with ThreadPoolExecutor(max(1, count)) as pool:
            reasons = list(pool.map(Instance.start, instances))
        with self._lock:
            self._starting = [i for i in self._starting if i not in instances]
        reason = next((r for r in reasons if r), None)
        if reason is None:
            return instances, None
        for instance in instances:
            instance.stop(grace=2)
        return [], reason

    def add(self, instances: list[Instance]) -> bool:
        """Put started instances into service; False (and they are stopped) once closed."""
        with self._lock:
            if not self._closed:
                self._serving += instances
                return True
        for instance in instances:
            instance.stop(grace=2)
        return False

    def replace(self, instances: list[Instance]) -> list[Instance] | None:
        """Serve `instances` instead of the current ones, which stop taking jobs in the same
        step (the caller retires them); None (and `instances` stopped) once closed."""
        with self._lock:
            if not self._closed:
                replaced, self._serving = self._serving, instances
                for instance in replaced:
                    instance.stop_taking()
                return replaced
        for instance in instances:
            instance.stop(grace=2)
        return None

    def retire(self, instances: list[Instance]) -> None:
        """Each takes no new job, finishes its running ones, then stops (blocking)."""
        with self._lock:
            self._serving = [i for i in self._serving if i not in instances]
            self._retiring += instances
            for instance in instances:
                instance.stop_taking()
        with ThreadPoolExecutor(max(1, len(instances))) as pool:
            list(pool.map(Instance.retire, instances))
        with self._lock:
            self._retiring = [i for i in self._retiring if i not in instances]

    def shrink(self, count: int) -> None:
        """Retire serving instances until `count` are left, the least busy first."""
        with self._lock:
            by_load = sorted(self._serving, key=lambda i: i.busy)
            surplus = by_load[: max(0, len(by_load) - count)]
        if surplus:
            self.retire(surplus)

    def close(self, grace: float) -> None:
        """Stop every instance now and serve nothing again."""
        with self._lock:
            self._closed = True
            everything = [*self._serving, *self._starting, *self._retiring]
            self._serving, self._starting, self._retiring = [], [], []
        for instance in everything:
            instance.stop(grace)

    def serves(self, instance: Instance) -> bool:
        with self._lock:
            return instance in self._serving

    @property
    def size(self) -> int:
        with self._lock:
            return len(self._serving)

    def healthy(self) -> int:
        with self._lock:
            serving = list(self._serving)
        return sum(instance.healthy for instance in serving)

    def describe(self) -> list[dict[str, Any]]:
        """Every instance that runs (or is starting): what an endpoint is billed for."""
        with self._lock:
            shown = [*self._serving, *self._retiring, *self._starting]
        return [instance.describe() for instance in shown]
