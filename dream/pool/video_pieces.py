"""A clip cut into pieces dreamed on different workers at once, joined without a jump.

Each frame of a dreamed clip starts from its source blended with the previous dream, so
a piece dreamed on its own starts from a bare frame, and even a piece that starts a few
frames early grows its patterns elsewhere than the piece before did: where two pieces
meet, the picture jumps (measured: the flicker at a join was 1.8× the flicker inside a
piece, with or without a lead-in; benchmarks/bench_video_pieces.py). So each piece starts
`lead_in` frames early, from the previous piece's source frames, and over those frames,
dreamed by both pieces, the one fades into the other: the jump is spread over the
lead-in. Those frames are dreamed twice, the price of the steadier joins; `dream_video`'s
settings report the flicker at the joins beside the flicker inside pieces.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from dream.engine import Progress, ProgressCallback, Schedule, total_octave_steps
from dream.pool import StoppedWhileWaiting, Waiting
from dream.pool.jobs import FramesJob

PIECE_FRAMES = 24   # frames a worker dreams in one piece (2 s at 12 fps)
LEAD_IN = 4         # frames each piece starts early; see benchmarks/bench_video_pieces.py


def cut(count: int, piece_frames: int = PIECE_FRAMES, lead_in: int = LEAD_IN) -> list[tuple[int, int, int]]:
    """(first frame dreamed, first frame kept, end) of each piece of a clip of `count`."""
    return [(max(0, start - lead_in), start, min(count, start + piece_frames))
            for start in range(0, count, piece_frames)]


def pieces_on(pool, values: Mapping[str, Any], piece_frames: int = PIECE_FRAMES,
              lead_in: int = LEAD_IN) -> Callable:
    """`dream_video`'s `runs`: the frames cut into pieces, every piece a job for `pool`
    (anything with the pool's `run`), all sent at once; progress is the pieces' steps
    added up, with the latest preview; a stop stops them all and keeps the frames done
    before the first unfinished piece."""
    def runs(frames: Sequence[np.ndarray], schedule: Schedule,
             on_progress: ProgressCallback | None) -> tuple[list[np.ndarray], bool, list[int]]:
        pieces = cut(len(frames), piece_frames, lead_in)
        steps_per_frame = total_octave_steps(*frames[0].shape[:2], schedule)
        total = steps_per_frame * sum(end - first for first, _, end in pieces)
        done = [0] * len(pieces)
        results: list[Any] = [None] * len(pieces)
        stop = threading.Event()
        lock = threading.Lock()

        def tell(update) -> bool:
            with lock:
                if on_progress is not None and on_progress(update):
                    stop.set()
            return stop.is_set()

        def piece(number: int) -> None:
            first, start, end = pieces[number]

            def progressed(update: Progress) -> bool:
                done[number] = update.step
                return tell(Progress(sum(done), total, update.preview))

            def waiting(place: Waiting) -> bool:
                return tell(place) if number == 0 else stop.is_set()

            try:
                job = FramesJob(tuple(frames[first:end]), dict(values), lead_in=start - first)
                results[number] = pool.run(job, progressed, waiting)
            except BaseException as error:  # noqa: BLE001 - raised below, in order
                results[number] = error
                stop.set()

        threads = [threading.Thread(target=piece, args=(number,), name=f"piece-{number}",
                                    daemon=True) for number in range(len(pieces))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        dreamed: list[np.ndarray] = []
        joins: list[int] = []
        stopped = False
        for (first, start, end), result in zip(pieces, results):
            if isinstance(result, StoppedWhileWaiting) and dreamed:
                stopped = True  # stopped before this piece had a worker: keep what is done
                break
            if isinstance(result, BaseException):
                raise result
            overlap = result.frames[:result.lead_in]
            if start:  # the pairs of frames across the join: over the fade, and into the piece
                joins.extend(range(first, start + 1))
                _fade(dreamed, first, overlap)
            dreamed.extend(result.frames[result.lead_in:])
            if result.stopped or len(result.frames) < end - first:
                stopped = True
                break
        return dreamed, stopped or stop.is_set(), [k for k in joins if 0 < k < len(dreamed)]

    return runs


def _fade(dreamed: list[np.ndarray], first: int, overlap: Sequence[np.ndarray]) -> None:
    """Frames first… of `dreamed` (the previous piece's last ones) fade into `overlap`
    (the same frames as the next piece dreamed them): weight (j + 1) / (n + 1) for the
    j-th of n, so no step between two frames is larger than 1 / (n + 1) of the jump."""
    count = len(overlap)
    for j, theirs in enumerate(overlap):
        weight = (j + 1) / (count + 1)
        mine = dreamed[first + j].astype(np.float32)
        dreamed[first + j] = np.clip(np.rint((1 - weight) * mine + weight * theirs), 0, 255).astype(np.uint8)
