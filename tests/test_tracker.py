"""The JobTracker's state machine with a fake S3 listing and a fake clock: pending, then done,
failed or timed out; one listing per prefix per tick; cancellation."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from whisper_async.jobs.listing import ListingCompletions, listing_window
from whisper_async.jobs.tracker import Cadence, Finished, JobState, JobTracker, Watch
from whisper_async.storage import S3Uri

BUCKET = "bucket"
OUT = "wasync/outputs/whisper/2026/11/30/batch-1/"
FAIL = "wasync/failures/whisper/2026/11/30/batch-1/"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def pause(self, seconds: float, wake: threading.Event) -> None:
        self.now += seconds


class FakeBucket:
    """Keys that exist, listed the way ListObjectsV2 lists them (sorted, after StartAfter)."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.calls: list[tuple[str, str]] = []
        self.during_listing: list[object] = []

    def land(self, key: str) -> None:
        self.keys.add(key)

    def __call__(self, bucket: str, prefix: str, start_after: str) -> Iterator[str]:
        self.calls.append((prefix, start_after))
        for hook in self.during_listing:
            hook()  # type: ignore[operator]
        for key in sorted(self.keys):
            if key.startswith(prefix) and key > start_after:
                yield key


def job(sequence: int, deadline: float = 2000.0) -> Watch:
    name = f"{sequence:07d}-{sequence:024x}"
    return Watch(
        job_id=f"{sequence:024x}",
        inference_id=f"{sequence:024x}-batch-1",
        output=S3Uri(BUCKET, f"{OUT}{name}.out"),
        failure=S3Uri(BUCKET, f"{FAIL}{name}-error.out"),
        deadline=deadline,
        contexts=[f"input-{sequence}"],
    )


def make(clock: FakeClock, bucket: FakeBucket) -> tuple[JobTracker, list[Finished]]:
    ended: list[Finished] = []
    tracker = JobTracker(ListingCompletions(bucket), ended.append, clock=clock, pause=clock.pause)
    return tracker, ended


def states(ended: list[Finished]) -> dict[str, JobState]:
    return {f.watch.contexts[0]: f.state for f in ended}


def test_jobs_end_in_any_order_each_exactly_once() -> None:
    clock, bucket = FakeClock(), FakeBucket()
    tracker, ended = make(clock, bucket)
    watches = [tracker.add(job(n)) for n in (1, 2, 3)]
    assert tracker.tick() > 0 and ended == []

    bucket.land(watches[2].output.key)  # the last one first
    tracker.tick()
    assert states(ended) == {"input-3": JobState.DONE}

    bucket.land(watches[0].failure.key)  # type: ignore[union-attr]
    tracker.tick()
    tracker.tick()  # seeing them again changes nothing
    assert states(ended) == {"input-3": JobState.DONE, "input-1": JobState.FAILED}
    assert [w.contexts for w in tracker.pending()] == [["input-2"]]


def test_a_job_still_pending_at_the_deadline_times_out_and_the_others_do_not() -> None:
    clock, bucket = FakeClock(), FakeBucket()
    tracker, ended = make(clock, bucket)
    early, late = tracker.add(job(1, deadline=1010)), tracker.add(job(2, deadline=1100))
    clock.now = 1010
    tracker.tick()
    assert states(ended) == {"input-1": JobState.TIMED_OUT}
    bucket.land(late.output.key)
    tracker.tick()
    assert states(ended)["input-2"] is JobState.DONE
    assert early.job_id not in {w.job_id for w in tracker.pending()}


def test_one_listing_per_prefix_per_tick_starting_at_the_earliest_pending_job() -> None:
    clock, bucket = FakeClock(), FakeBucket()
    tracker, ended = make(clock, bucket)
    watches = [tracker.add(job(n)) for n in range(1, 101)]
    for watch in watches[:40]:
        bucket.land(watch.output.key)
    tracker.tick()
    assert len(bucket.calls) == 2  # the outputs' prefix and the failures' prefix
    assert len(ended) == 40
    bucket.calls.clear()
    tracker.tick()
    assert len(bucket.calls) == 2
    output_call = next(c for c in bucket.calls if c[0].startswith(OUT))
    # The window starts at job 41, the earliest still pending: finished jobs are not re-read.
    assert output_call[1] < watches[40].output.key and output_call[1] > watches[39].output.key


def test_the_listing_window_covers_only_the_pending_keys() -> None:
    keys = [f"{OUT}{n:07d}-{n:024x}.out" for n in (5001, 5002, 5999)]
    prefix, start_after = listing_window(keys)
    assert prefix == f"{OUT}0005" and start_after < keys[0]
    single_prefix, _ = listing_window(keys[:1])
    assert single_prefix == keys[0]  # one job: a listing of exactly its key


def test_cadence_is_quick_at_first_slows_while_nothing_ends_and_speeds_up_on_results() -> None:
    clock, bucket = FakeClock(), FakeBucket()
    cadence = Cadence(first=0.25, factor=2, floor_cap=2, cap=8, unknown_cap=8)
    tracker = JobTracker(ListingCompletions(bucket), lambda f: None, clock, cadence, clock.pause)
    watches = [tracker.add(job(n, deadline=10_000)) for n in range(1, 4)]
    delays = []
    for _ in range(8):
        delays.append(tracker.tick())
        clock.now += delays[-1]
    assert delays[0] == 0.5 and delays[-1] == 8  # doubling from 0.25, up to the cap
    bucket.land(watches[0].output.key)
    assert tracker.tick() < 8  # a result: look again sooner
    # Jobs that took ~10 s make the tracker look at least every 2 s (a tenth, floored at 2).
    assert tracker.typical_job is not None
    assert cadence.ceiling(10.0) == 2 and cadence.ceiling(3600) == 8


def test_a_job_that_keeps_waiting_is_looked_at_less_often_by_a_tenth_of_its_wait() -> None:
    """One job behind a slow one: a look every 5 s cost 115 requests in 4 minutes."""
    clock, bucket = FakeClock(), FakeBucket()
    tracker = JobTracker(ListingCompletions(bucket), lambda f: None, clock, Cadence(), clock.pause)
    watch = tracker.add(job(1, deadline=10_000))
    started, looks = clock.now, 0
    while clock.now - started < 240:
        delay = tracker.tick()
        looks += 1
        assert delay <= max(Cadence().unknown_cap, (clock.now - started) / 10) + 1e-9
        clock.now += delay
    assert looks < 35  # 53 looks at 5 s at most (106 listings: two each); 32 now
    bucket.land(watch.output.key)
    assert tracker.tick() is not None and not tracker.pending()


def test_while_results_flow_each_listing_reads_several_of_them() -> None:
    cadence = Cadence(first=0.25, per_tick=8)
    # 4 results a second: wait for about 8 of them, 2 s (within the ceiling for ~20 s jobs).
    assert cadence.next(0.25, 4, 20.0, rate=4.0, pending=1000) == pytest.approx(2.0)
    # A fast stream is read at the quickest cadence; one pending job is not kept waiting for 8.
    assert cadence.next(0.25, 50, 20.0, rate=200.0, pending=1000) == 0.25
    assert cadence.next(1.0, 1, 20.0, rate=4.0, pending=1) == 0.25
    # Sparse results never push the next look past the ceiling (a tenth of a 20 s job: 2 s).
    assert cadence.next(1.0, 1, 20.0, rate=0.1, pending=1000) == 2.0


def test_the_next_tick_is_never_later_than_the_next_deadline() -> None:
    clock, bucket = FakeClock(), FakeBucket()
    tracker, _ = make(clock, bucket)
    tracker.add(job(1, deadline=clock.now + 0.1))
    assert tracker.tick() == pytest.approx(0.1)


def test_a_result_that_lands_while_the_batch_is_cancelled_is_left_pending() -> None:
    clock, bucket = FakeClock(), FakeBucket()
    tracker, ended = make(clock, bucket)
    watch = tracker.add(job(1))
    bucket.land(watch.output.key)
    bucket.during_listing.append(tracker.cancel)  # Ctrl-C while the listing is in flight
    tracker.tick()
    assert ended == []
    assert tracker.cancelled and [w.job_id for w in tracker.pending()] == [watch.job_id]
    assert tracker.add(job(2)) is not None and len(tracker) == 1  # nothing new after cancel


def test_the_same_job_twice_is_one_watch_with_both_inputs() -> None:
    clock, bucket = FakeClock(), FakeBucket()
    tracker, ended = make(clock, bucket)
    first = tracker.add(job(7))
    second = job(7)
    second.contexts = ["copy-of-input-7"]
    assert tracker.add(second) is first
    bucket.land(first.output.key)
    tracker.tick()
    assert [f.watch.contexts for f in ended] == [["input-7", "copy-of-input-7"]]


def test_run_ends_when_nothing_is_pending_and_survives_a_failing_listing() -> None:
    clock, bucket = FakeClock(), FakeBucket()
    tracker, ended = make(clock, bucket)
    watch = tracker.add(job(1))
    failures = iter([True, False])

    def flaky() -> None:
        if next(failures, False):
            raise ConnectionError("S3 went away")

    bucket.during_listing.append(flaky)
    bucket.land(watch.output.key)
    tracker.run(more_to_come=lambda: False)
    assert states(ended) == {"input-1": JobState.DONE}
    assert tracker.ticks >= 1 and tracker.last_error is None


def test_a_failure_object_wins_over_a_result() -> None:
    clock, bucket = FakeClock(), FakeBucket()
    tracker, ended = make(clock, bucket)
    watch = tracker.add(job(1))
    bucket.land(watch.output.key)
    bucket.land(watch.failure.key)  # type: ignore[union-attr]
    tracker.tick()
    assert states(ended) == {"input-1": JobState.FAILED}
