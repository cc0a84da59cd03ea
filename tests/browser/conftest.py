"""The timeline page in headless Chromium (Debian's `chromium` and `chromium-driver`, installed by
`make chromium`), against the real API handler behind the offline stack's gateway.

Data: the API tests' videos (tests/api/world.py), written by cameo's own write path into moto.
The red-carpet video is also a real, playable object: a small WebM made here, uploaded to a
versioned bucket, and served to the browser by moto's server (in this process, so it shares the
state the test wrote) through the presigned URL that GET /videos/{id}/media returns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from cameo_core.api.ids import video_id
from cameo_core.keys import VideoRef
from cameo_stack import procs
from cameo_stack.http_api import Gateway, serve
from tests.api import conftest as api_fixtures
from tests.api.world import DURATION_MS, RED_CARPET_KEY, World, seed

ROOT = Path(__file__).resolve().parents[2]
# The API tests' fixtures: moto with the template's table, and the handler behind the gateway.
world = api_fixtures.world
gateway = api_fixtures.gateway
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = ROOT / ".cache" / "screenshots"
WINDOW = (1400, 1000)
# Where the demo clip's face box is (tests/support/fakes.detection's BoundingBox).
FACE_BOX = (0.4, 0.1, 0.2, 0.3)


@dataclass
class Site:
    url: str
    videos: dict[str, VideoRef]

    def video_page(self, name: str) -> str:
        return f"{self.url}/#/video/{video_id(self.videos[name])}"


def write_clip(path: Path, duration_ms: int, on_screen: list[tuple[int, int]]) -> None:
    """A 320x180 VP8 clip, 4 frames a second, with a light "face" at FACE_BOX while someone is
    on screen (VP8: every Chromium build plays it)."""
    import av
    import numpy as np

    fps = 4
    with av.open(str(path), "w", format="webm") as container:
        stream = container.add_stream("libvpx", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        stream.options = {"g": str(fps)}  # a key frame a second: seeking lands quickly
        left, top, width, height = FACE_BOX
        for index in range(duration_ms * fps // 1000):
            ms = index * 1000 // fps
            frame = np.full((180, 320, 3), 60, dtype=np.uint8)
            if any(start <= ms <= end for start, end in on_screen):
                x, y = int(left * 320), int(top * 180)
                frame[y : y + int(height * 180), x : x + int(width * 320)] = (230, 190, 160)
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            for packet in stream.encode(video_frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("clip") / "red-carpet.webm"
    write_clip(path, DURATION_MS, [(1000, 2000), (3000, 4000), (10000, 10500)])
    return path.read_bytes()


@pytest.fixture
def site(
    aws: dict[str, Any],
    world: World,
    gateway: Gateway,
    clip: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Site]:
    """The API tests' five videos, the page and the handler on one loopback port."""
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=procs.free_port(), verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    # Only the presigned media URL points there: the handler's other clients stay in-process.
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://{host}:{port}")
    s3 = aws["s3"]
    s3.put_bucket_versioning(Bucket=world.bucket, VersioningConfiguration={"Status": "Enabled"})
    put = s3.put_object(
        Bucket=world.bucket, Key=RED_CARPET_KEY, Body=clip, ContentType="video/webm"
    )
    videos = seed(world, red_carpet_size=len(clip), red_carpet_version=put["VersionId"])

    gateway.web_dir = ROOT / "web"
    server = serve(gateway, procs.free_port())
    try:
        yield Site(f"http://127.0.0.1:{server.server_address[1]}", videos)
    finally:
        server.shutdown()
        server.server_close()
        moto.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: `make chromium` installs Debian's packages")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--autoplay-policy=no-user-gesture-required",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
    ):
        options.add_argument(flag)
    # An explicit driver path: Selenium Manager never looks for (or downloads) one.
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_window_size(*WINDOW)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def screenshot(browser: Any) -> Callable[[str], Path]:
    def save(name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        assert browser.save_screenshot(str(path)), path
        return path

    return save
