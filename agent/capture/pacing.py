"""Clock arithmetic for readers: reconnect backoff, decimation, rate measurement.

Pure and clock-free (callers pass times in), so each rule is tested exactly rather than by
sleeping.
"""

from __future__ import annotations

import random
from collections import deque


class Backoff:
    """Exponential reconnect delays with full jitter.

    The ceiling doubles per consecutive failure up to `max_s`, and the delay is drawn
    uniformly between `min_s` and that ceiling: jitter keeps a box's cameras (and many boxes
    after a network blip) from reconnecting in lockstep and hammering a recorder together.
    """

    def __init__(self, min_s: float, max_s: float, rng: random.Random | None = None) -> None:
        if not 0 < min_s <= max_s:
            raise ValueError(f"need 0 < min_s <= max_s, got {min_s}, {max_s}")
        self.min_s = min_s
        self.max_s = max_s
        self.failures = 0
        self._rng = rng or random.Random()

    def ceiling(self) -> float:
        """Largest delay the next failure may wait."""
        # Cap the exponent so a camera dead for days cannot overflow the float.
        return min(self.max_s, self.min_s * 2.0 ** min(self.failures, 60))

    def next_delay(self) -> float:
        """Delay before the next attempt; counts one more consecutive failure."""
        delay = self._rng.uniform(self.min_s, self.ceiling())
        self.failures += 1
        return delay

    def reset(self) -> None:
        """The source worked again: the next failure starts from `min_s`."""
        self.failures = 0


class Decimator:
    """Keep at most `fps` frames per second of a timeline, evenly spaced.

    Kept frames are scheduled on a grid of 1/fps seconds and a frame is kept once it comes
    within a tolerance of its due time: half the source's own frame interval (a running
    average), at most a quarter period. Advancing the due time by whole periods (rather than
    from the last kept frame) keeps the average rate exact when frame times jitter: a 10 fps
    camera decimated to 5 fps gives 5, not 3.3.
    """

    def __init__(self, fps: float) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.period = 1.0 / fps
        self._due: float | None = None
        self._last_t: float | None = None
        self._interval: float | None = None

    def keep(self, t: float) -> bool:
        """Whether the frame at time `t` (seconds, any origin) is kept."""
        self._observe(t)
        if self._due is not None and t < self._due - 2 * self.period:
            self.restart()  # time went backwards: the stream's clock was reset
        if self._due is None or t >= self._due + self.period:
            # First frame, or the source is slower than the target: re-anchor on this frame.
            self._due = t + self.period
            return True
        tolerance = self.period / 4
        if self._interval is not None:
            tolerance = min(tolerance, self._interval / 2)
        if t >= self._due - tolerance:
            self._due += self.period
            return True
        return False

    def restart(self) -> None:
        """Forget the timeline, e.g. after a reconnect reset the stream's clock."""
        self._due = None
        self._last_t = None

    def _observe(self, t: float) -> None:
        if self._last_t is not None and t > self._last_t:
            dt = t - self._last_t
            self._interval = dt if self._interval is None else 0.9 * self._interval + 0.1 * dt
        self._last_t = t


class RateMeter:
    """Events per second over a sliding window of recent times."""

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self._times: deque[float] = deque()

    def add(self, t: float) -> None:
        """Count one event at time `t` (seconds, monotonic) and forget those outside the window."""
        self._times.append(t)
        self._trim(t)

    def rate(self, now: float) -> float:
        """Events per second in the window ending at `now` (0 with fewer than two events)."""
        self._trim(now)
        if len(self._times) < 2:
            return 0.0
        span = max(now - self._times[0], self._times[-1] - self._times[0])
        return (len(self._times) - 1) / span if span > 0 else 0.0

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] < now - self.window_s:
            self._times.popleft()
