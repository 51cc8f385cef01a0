"""The origin behind the CDN edges: one test object, ``test.mp4``, with ETag and byte ranges."""

from __future__ import annotations

import hashlib

from irdrive_lab.platform.web import Request, Response


def _test_video() -> bytes:
    """A small deterministic MP4-shaped payload: an ``ftyp`` box, then hashed filler."""
    head = (24).to_bytes(4, "big") + b"ftypisom" + (512).to_bytes(4, "big") + b"isomiso2"
    filler = bytearray()
    block = b"irdrive-lab-test-video"
    while len(filler) < 64 * 1024:
        block = hashlib.sha256(block).digest()
        filler += block
    return head + bytes(filler[: 64 * 1024 - len(head)])


TEST_VIDEO = _test_video()
TEST_VIDEO_ETAG = '"' + hashlib.sha256(TEST_VIDEO).hexdigest()[:32] + '"'


def parse_range(header: str | None, size: int) -> tuple[int, int] | None | str:
    """One ``bytes=a-b`` range -> (start, end) inclusive; None to send it all; "bad" for 416."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[6:].strip().partition("-")
    try:
        if first == "":
            length = int(last)
            if length <= 0:
                return "bad"
            return max(0, size - length), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size or end < start:
        return "bad"
    return start, min(end, size - 1)


def origin_object(req: Request) -> Response:
    """``test.mp4``: 304 for a matching If-None-Match, 206 for one range, 416 for a bad one."""
    size = len(TEST_VIDEO)
    headers = {"ETag": TEST_VIDEO_ETAG, "Accept-Ranges": "bytes"}
    if req.headers.get("if-none-match") in (TEST_VIDEO_ETAG, "*"):
        return Response(304, b"", "video/mp4", headers)
    wanted = parse_range(req.headers.get("range"), size)
    if wanted == "bad":
        return Response(416, b"", "video/mp4", {**headers, "Content-Range": f"bytes */{size}"})
    if isinstance(wanted, tuple):
        start, end = wanted
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        return Response(206, TEST_VIDEO[start : end + 1], "video/mp4", headers)
    return Response(200, TEST_VIDEO, "video/mp4", headers)
