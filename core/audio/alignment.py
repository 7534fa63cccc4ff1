"""Bringing a device's blocks onto the session's timeline: resampled to 16 kHz, placed in step.

Each device delivers at its own rate and by its own clock. `Resampler` turns its blocks into
16 kHz mono without moving them in time; `TrackPlacer` decides where on the session clock each
block goes, pads what a device did not deliver and corrects the slow drift between two
devices' clocks, so both tracks stay aligned for hours.
"""

from __future__ import annotations

import math

import numpy as np

from core.audio.sources import SAMPLE_RATE


class Resampler:
    """Streaming rational resampler: polyphase windowed-sinc (Kaiser), anti-aliased.

    The low-pass sits at 90% of the lower Nyquist frequency with about 80 dB stopband
    attenuation from 95%, so speech keeps everything below 7.2 kHz at 16 kHz and nothing above
    8 kHz folds back into it. The filter's delay is compensated: output sample k is the signal
    at time k / rate_out, so tracks resampled from different rates stay aligned.
    """

    def __init__(self, rate_in: int, rate_out: int = SAMPLE_RATE, *, attenuation_db: float = 80.0):
        if rate_in <= 0 or rate_out <= 0:
            raise ValueError("sample rates must be positive")
        g = math.gcd(int(rate_in), int(rate_out))
        self.rate_in, self.rate_out = int(rate_in), int(rate_out)
        self.up, self.down = self.rate_out // g, self.rate_in // g
        self.identity = self.up == self.down
        if self.identity:
            return
        nyquist = min(self.rate_in, self.rate_out) / 2
        cutoff = 0.9 * nyquist  # Hz, the filter's half-amplitude point
        transition = 0.1 * nyquist  # Hz, full width of the transition band
        beta = 0.1102 * (attenuation_db - 8.7)
        # Kaiser's length estimate, in input samples: taps per polyphase branch.
        taps = math.ceil((attenuation_db - 8) / (2.285 * 2 * math.pi * transition / self.rate_in)) + 1
        self.taps = taps + (taps % 2)
        n_total = self.taps * self.up
        # An odd length puts the filter's centre on a whole sample, so its delay is exact.
        n_odd = n_total - 1 + n_total % 2
        fc = cutoff / (self.rate_in * self.up)  # cycles per sample of the upsampled signal
        n = np.arange(n_odd) - (n_odd - 1) / 2
        h = self.up * 2 * fc * np.sinc(2 * fc * n) * np.kaiser(n_odd, beta)
        h = np.concatenate([h, np.zeros(n_total - n_odd)])
        # branch p holds h[p], h[p + up], h[p + 2 up], ... reversed to dot with input windows
        self._branches = h.reshape(self.taps, self.up).T[:, ::-1].astype(np.float64).copy()
        self._delay = (n_odd - 1) // 2
        self._buf = np.zeros(self.taps - 1, dtype=np.float64)
        self._buf_start = -(self.taps - 1)  # global index of _buf[0]
        self._received = 0
        self._next = 0  # next output sample

    def __call__(self, block: np.ndarray) -> np.ndarray:
        block = np.asarray(block, dtype=np.float32).reshape(-1)
        if self.identity:
            return block.copy()
        self._buf = np.concatenate([self._buf, block.astype(np.float64)])
        self._received += len(block)
        # Output k needs input up to index (k * down + delay) // up.
        last = (self._received * self.up - self._delay - 1) // self.down
        if last < self._next:
            return np.zeros(0, dtype=np.float32)
        k = np.arange(self._next, last + 1, dtype=np.int64)
        t = k * self.down + self._delay
        phase, base = t % self.up, t // self.up
        rows = base - self._buf_start - self.taps + 1
        windows = np.lib.stride_tricks.sliding_window_view(self._buf, self.taps)[rows]
        out = np.einsum("ij,ij->i", windows, self._branches[phase])
        self._next = int(last) + 1
        next_base = (self._next * self.down + self._delay) // self.up
        drop = next_base - self.taps + 1 - self._buf_start
        if drop > 0:
            self._buf = self._buf[drop:]
            self._buf_start += drop
        return out.astype(np.float32)


class TrackPlacer:
    """Places one device's blocks on the session clock, in whole samples at 16 kHz.

    A device that delivers steadily is trusted sample for sample (its clock, not the arrival
    jitter of its blocks, keeps time). After a pause in delivery - the start, a silent
    loopback, a device that was lost - the next block is placed where it belongs: it ends when
    it arrived, and the silence before it is padded.

    Two devices' clocks are never quite the same (a microphone and a sound card differ by some
    tens of parts per million: a third of a second an hour), so a device that delivers steadily
    is also watched against the session clock. Each window of `drift_window` seconds keeps how
    far ahead of its arrival a block ended at most (the block that arrived with the least
    delay, so jitter does not count); when that moves more than `drift_tolerance` seconds from
    where it stood after the last realignment, a few milliseconds of silence are put in (a slow
    device) or of audio left out (a fast one), at most `drift_step` seconds a window.
    """

    def __init__(self, start: float = 0.0, *, idle_after: float = 0.5, pad_lag: float = 0.5,
                 drift_window: float = 10.0, drift_tolerance: float = 0.02, drift_step: float = 0.02):
        self.position = int(round(start * SAMPLE_RATE))  # next sample's index on the session clock
        self.idle_after = idle_after
        self.pad_lag = pad_lag
        self.last_arrival: float | None = None
        self.realign = True
        self.drift_window = drift_window
        self.drift_tolerance = int(round(drift_tolerance * SAMPLE_RATE))
        self.drift_step = int(round(drift_step * SAMPLE_RATE))
        self.corrected = 0  # samples put in (positive) or left out (negative) for drift, in all
        self._reference: int | None = None  # the lead the track had after it was last placed
        self._window_end: float | None = None
        self._window_lead: int | None = None
        self._owed = 0  # a correction still to make: samples to put in (>0) or leave out (<0)

    @property
    def time(self) -> float:
        return self.position / SAMPLE_RATE

    def place(self, n: int, arrival: float) -> int:
        """Samples of silence to put before a block of `n` samples that arrived at `arrival`;
        negative: samples to leave out of the block's start (a device running fast)."""
        pad = 0
        if self.realign or self.last_arrival is None or arrival - self.last_arrival > self.idle_after:
            expected_start = int(round(arrival * SAMPLE_RATE)) - n
            pad = max(0, expected_start - self.position)
            self._reference = self._window_lead = None
            self._window_end = arrival + self.drift_window
            self._owed = 0
        elif self._owed:
            # Half a block at the most, so no block is left out whole.
            pad = max(self._owed, -(n // 2))
            self._owed -= pad
            self.corrected += pad
        self.realign = False
        self.last_arrival = arrival
        self.position += pad + n
        self._watch(arrival)
        return pad

    def _watch(self, arrival: float) -> None:
        lead = self.position - int(round(arrival * SAMPLE_RATE))
        self._window_lead = lead if self._window_lead is None else max(self._window_lead, lead)
        if self._window_end is None or arrival < self._window_end:
            return
        self._window_end = arrival + self.drift_window
        lead, self._window_lead = self._window_lead, None
        if self._reference is None:
            self._reference = lead
            return
        off = lead + self._owed - self._reference  # as it will stand once what is owed is made good
        if abs(off) > self.drift_tolerance:
            self._owed += max(-self.drift_step, min(self.drift_step, -off))

    def fill(self, now: float, *, lost: bool = False) -> int:
        """Samples of silence to keep a track that delivers nothing in step with the clock."""
        quiet = lost or self.last_arrival is None or now - self.last_arrival > self.idle_after
        target = int(round((now - self.pad_lag) * SAMPLE_RATE))
        if not quiet or target <= self.position:
            return 0
        pad = target - self.position
        self.position = target
        self.realign = True
        return pad
