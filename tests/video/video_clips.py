"""Writing small test clips with PyAV (imported by the video tests; uniquely named module)."""

from __future__ import annotations

try:  # optional extras: the tests skip without them (a conftest must not raise Skipped)
    import av
    import numpy as np
except ImportError:  # pragma: no cover
    av = np = None

# container suffix -> (codec, pixel format)
FORMATS = {
    "mp4": ("libx264", "yuv420p"),
    "avi": ("mpeg4", "yuv420p"),
    "mkv": ("ffv1", "yuv444p"),
    "webm": ("libvpx", "yuv420p"),
}


def write_clip(
    path, frames: np.ndarray, codec: str, pix_fmt: str, fps: int = 10, options=None
) -> None:
    """Encode uint8 RGB frames [F, H, W, 3] into ``path`` with PyAV (``options``: the muxer's,
    e.g. ``{"movflags": "faststart"}`` puts an MP4's index at the front)."""
    with av.open(str(path), "w", options=options or {}) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = pix_fmt
        for array in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
