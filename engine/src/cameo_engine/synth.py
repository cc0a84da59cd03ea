"""Test videos with known ground truth, made from real public-figure photos.

Photos: the test images inside the face_recognition 1.3.0 sdist (Barack Obama, Joe Biden),
fetched once with `pip download` and cached (never committed), plus scikit-image's
`astronaut()` (Eileen Collins). `fetch_photos()` is shared by the tests, the benchmarks and the
demo.

A scene is a background plus "actors": a face sprite cut from a photo, moved and scaled along
keyframes between an entry and an exit time. Rendering knows exactly where each face is in every
frame, so the writer returns per-frame ground truth (face boxes in pixels) together with the
video. Each face box is the photo's face box, as measured once with dlib's HOG detector and
written down below, carried through the same transform as the pixels.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFilter

SDIST_SPEC = "face-recognition==1.3.0"
SDIST_NAME = "face_recognition-1.3.0"

OBAMA = "Barack Obama"
BIDEN = "Joe Biden"
COLLINS = "Eileen Collins"


@dataclass(frozen=True)
class SourcePhoto:
    person: str
    file: str  # name inside the cache folder
    face: tuple[int, int, int, int]  # left, top, right, bottom of the face, in photo pixels


# Face boxes measured once (dlib HOG, upsample 0) on the original files.
PHOTOS: dict[str, SourcePhoto] = {
    "obama": SourcePhoto(OBAMA, "obama.jpg", (366, 136, 625, 395)),
    "obama2": SourcePhoto(OBAMA, "obama2.jpg", (164, 302, 475, 612)),
    "obama3": SourcePhoto(OBAMA, "obama3.jpg", (646, 302, 956, 612)),
    "biden": SourcePhoto(BIDEN, "biden.jpg", (439, 233, 750, 543)),
    "collins": SourcePhoto(COLLINS, "astronaut.png", (179, 83, 267, 171)),
}
# Which photos enroll each person in the test gallery, and which ones the videos show. Obama's
# video photo is not one of his enrolment photos; Collins and Biden have only one photo each.
ENROLL = {OBAMA: ["obama", "obama2"], COLLINS: ["collins"], BIDEN: ["biden"]}
PERSON_META = {
    OBAMA: {"Urls": ["en.wikipedia.org/wiki/Barack_Obama"], "KnownGender": "Male"},
    BIDEN: {"Urls": ["en.wikipedia.org/wiki/Joe_Biden"], "KnownGender": "Male"},
    COLLINS: {"Urls": ["en.wikipedia.org/wiki/Eileen_Collins"], "KnownGender": "Female"},
}


def default_cache_dir() -> Path:
    """$CAMEO_CACHE_DIR, else ./.cache (the repo's .cache/ is gitignored)."""
    return Path(os.environ.get("CAMEO_CACHE_DIR") or Path.cwd() / ".cache")


def fetch_photos(cache_dir: Path | None = None) -> Path:
    """Folder holding every file in PHOTOS; downloads the sdist through pip on first use."""
    root = (cache_dir or default_cache_dir()) / "photos"
    if all((root / p.file).is_file() for p in PHOTOS.values()):
        return root
    root.mkdir(parents=True, exist_ok=True)
    sdist_dir = root.parent / "sdist"
    archive = sdist_dir / f"{SDIST_NAME}.tar.gz"
    if not archive.is_file():
        subprocess.run(
            [
                sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                "--no-binary", ":all:", SDIST_SPEC, "-d", str(sdist_dir),
            ],
            check=True,
        )  # fmt: skip
    prefix = f"{SDIST_NAME}/tests/test_images/"
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            name = member.name.removeprefix(prefix)
            if member.name.startswith(prefix) and member.isfile() and "/" not in name:
                extracted = tar.extractfile(member)
                assert extracted is not None
                (root / name).write_bytes(extracted.read())
    from skimage import data  # the `synth` extra

    astronaut: npt.NDArray[np.uint8] = data.astronaut()  # type: ignore[no-untyped-call]
    Image.fromarray(astronaut).save(root / "astronaut.png")
    return root


def photo_path(key: str, cache_dir: Path | None = None) -> Path:
    return fetch_photos(cache_dir) / PHOTOS[key].file


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class Sprite:
    """A square crop around a face with a feathered oval mask; face box relative to the crop."""

    person: str
    image: Image.Image  # RGBA
    face: tuple[float, float, float, float]  # in sprite pixels

    @classmethod
    def from_photo(cls, key: str, cache_dir: Path | None = None, margin: float = 1.0) -> Sprite:
        src = PHOTOS[key]
        photo = Image.open(photo_path(key, cache_dir)).convert("RGB")
        left, top, right, bottom = src.face
        size = (right - left) * (1 + 2 * margin)
        cx, cy = (left + right) / 2, (top + bottom) / 2
        box = (round(cx - size / 2), round(cy - size / 2))
        side = round(size)
        crop = Image.new("RGB", (side, side), (128, 128, 128))
        crop.paste(photo.crop((box[0], box[1], box[0] + side, box[1] + side)), (0, 0))
        mask = Image.new("L", (side, side), 0)
        # Head-and-shoulders oval, generous around the face so the detector sees a whole head.
        ImageDraw.Draw(mask).ellipse((side * 0.06, side * 0.02, side * 0.94, side * 0.99), fill=255)
        mask = mask.filter(ImageFilter.GaussianBlur(side * 0.03))
        crop.putalpha(mask)
        face = (left - box[0], top - box[1], right - box[0], bottom - box[1])
        return cls(src.person, crop, face)

    @property
    def face_width(self) -> float:
        return self.face[2] - self.face[0]


@dataclass(frozen=True)
class Key:
    t: float  # seconds
    cx: float  # face centre, frame pixels
    cy: float
    face_px: float  # face box width in frame pixels


@dataclass(frozen=True)
class Actor:
    sprite: Sprite
    keys: Sequence[Key]  # linear interpolation, clamped at both ends
    enter: float = 0.0  # on screen for enter <= t < leave
    leave: float = math.inf

    def at(self, t: float) -> Key | None:
        if not self.enter <= t < self.leave:
            return None
        keys = self.keys
        if t <= keys[0].t:
            return keys[0]
        for a, b in itertools.pairwise(keys):
            if a.t <= t <= b.t:
                w = (t - a.t) / (b.t - a.t) if b.t > a.t else 0.0
                return Key(
                    t, a.cx + w * (b.cx - a.cx), a.cy + w * (b.cy - a.cy),
                    a.face_px + w * (b.face_px - a.face_px),
                )  # fmt: skip
        return keys[-1]


@dataclass(frozen=True)
class FaceTruth:
    person: str
    box: tuple[float, float, float, float]  # left, top, right, bottom in frame pixels
    inside: bool  # the whole face box is inside the frame


@dataclass
class FrameTruth:
    t_ms: float  # exact presentation time in milliseconds
    faces: list[FaceTruth]


@dataclass
class Scene:
    width: int
    height: int
    actors: list[Actor]
    seed: int = 0
    # Degradations applied to the whole frame: blur radius (px), noise std (grey levels), gain.
    blur: float = 0.0
    noise: float = 0.0
    gain: float = 1.0
    _background: npt.NDArray[np.uint8] | None = field(default=None, repr=False)

    def background(self) -> npt.NDArray[np.uint8]:
        if self._background is None:
            rng = np.random.default_rng(self.seed)
            w, h = self.width * 2, self.height  # twice as wide: the camera pans across it
            y = np.linspace(0, 1, h)[:, None, None]
            base = (1 - y) * np.array([70, 95, 120]) + y * np.array([120, 110, 90])
            img = np.broadcast_to(base, (h, w, 3)).copy()
            canvas = Image.fromarray(img.astype(np.uint8))
            draw = ImageDraw.Draw(canvas)
            for _ in range(60):  # soft shapes: texture for the encoder, nothing face-like
                x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
                rw, rh = rng.uniform(10, 120), rng.uniform(10, 60)
                colour = tuple(int(c) for c in rng.integers(40, 200, 3))
                draw.rectangle((x0, y0, x0 + rw, y0 + rh), fill=colour)
            canvas = canvas.filter(ImageFilter.GaussianBlur(4))
            self._background = np.asarray(canvas)
        return self._background

    def render(self, t: float) -> tuple[Image.Image, list[FaceTruth]]:
        bg = self.background()
        pan = int((t * 40) % self.width)
        frame = Image.fromarray(bg[:, pan : pan + self.width])
        faces: list[FaceTruth] = []
        for actor in self.actors:
            key = actor.at(t)
            if key is None:
                continue
            sprite = actor.sprite
            scale = key.face_px / sprite.face_width
            side = max(1, round(sprite.image.width * scale))
            img = sprite.image.resize((side, side), Image.Resampling.BILINEAR)
            fl, ft, fr, fb = (v * side / sprite.image.width for v in sprite.face)
            ox = round(key.cx - (fl + fr) / 2)
            oy = round(key.cy - (ft + fb) / 2)
            frame.paste(img, (ox, oy), img)
            box = (ox + fl, oy + ft, ox + fr, oy + fb)
            inside = box[0] >= 0 and box[1] >= 0 and box[2] <= self.width and box[3] <= self.height
            # A sprite drawn later hides what it covers: such a face is not "fully in frame".
            oval = (ox + side * 0.15, oy + side * 0.1, ox + side * 0.85, oy + side * 0.95)
            faces = [
                FaceTruth(f.person, f.box, f.inside and _overlap(f.box, oval) < 0.05) for f in faces
            ]
            faces.append(FaceTruth(sprite.person, box, inside))
        if self.blur:
            frame = frame.filter(ImageFilter.GaussianBlur(self.blur))
        if self.noise or self.gain != 1.0:
            pixels = np.asarray(frame, dtype=np.float32) * self.gain
            if self.noise:
                rng = np.random.default_rng(self.seed * 100_003 + round(t * 1000))
                pixels += rng.normal(0.0, self.noise, pixels.shape).astype(np.float32)
            frame = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        return frame, faces


def _overlap(face: tuple[float, ...], cover: tuple[float, ...]) -> float:
    """Fraction of the face box covered by the rectangle `cover`."""
    ix = max(0.0, min(face[2], cover[2]) - max(face[0], cover[0]))
    iy = max(0.0, min(face[3], cover[3]) - max(face[1], cover[1]))
    area = (face[2] - face[0]) * (face[3] - face[1])
    return ix * iy / area if area > 0 else 0.0


@dataclass(frozen=True)
class VideoSpec:
    name: str
    suffix: str  # .mp4 | .mov | .avi | .mkv
    fps: Fraction
    duration: float  # seconds
    codec: str = "libx264"
    vfr: bool = False  # irregular frame intervals around 1/fps
    gop: int = 50
    # Display rotation, counter-clockwise degrees (multiple of 90): frames are stored turned the
    # other way, as a phone held upright stores them; players and the engine turn them back.
    rotation: int = 0


def write_video(path: Path, scene: Scene, spec: VideoSpec) -> list[FrameTruth]:
    """Encode the scene; returns the ground truth for every frame, in presentation order."""
    rng = np.random.default_rng(scene.seed + 1)
    times: list[Fraction] = []
    if spec.vfr:
        # Millisecond clock with intervals spread between 0.4x and 2x the nominal one.
        t = Fraction(0)
        nominal = 1 / spec.fps
        while t < spec.duration:
            times.append(t)
            t += Fraction(round(float(nominal) * rng.uniform(0.4, 2.0) * 1000), 1000)
    else:
        n = math.floor(spec.duration * spec.fps)
        times = [Fraction(i) / spec.fps for i in range(n)]
    truth = []
    with av.open(str(path), mode="w") as container:
        stream: Any = container.add_stream(spec.codec, rate=spec.fps)
        sideways = spec.rotation % 180 == 90
        stream.width, stream.height = (
            (scene.height, scene.width) if sideways else (scene.width, scene.height)
        )
        if spec.rotation % 360:
            stream.set_display_rotation(spec.rotation % 360)
        stream.pix_fmt = "yuvj420p" if spec.codec == "mjpeg" else "yuv420p"
        time_base = Fraction(1, 1000) if spec.vfr else 1 / spec.fps
        stream.codec_context.time_base = time_base
        if spec.codec == "libx264":
            stream.options = {"preset": "veryfast", "crf": "20", "g": str(spec.gop)}
        elif spec.codec == "mjpeg":  # intra-only, JPEG (full) range
            stream.options = {"q:v": "3"}
        else:
            stream.options = {"g": str(spec.gop), "bf": "0"}
            stream.bit_rate = 2_000_000
        for t in times:
            image, faces = scene.render(float(t))
            if spec.rotation % 360:
                image = image.rotate(-(spec.rotation % 360), expand=True)
            frame = av.VideoFrame.from_image(image)  # type: ignore[no-untyped-call]
            frame.pts = round(t / time_base)
            frame.time_base = time_base
            for packet in stream.encode(frame):
                container.mux(packet)
            truth.append(FrameTruth(float(t * 1000), faces))
        for packet in stream.encode():
            container.mux(packet)
    return truth


# --------------------------------------------------------------------------- standard set


@dataclass
class SynthVideo:
    path: Path
    spec: VideoSpec
    truth: list[FrameTruth]
    people: set[str]


def _sprites(cache_dir: Path | None) -> dict[str, Sprite]:
    return {k: Sprite.from_photo(k, cache_dir) for k in ("obama3", "biden", "collins")}


def standard_scenes(cache_dir: Path | None = None) -> list[tuple[VideoSpec, Scene]]:
    """The accuracy suite: entering/leaving, scale changes, two faces, a cut, degraded frames,
    .mp4/.mov/.avi, 25 and 29.97 fps and variable frame rate."""
    s = _sprites(cache_dir)
    w, h = 640, 360
    return [
        (
            VideoSpec("enter_leave_mp4_25", ".mp4", Fraction(25), 6.0),
            Scene(w, h, seed=1, actors=[
                Actor(s["obama3"], [Key(0, 200, 170, 120), Key(6, 300, 180, 130)],
                      enter=0.62, leave=4.37),
                # slides in from the right edge, then stays
                Actor(s["collins"], [Key(1.5, 700, 190, 100), Key(2.5, 470, 170, 100),
                                     Key(6, 470, 170, 100)], enter=1.5),
            ]),
        ),
        (
            VideoSpec("scale_two_faces_mov_2997", ".mov", Fraction(30000, 1001), 6.0),
            Scene(w, h, seed=2, actors=[
                # zooms from 170 px down to 60 px and back: the small end needs upsampling
                Actor(s["obama3"], [Key(0, 190, 180, 170), Key(3, 190, 180, 60),
                                    Key(6, 190, 180, 170)]),
                Actor(s["biden"], [Key(0, 480, 170, 110), Key(6, 450, 190, 110)],
                      enter=1.03, leave=5.1),
            ]),
        ),
        (
            VideoSpec("cut_avi_25", ".avi", Fraction(25), 6.0, codec="mpeg4"),
            Scene(w, h, seed=3, actors=[
                # a cut: another person appears exactly where the first one was
                Actor(s["collins"], [Key(0, 320, 175, 120)], leave=3.0),
                Actor(s["obama3"], [Key(0, 320, 175, 120)], enter=3.0),
                Actor(s["biden"], [Key(0, 540, 120, 90), Key(6, 520, 260, 90)],
                      enter=0.5, leave=5.5),
            ]),
        ),
        (
            VideoSpec("vfr_mp4", ".mp4", Fraction(25), 5.0, vfr=True),
            Scene(w, h, seed=4, actors=[
                Actor(s["collins"], [Key(0, 150, 170, 110), Key(5, 250, 200, 140)],
                      enter=0.33, leave=4.1),
                Actor(s["obama3"], [Key(0, 480, 180, 130)], enter=1.21),
            ]),
        ),
        (
            # dim, soft and noisy, like a badly lit webcam; the unknown face comes last
            VideoSpec("dim_blurred_noisy_mp4_25", ".mp4", Fraction(25), 6.0),
            Scene(w, h, seed=10, blur=1.5, noise=12.0, gain=0.55, actors=[
                Actor(s["obama3"], [Key(0, 170, 180, 110), Key(6, 200, 170, 90)]),
                Actor(s["collins"], [Key(0, 470, 170, 100)], enter=1.1, leave=4.3),
                Actor(s["biden"], [Key(0, 470, 180, 100)], enter=4.5),
            ]),
        ),
    ]  # fmt: skip


def make_standard_videos(out_dir: Path, cache_dir: Path | None = None) -> list[SynthVideo]:
    out_dir.mkdir(parents=True, exist_ok=True)
    videos = []
    for spec, scene in standard_scenes(cache_dir):
        path = out_dir / f"{spec.name}{spec.suffix}"
        truth = write_video(path, scene, spec)
        people = {a.sprite.person for a in scene.actors}
        videos.append(SynthVideo(path, spec, truth, people))
    return videos


def make_gallery(root: Path, people: Sequence[str], cache_dir: Path | None = None) -> Path:
    """A gallery folder (DIR/<Person Name>/photo) holding the enrolment photos of `people`."""
    photos = fetch_photos(cache_dir)
    for person in people:
        folder = root / person
        folder.mkdir(parents=True, exist_ok=True)
        for key in ENROLL[person]:
            src = photos / PHOTOS[key].file
            (folder / src.name).write_bytes(src.read_bytes())
        (folder / "person.json").write_text(json.dumps(PERSON_META[person], indent=2) + "\n")
    return root


# --------------------------------------------------------------------------- scoring


@dataclass
class Score:
    """Per-sampled-frame accuracy of named detections against the ground truth."""

    true_positives: int = 0
    false_positives: int = 0
    known_faces: int = 0  # known people fully in frame, over all sampled frames
    found_faces: int = 0  # of those, named correctly
    unknown_named: int = 0  # detections naming a face that is not in the gallery
    # person -> (truth ms, engine ms) for first and last appearance
    first_seen: dict[str, tuple[float, float | None]] = field(default_factory=dict)
    last_seen: dict[str, tuple[float, float | None]] = field(default_factory=dict)

    @property
    def precision(self) -> float:
        named = self.true_positives + self.false_positives
        return self.true_positives / named if named else 1.0

    @property
    def recall(self) -> float:
        return self.found_faces / self.known_faces if self.known_faces else 1.0

    def worst_edge_error_ms(self) -> float:
        errors = [
            abs(engine - truth) if engine is not None else math.inf
            for truth, engine in [*self.first_seen.values(), *self.last_seen.values()]
        ]
        return max(errors, default=0.0)

    def add(self, other: Score) -> None:
        self.true_positives += other.true_positives
        self.false_positives += other.false_positives
        self.known_faces += other.known_faces
        self.found_faces += other.found_faces
        self.unknown_named += other.unknown_named


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def score(
    truth: list[FrameTruth],
    detections: list[dict[str, object]],
    sampled_ms: list[int],
    known: set[str],
    width: int,
    height: int,
) -> Score:
    """Score CelebrityRecognition items against ground truth at the engine's sampled frames."""
    by_ms = {round(f.t_ms): f for f in truth}
    named: dict[int, list[tuple[str, tuple[float, float, float, float]]]] = {}
    for d in detections:
        celeb = d["Celebrity"]
        assert isinstance(celeb, dict)
        bb = celeb["Face"]["BoundingBox"]
        box = (
            bb["Left"] * width,
            bb["Top"] * height,
            (bb["Left"] + bb["Width"]) * width,
            (bb["Top"] + bb["Height"]) * height,
        )
        ts = d["Timestamp"]
        assert isinstance(ts, int)
        named.setdefault(ts, []).append((celeb["Name"], box))
    result = Score()
    for ms in sampled_ms:
        frame = by_ms.get(ms) or min(truth, key=lambda f: abs(f.t_ms - ms))
        if abs(frame.t_ms - ms) > 1.0:
            raise ValueError(f"no ground-truth frame at {ms} ms")
        faces = frame.faces
        result.known_faces += sum(1 for f in faces if f.person in known and f.inside)
        used: set[int] = set()
        for name, box in named.get(ms, []):
            best = max(
                (i for i in range(len(faces)) if i not in used),
                key=lambda i: _iou(box, faces[i].box),
                default=None,
            )
            if best is None or _iou(box, faces[best].box) < 0.3:
                result.false_positives += 1
                continue
            used.add(best)
            face = faces[best]
            if face.person not in known:
                result.unknown_named += 1
            if face.person == name:
                result.true_positives += 1
                if face.inside:
                    result.found_faces += 1
            else:
                result.false_positives += 1
    for person in known:
        present = [f.t_ms for f in truth if any(x.person == person and x.inside for x in f.faces)]
        if not present:
            continue
        seen = sorted(ts for ts, items in named.items() for name, _ in items if name == person)
        result.first_seen[person] = (present[0], seen[0] if seen else None)
        result.last_seen[person] = (present[-1], seen[-1] if seen else None)
    return result
