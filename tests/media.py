"""Recordings made at test time, encoded by PyAV as other programs would have made them."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def encode(samples: np.ndarray, rate: int, path: Path, codec: str, *, out_rate: int | None = None,
           video: bool = False) -> Path:
    """`samples` (float32, (n,) or (n, channels)) at `rate` encoded with `codec` into `path`,
    whose extension names the container; with `video`, a small black picture track beside it."""
    import av

    samples = samples[:, None] if samples.ndim == 1 else samples
    layout = "stereo" if samples.shape[1] == 2 else "mono"
    out_rate = out_rate or rate
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=out_rate, layout=layout)
        formats = stream.codec_context.codec.audio_formats
        resampler = av.audio.resampler.AudioResampler(format=formats[0].name if formats else "fltp", layout=layout,
                                                      rate=out_rate, frame_size=stream.codec_context.frame_size or None)
        picture = None
        if video:
            picture = out.add_stream("mpeg4", rate=5)
            picture.width, picture.height, picture.pix_fmt = 64, 48, "yuv420p"
        shown = 0
        for at in range(0, len(samples), rate):
            block = np.ascontiguousarray(samples[at : at + rate].T.astype(np.float32))
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
            frame.sample_rate = rate
            for piece in resampler.resample(frame):
                out.mux(stream.encode(piece))
            while picture is not None and shown < (at + rate) / rate * 5:
                still = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24").reformat(format="yuv420p")
                still.pts = shown
                out.mux(picture.encode(still))
                shown += 1
        for piece in resampler.resample(None):
            out.mux(stream.encode(piece))
        out.mux(stream.encode(None))
        if picture is not None:
            out.mux(picture.encode(None))
    return path
