"""Image-to-image inputs are decoded within bounds: pixels, memory and decodes at once."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import threading
import zlib
from typing import TYPE_CHECKING

import pytest
from PIL import Image

from bot import texts
from bot.requests import sources
from bot.requests.sources import DECODES_AT_ONCE, SourceError, normalise
from testing.support import ROOT

if TYPE_CHECKING:
    from pathlib import Path

LIMIT = 50_000_000


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims `width`×`height` pixels in a few bytes: what a bomb looks like."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side", [8_000, 20_000])  # 64 MP: over the limit; 400 MP: a bomb
def test_a_picture_over_the_pixel_limit_is_too_large_not_damaged(side: int) -> None:
    with pytest.raises(SourceError) as refused:
        normalise(_png_header(side, side), LIMIT)
    assert refused.value.text == texts.INPUT_TOO_MANY_PIXELS
    assert refused.value.values == {"megapixels": "50"}


def test_a_big_png_within_the_limit_is_accepted_and_a_lower_limit_refuses_it() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (6000, 6000), (30, 60, 90)).save(buffer, format="PNG")
    data = buffer.getvalue()
    assert len(data) < 200_000  # a small file...
    assert Image.open(io.BytesIO(normalise(data, LIMIT))).size == (512, 512)
    with pytest.raises(SourceError) as refused:
        normalise(data, 30_000_000)  # ...of 36 MP
    assert refused.value.values == {"megapixels": "30"}


_MEASURE = """
import resource, sys
from bot.requests.sources import normalise
data = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = normalise(data, 50_000_000)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(len(out), (after - before) // 1024)
"""


def test_a_24_megapixel_camera_jpeg_is_decoded_in_bounded_memory(tmp_path: Path) -> None:
    photo = tmp_path / "camera.jpg"
    gradient = Image.linear_gradient("L").resize((6000, 4000)).convert("RGB")
    gradient.save(photo, format="JPEG", quality=90)
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(photo)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    size, grown_mb = map(int, done.stdout.split())
    assert size > 0
    # Decoded in full it would take 72 MB for the pixels alone, twice that with the RGB copy.
    assert grown_mb < 40, f"decoding took {grown_mb} MB"


def test_no_more_than_a_few_pictures_are_decoded_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    inside, most, lock = 0, 0, threading.Lock()
    crowded = threading.Event()
    fit = sources._fit

    def counting(data: bytes, max_pixels: int) -> bytes:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
            if inside > DECODES_AT_ONCE:
                crowded.set()
        crowded.wait(0.3)  # gives any decode past the bound time to come in
        with lock:
            inside -= 1
        return fit(data, max_pixels)

    monkeypatch.setattr(sources, "_fit", counting)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buffer, format="PNG")
    threads = [
        threading.Thread(target=normalise, args=(buffer.getvalue(), LIMIT)) for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == DECODES_AT_ONCE
