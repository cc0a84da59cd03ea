"""The hard-footage suite (issue 9): three videos with exact, per-frame ground truth.

Made from the same packaged photos as `synth` (the face_recognition 1.3.0 sdist, scikit-image's
astronaut), but built to fail the way real footage does. Every failure class of the issue is in
every video:

  small          faces of 40-64 px (270p-360p), about 64 px in 720p
  soft           soft focus: the whole frame is blurred (a lens out of focus, a cheap webcam)
  compressed     the .avi: MPEG-4 Part 2 at about 150 kb/s, 270p (every face in it)
  dim            lighting dimmed to 20-35 % for 1-2 s, with the noise a dark sensor adds
  flash          press-camera flashes (a few frames each, a burst of them)
  occluded       a caption box over the chin and mouth, a microphone on a stand over the mouth
  edge           a face cut by the frame edge (counted while at least half of it is in frame)
  mirrored       a horizontally flipped face (the gallery holds the unflipped photo)
  roll           head roll oscillating up to +-15 degrees
  motion_blur    a whip across the frame, blurred along the motion over a half-frame shutter
  rack_focus     a focus pull from one face to the other: one face goes soft, then back
  scale          faces that grow or shrink smoothly (zoom in, zoom out)
  gallery_second the person whose only gallery photo has a second face in it (a poster)
  next_to_unknown a known face on screen at the same time as the unknown one
  plain          none of the picture's hard conditions above (the control; mirrored and
                 compressed faces can be plain)

Who: the gallery holds Barack Obama (obama2.jpg, the speech photo, only) and Joe Biden
(biden.jpg with a framed poster of Eileen Collins on the wall behind him, so the detector finds
two faces: the enrolment must pick Biden's, the dominant one). Eileen Collins is the unknown
face; she is never to be named, in particular not as Joe Biden, whose photo shows her poster.
The videos show Obama from two photos the gallery does not contain (obama.jpg, obama3.jpg).
Biden has a single photo, so his video face is always mirrored and colour-graded, and then
scaled, rolled, blurred and compressed like everyone else: never the gallery's pixels.

Truth: for every frame, each face's box (the photo's HOG face box carried through the same
transform as the pixels) and the fraction of that box that is visible: inside the frame and not
covered by anything drawn over it (caption box, stand, another sprite), measured on a pixel mask.
A face less than half visible counts neither way: missing it is not a miss, and naming it
correctly is not a hit. Naming it wrongly is still a false positive.

Build once, cached under .cache/hard-suite/<hash of the generator's parameters>/:

    python -m cameo_engine.hardsuite build            # prints the folder
    python -m cameo_engine.hardsuite score            # engine at default settings
    python -m cameo_engine.hardsuite score --recipe   # and the plain recipe, same run
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFilter

from cameo_engine import synth

#: Bump whenever rendering changes in a way the parameters below do not show.
GENERATOR_VERSION = 2

OBAMA, BIDEN, COLLINS = synth.OBAMA, synth.BIDEN, synth.COLLINS
KNOWN = frozenset({OBAMA, BIDEN})
UNKNOWN = COLLINS
HALF_VISIBLE = 0.5
MATCH_IOU = 0.3  # a named box matches a true face when they overlap at least this much

CLASSES = (
    "small",
    "soft",
    "compressed",
    "dim",
    "flash",
    "occluded",
    "edge",
    "mirrored",
    "roll",
    "motion_blur",
    "rack_focus",
    "scale",
    "gallery_second",
    "next_to_unknown",
    "plain",
)
# "plain" means none of the picture's hard conditions: it ignores the classes that describe
# the person or the company, the whole video (compression), and mirroring.
_NOT_HARD = {"gallery_second", "next_to_unknown", "compressed", "mirrored"}

Curve = tuple[tuple[float, float], ...]  # (t seconds, value) keyframes, linear, clamped


def at(curve: Curve, t: float, default: float = 0.0) -> float:
    if not curve:
        return default
    if t <= curve[0][0]:
        return curve[0][1]
    for (t0, v0), (t1, v1) in itertools.pairwise(curve):
        if t0 <= t <= t1:
            return v0 + (v1 - v0) * ((t - t0) / (t1 - t0) if t1 > t0 else 0.0)
    return curve[-1][1]


def window(start: float, end: float, value: float, base: float, ramp: float = 0.2) -> Curve:
    """`base` outside [start, end], `value` inside, with linear ramps of `ramp` seconds."""
    return ((start - ramp, base), (start, value), (end, value), (end + ramp, base))


def merge(base: float, *windows: Curve) -> Curve:
    """Non-overlapping windows on one curve."""
    points: list[tuple[float, float]] = [(-1.0, base)]
    for w in sorted(windows, key=lambda w: w[0][0]):
        points.extend(w)
    points.append((1e6, base))
    return tuple(points)


# --------------------------------------------------------------------------- the scripts


@dataclass(frozen=True)
class Occluder:
    """An opaque shape drawn over everything, in frame pixels, during [start, end)."""

    kind: str  # "caption" (box with text lines) | "stand" (microphone on a pole)
    box: tuple[float, float, float, float]  # caption: the box; stand: the microphone head
    start: float
    end: float


@dataclass(frozen=True)
class Performer:
    person: str
    photo: str  # key of synth.PHOTOS
    keys: tuple[synth.Key, ...]  # face centre and width over time (synth.Key)
    enter: float = 0.0
    leave: float = math.inf
    mirror: bool = False
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)  # colour grade, per channel gain
    gamma: float = 1.0
    roll: Curve = ()  # degrees, counter-clockwise
    focus_blur: Curve = ()  # rack focus: Gaussian sigma as a fraction of the face width
    motion_blur: bool = False  # blur along the velocity over a half-frame shutter


@dataclass(frozen=True)
class Script:
    name: str
    suffix: str
    fps: Fraction
    width: int
    height: int
    duration: float
    codec: str
    encoder_options: tuple[tuple[str, str], ...]
    bit_rate: int | None
    performers: tuple[Performer, ...]
    occluders: tuple[Occluder, ...] = ()
    gain: Curve = ()  # whole-frame brightness (dimming)
    noise: Curve = ()  # sensor noise, grey levels
    blur: Curve = ()  # soft focus of the whole frame, Gaussian sigma in pixels
    flashes: tuple[float, ...] = ()  # start times of press flashes
    seed: int = 0
    whole_video_classes: tuple[str, ...] = ()

    @property
    def sample_interval_ms(self) -> float:
        return 200.0


def _story(
    name: str,
    suffix: str,
    fps: Fraction,
    size: tuple[int, int],
    *,
    face: float,  # a medium face width, px
    small: float,  # a small face width, px
    codec: str,
    options: dict[str, str],
    bit_rate: int | None = None,
    mirror_obama: bool,
    soft: float,  # sigma of the soft-focus stretch, px
    base_blur: float = 0.0,
    seed: int,
    whole: tuple[str, ...] = (),
) -> Script:
    """One storyline, set at a resolution and face size; 24 s.

    0-4   Obama left; Biden comes in from the right edge and stays cut by it for 1.4 s (edge)
    4-6   the light dims to 25 % for 1.6 s (dim)
    6-9   Obama's head rolls +-15 degrees; a burst of flashes at 7-8 s (roll, flash)
    9-12  a caption box over Obama's chin and mouth, a microphone over Biden's; the whole
          frame goes soft for 1.4 s (occluded, soft)
    12-16 Collins (unknown) appears between them; focus pulls from Obama to Biden and back
          (rack_focus, next_to_unknown)
    16-19 a cut to Obama from another photo, zooming in while Biden zooms out (scale)
    19-21 Obama whips across the frame (motion_blur); Biden leaves through the edge (edge)
    21-24 both small (small); Obama leaves the frame at 23.3 s
    """
    w, h = size
    k = synth.Key
    f, s = face, small
    cy = h * 0.42
    obama_x, biden_x = w * 0.27, w * 0.73
    roll = merge(0.0, ((6.0, 0.0), (6.75, 15.0), (7.5, 0.0), (8.25, -15.0), (9.0, 0.0)))
    o_focus = merge(0.0, window(12.6, 13.6, 0.03, 0.0, ramp=0.5))
    b_focus = merge(0.0, window(14.4, 15.4, 0.03, 0.0, ramp=0.5))
    obama_a = Performer(
        OBAMA, "obama",
        (k(0, obama_x, cy, f), k(4, obama_x + w * 0.02, cy, f * 1.05),
         k(16, obama_x - w * 0.02, cy + h * 0.02, f)),
        enter=0.0, leave=16.0, mirror=mirror_obama, roll=roll, focus_blur=o_focus,
    )  # fmt: skip
    obama_b = Performer(
        OBAMA, "obama3",
        (k(16, w * 0.3, cy, s * 1.2), k(19, w * 0.32, cy + h * 0.03, f * 1.9),
         # the whip: nearly half the frame's width in 0.8 s, then settle
         k(19.6, w * 0.27, cy, f * 1.2), k(20.4, w * 0.72, cy, f * 1.2),
         k(21.0, w * 0.62, cy, s), k(23.0, w * 0.68, cy, s * 0.9), k(24, w * 0.95, cy, s * 0.9)),
        enter=16.0, leave=23.3, mirror=not mirror_obama, motion_blur=True,
    )  # fmt: skip
    biden = Performer(
        BIDEN, "biden",
        # in from the right edge, then held with a third of the face outside the frame
        (k(0.6, w + f * 0.9, cy, f * 0.95), k(1.0, w - f * 0.15, cy, f * 0.95),
         k(2.4, w - f * 0.15, cy, f * 0.95), k(3.2, biden_x, cy, f * 0.95),
         k(12, biden_x + w * 0.02, cy + h * 0.02, f), k(16, biden_x, cy, f * 1.6),
         k(19, w * 0.75, cy, s * 1.1), k(19.4, w * 0.75, cy, s * 1.1),
         k(20.4, w + s * 1.5, cy, s * 1.1)),
        enter=0.6, leave=20.4, mirror=True, tint=(1.08, 0.98, 0.88), gamma=0.9,
        focus_blur=b_focus, roll=((0, 4.0),),
    )  # fmt: skip
    biden_small = Performer(
        BIDEN, "biden",
        (k(21.0, w * 0.25, h * 0.5, s * 0.85), k(24, w * 0.3, h * 0.48, s * 0.95)),
        enter=21.0, mirror=True, tint=(1.08, 0.98, 0.88), gamma=0.9,
    )  # fmt: skip
    collins = Performer(
        COLLINS, "collins",
        (k(12.0, w * 0.5, cy + h * 0.08, f * 0.7), k(16, w * 0.52, cy + h * 0.06, f * 0.75)),
        enter=12.0, leave=16.0, roll=((12, -8.0), (16, 8.0)),
    )  # fmt: skip
    # Placed where the faces are mid-way (10.5 s): the caption box's top edge at 72 % of
    # Obama's face height (about 28 % of the face hidden: mouth and chin), the microphone head
    # over the middle of Biden's mouth and chin.
    o, b = _key(obama_a.keys, 10.5), _key(biden.keys, 10.5)
    o_top, b_top = o.cy - o.face_px / 2, b.cy - b.face_px / 2
    caption_top = o_top + 0.72 * o.face_px
    caption = Occluder("caption", (w * 0.02, caption_top, w * 0.48, caption_top + h * 0.2), 9, 12)
    mic = (b.cx - 0.2 * b.face_px, b_top + 0.66 * b.face_px,
           b.cx + 0.2 * b.face_px, b_top + 1.02 * b.face_px)  # fmt: skip
    stand = Occluder("stand", mic, 9.0, 12.0)
    flashes = (6.8, 7.05, 7.3, 7.5, 7.8, 8.05, 8.3, 8.6)
    return Script(
        name=name, suffix=suffix, fps=fps, width=w, height=h, duration=24.0, codec=codec,
        encoder_options=tuple(sorted(options.items())), bit_rate=bit_rate,
        performers=(obama_a, obama_b, biden, biden_small, collins),
        occluders=(caption, stand),
        gain=merge(1.0, window(4.2, 5.8, 0.25, 1.0, ramp=0.25)),
        noise=merge(2.0, window(4.2, 5.8, 6.0, 2.0, ramp=0.25)),
        blur=merge(base_blur, window(10.2, 11.6, soft, base_blur, ramp=0.3)),
        flashes=flashes, seed=seed, whole_video_classes=whole,
    )  # fmt: skip


def scripts() -> list[Script]:
    """The three videos of the suite."""
    return [
        _story(
            "hard_mov_2997_720p", ".mov", Fraction(30000, 1001), (1280, 720),
            face=150, small=64, codec="libx264",
            options={"preset": "veryfast", "crf": "23", "g": "60"},
            mirror_obama=True, soft=3.0, seed=91,
        ),
        _story(
            "hard_mp4_25_360p", ".mp4", Fraction(25), (640, 360),
            face=80, small=46, codec="libx264",
            options={"preset": "veryfast", "crf": "28", "g": "50"},
            mirror_obama=False, soft=1.6, seed=92,
        ),
        _story(
            "hard_avi_24_270p", ".avi", Fraction(24), (480, 270),
            face=64, small=42, codec="mpeg4", options={"g": "48", "bf": "0"},
            bit_rate=150_000, mirror_obama=True, soft=1.3, base_blur=0.5, seed=93,
            whole=("compressed",),
        ),
    ]  # fmt: skip


# --------------------------------------------------------------------------- the gallery


def gallery_photos() -> dict[str, list[str]]:
    """Person -> gallery photo file names (written by make_gallery)."""
    return {OBAMA: ["obama2.jpg"], BIDEN: ["biden_with_poster.jpg"]}


def biden_with_poster(photos: Path) -> Image.Image:
    """biden.jpg with a framed print of the astronaut photo on the wall behind his left
    shoulder: a second, smaller face (about half his face's width) that any face detector
    finds. Enrolling the wrong one would name the unknown Eileen Collins as Joe Biden."""
    biden = Image.open(photos / synth.PHOTOS["biden"].file).convert("RGB")
    astro = Image.open(photos / synth.PHOTOS["collins"].file).convert("RGB")
    # Head and shoulders of the astronaut, face 88 px wide in the source -> 165 px on the wall.
    crop = astro.crop((150, 40, 300, 220))
    scale = 165 / 88
    print_img = crop.resize((round(crop.width * scale), round(crop.height * scale)))
    framed = Image.new("RGB", (print_img.width + 36, print_img.height + 36), (52, 40, 28))
    framed.paste(Image.new("RGB", (print_img.width + 16, print_img.height + 16), (236, 232, 220)),
                 (10, 10))  # fmt: skip
    framed.paste(print_img, (18, 18))
    out = biden.copy()
    out.paste(framed, (40, 150))  # left of his face (x 439-750), on the curtain
    return out


def make_gallery(root: Path, photos: Path) -> Path:
    (root / OBAMA).mkdir(parents=True, exist_ok=True)
    (root / BIDEN).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(photos / "obama2.jpg", root / OBAMA / "obama2.jpg")
    biden_with_poster(photos).save(root / BIDEN / "biden_with_poster.jpg", quality=92)
    for person in (OBAMA, BIDEN):
        meta = json.dumps(synth.PERSON_META[person], indent=2) + "\n"
        (root / person / "person.json").write_text(meta)
    return root


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class TrueFace:
    person: str
    box: tuple[float, float, float, float]  # left, top, right, bottom, frame pixels
    visible: float  # fraction of the box inside the frame and not covered
    classes: tuple[str, ...]

    @property
    def counts(self) -> bool:
        return self.visible >= HALF_VISIBLE


@dataclass
class TrueFrame:
    t_ms: float
    faces: list[TrueFace]


def _sprite_for(p: Performer, photos_cache: Path, memo: dict[Any, Any]) -> Any:
    key = (p.photo, p.mirror, p.keys)
    if key not in memo:
        sprite = synth.Sprite.from_photo(p.photo, photos_cache)
        img = sprite.image
        face = sprite.face
        if p.mirror:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            face = (img.width - face[2], face[1], img.width - face[0], face[3])
        # Shrink once to what the largest use needs (resizing from the full photo is slow).
        need = max(k.face_px for k in p.keys) * 1.25 / (face[2] - face[0])
        if need < 1.0:
            side = round(img.width * need)
            ratio = side / img.width
            img = img.resize((side, side), Image.Resampling.LANCZOS)
            face = (face[0] * ratio, face[1] * ratio, face[2] * ratio, face[3] * ratio)
        memo[key] = (img, face)
    return memo[key]


def _grade(img: Image.Image, tint: tuple[float, float, float], gamma: float) -> Image.Image:
    if tint == (1.0, 1.0, 1.0) and gamma == 1.0:
        return img
    a = np.asarray(img, dtype=np.float32)
    rgb = 255.0 * (a[..., :3] / 255.0) ** gamma * np.array(tint, dtype=np.float32)
    out = np.concatenate([np.clip(rgb, 0, 255), a[..., 3:]], axis=2).astype(np.uint8)
    return Image.fromarray(out, "RGBA")


def _motion(img: Image.Image, dx: float, dy: float) -> Image.Image:
    """Average of copies shifted along (dx, dy): a linear motion blur of that length."""
    n = max(1, math.ceil(math.hypot(dx, dy)))
    if n <= 1:
        return img
    a = np.asarray(img, dtype=np.float32)
    a = np.concatenate([a[..., :3] * (a[..., 3:] / 255.0), a[..., 3:]], axis=2)  # premultiply
    acc = np.zeros_like(a)
    pad = n + 1
    padded = np.pad(a, ((pad, pad), (pad, pad), (0, 0)))
    h, w = a.shape[:2]
    for i in range(n):
        f = i / (n - 1) - 0.5
        ox, oy = round(f * dx), round(f * dy)
        acc += padded[pad - oy : pad - oy + h, pad - ox : pad - ox + w]
    acc /= n
    alpha = acc[..., 3:]
    rgb = np.where(alpha > 0, acc[..., :3] * 255.0 / np.maximum(alpha, 1e-3), 0)
    return Image.fromarray(np.concatenate([rgb, alpha], axis=2).clip(0, 255).astype(np.uint8))


def _key(keys: Sequence[synth.Key], t: float) -> synth.Key:
    """Face centre and width at t (keyframes interpolated, clamped at both ends)."""
    key = synth.Actor(None, keys, enter=-math.inf).at(t)  # type: ignore[arg-type]
    assert key is not None
    return key


def _velocity(p: Performer, t: float) -> tuple[float, float]:
    dt = 0.02
    a, b = _key(p.keys, t - dt), _key(p.keys, t + dt)
    return (b.cx - a.cx) / (2 * dt), (b.cy - a.cy) / (2 * dt)


def _growth(p: Performer, t: float) -> float:
    """Relative change of the face width per second."""
    dt = 0.05
    a, b = _key(p.keys, t - dt), _key(p.keys, t + dt)
    return (b.face_px - a.face_px) / (2 * dt) / max(1.0, (a.face_px + b.face_px) / 2)


class Renderer:
    def __init__(self, script: Script, photos_cache: Path) -> None:
        self.script = script
        self.memo: dict[Any, Any] = {}
        self.photos_cache = photos_cache
        scene = synth.Scene(script.width, script.height, [], seed=script.seed)
        self.background = scene.background()
        self._bank: npt.NDArray[np.float32] | None = None

    def frame(self, t: float) -> tuple[Image.Image, list[TrueFace]]:
        sc = self.script
        w, h = sc.width, sc.height
        pan = int((t * w / 16) % w)
        frame = Image.fromarray(self.background[:, pan : pan + w])
        drawn: list[tuple[Performer, tuple[float, float, float, float], npt.NDArray[np.bool_]]] = []
        fps = float(sc.fps)
        for p in sc.performers:
            if not p.enter <= t < p.leave:
                continue
            key = _key(p.keys, t)
            img, face = _sprite_for(p, self.photos_cache, self.memo)
            scale = key.face_px / (face[2] - face[0])
            side = max(2, round(img.width * scale))
            spr = img.resize((side, side), Image.Resampling.LANCZOS, reducing_gap=2.0)
            spr = _grade(spr, p.tint, p.gamma)
            fl, ft, fr, fb = (v * side / img.width for v in face)
            fcx, fcy = (fl + fr) / 2, (ft + fb) / 2
            roll = at(p.roll, t)
            if roll:
                spr = spr.rotate(roll, resample=Image.Resampling.BICUBIC, center=(fcx, fcy))
            sigma = at(p.focus_blur, t) * key.face_px
            if sigma > 0.3:
                spr = spr.filter(ImageFilter.GaussianBlur(sigma))
            if p.motion_blur:
                vx, vy = _velocity(p, t)
                spr = _motion(spr, vx * 0.5 / fps, vy * 0.5 / fps)
            ox, oy = round(key.cx - fcx), round(key.cy - fcy)
            frame.paste(spr, (ox, oy), spr)
            half = key.face_px / 2
            fh = (fb - ft) / 2
            box = (key.cx - half, key.cy - fh, key.cx + half, key.cy + fh)
            mask = np.zeros((h, w), dtype=bool)
            alpha = np.asarray(spr)[..., 3] > 127
            x0, y0 = max(0, ox), max(0, oy)
            x1, y1 = min(w, ox + side), min(h, oy + side)
            if x1 > x0 and y1 > y0:
                mask[y0:y1, x0:x1] = alpha[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
            drawn.append((p, box, mask))
        cover = np.zeros((h, w), dtype=bool)
        draw = ImageDraw.Draw(frame)
        occluded_now = False
        for occ in sc.occluders:
            if not occ.start <= t < occ.end:
                continue
            occluded_now = True
            x0, y0, x1, y1 = occ.box
            if occ.kind == "caption":
                draw.rectangle((x0, y0, x1, y1), fill=(18, 32, 74))
                draw.rectangle((x0, y0, x1, y0 + (y1 - y0) * 0.12), fill=(200, 30, 40))
                for i, frac in enumerate((0.3, 0.6)):
                    ty = y0 + (y1 - y0) * frac
                    draw.rectangle((x0 + 12, ty, x0 + (x1 - x0) * (0.8 - 0.25 * i), ty + 6),
                                   fill=(235, 235, 235))  # fmt: skip
                _fill(cover, (x0, y0, x1, y1))
            else:  # a microphone head on a pole down to the bottom of the frame
                cx = (x0 + x1) / 2
                pole = (cx - (x1 - x0) * 0.08, y1, cx + (x1 - x0) * 0.08, h)
                draw.rectangle(pole, fill=(25, 25, 28))
                draw.ellipse((x0, y0, x1, y1), fill=(40, 40, 44))
                draw.rectangle((x0 + (x1 - x0) * 0.2, (y0 + y1) / 2, x1 - (x1 - x0) * 0.2, y1),
                               fill=(40, 40, 44))  # fmt: skip
                _fill(cover, pole)
                cover |= _ellipse_mask(w, h, (x0, y0, x1, y1))
                _fill(cover, (x0 + (x1 - x0) * 0.2, (y0 + y1) / 2, x1 - (x1 - x0) * 0.2, y1))

        frame = self._camera(frame, t)
        faces: list[TrueFace] = []
        unknown_visible = any(
            p.person == UNKNOWN for p, _, _ in drawn
        )  # refined below once visibility is known
        infos = []
        for i, (p, box, _) in enumerate(drawn):
            later = cover.copy()
            for _, _, m in drawn[i + 1 :]:
                later |= m
            visible, in_frame, uncovered_by_occluder = _visibility(box, later, cover, w, h)
            infos.append((p, box, visible, in_frame, uncovered_by_occluder))
        unknown_visible = any(p.person == UNKNOWN and v >= HALF_VISIBLE for p, _, v, _, _ in infos)
        for p, box, visible, in_frame, by_occluder in infos:
            classes = self._classes(p, box, t, in_frame, by_occluder, occluded_now)
            if p.person in KNOWN and unknown_visible:
                classes.append("next_to_unknown")
            faces.append(TrueFace(p.person, box, visible, tuple(classes)))
        return frame, faces

    def _classes(
        self,
        p: Performer,
        box: tuple[float, float, float, float],
        t: float,
        in_frame: float,
        covered_by_occluder: float,
        occluded_now: bool,
    ) -> list[str]:
        sc = self.script
        width = box[2] - box[0]
        c: list[str] = list(sc.whole_video_classes)
        if width <= 64.5:
            c.append("small")
        if at(sc.blur, t) >= 1.0:
            c.append("soft")
        if at(sc.gain, t, 1.0) <= 0.4:
            c.append("dim")
        if any(0 <= t - f < 3 / float(sc.fps) for f in sc.flashes):
            c.append("flash")
        if covered_by_occluder > 0.02:
            c.append("occluded")
        if in_frame < 0.999:
            c.append("edge")
        if p.mirror:
            c.append("mirrored")
        if abs(at(p.roll, t)) >= 5.0:
            c.append("roll")
        if p.motion_blur and math.hypot(*_velocity(p, t)) * 0.5 / float(sc.fps) >= 2.0:
            c.append("motion_blur")
        if at(p.focus_blur, t) * width >= 0.5:
            c.append("rack_focus")
        if abs(_growth(p, t)) >= 0.08:
            c.append("scale")
        if p.person == BIDEN:
            c.append("gallery_second")
        if not set(c) - _NOT_HARD:
            c.append("plain")
        return c

    def _noise(self, shape: tuple[int, ...], t: float) -> npt.NDArray[np.float32]:
        """Unit Gaussian noise, fresh-looking in every frame: a bank of 4 noise images, each
        frame takes one at a random offset (drawing 2.7 M normals per 720p frame is slow)."""
        if self._bank is None:
            rng = np.random.default_rng(self.script.seed)
            h, w, c = shape
            self._bank = rng.standard_normal((3, h + 32, w + 32, c), dtype=np.float32)
        rng = np.random.default_rng(self.script.seed * 100_003 + round(t * 1000))
        h, w = shape[0], shape[1]
        i, y, x = int(rng.integers(3)), int(rng.integers(32)), int(rng.integers(32))
        return self._bank[i, y : y + h, x : x + w]

    def _camera(self, frame: Image.Image, t: float) -> Image.Image:
        sc = self.script
        sigma = at(sc.blur, t)
        if sigma > 0.05:
            frame = frame.filter(ImageFilter.GaussianBlur(sigma))
        gain = at(sc.gain, t, 1.0)
        noise = at(sc.noise, t)
        lift = 0.0
        for f in sc.flashes:
            dt = t - f
            if 0 <= dt < 3 / float(sc.fps):  # full for a frame, then decaying
                k = 1.0 if dt < 1 / float(sc.fps) else 0.45 if dt < 2 / float(sc.fps) else 0.2
                gain *= 1 + 0.7 * k
                lift += 45 * k
        if gain == 1.0 and not noise and not lift:
            return frame
        a = np.asarray(frame, dtype=np.float32) * gain + lift
        if noise:
            a += self._noise(a.shape, t) * noise
        return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def _fill(mask: npt.NDArray[np.bool_], box: tuple[float, float, float, float]) -> None:
    h, w = mask.shape
    x0, y0 = max(0, round(box[0])), max(0, round(box[1]))
    x1, y1 = min(w, round(box[2])), min(h, round(box[3]))
    if x1 > x0 and y1 > y0:
        mask[y0:y1, x0:x1] = True


def _ellipse_mask(w: int, h: int, box: tuple[float, float, float, float]) -> npt.NDArray[np.bool_]:
    img = Image.new("L", (w, h), 0)
    ImageDraw.Draw(img).ellipse(box, fill=255)
    return np.asarray(img) > 127


def _visibility(
    box: tuple[float, float, float, float],
    covered: npt.NDArray[np.bool_],
    occluders: npt.NDArray[np.bool_],
    w: int,
    h: int,
) -> tuple[float, float, float]:
    """(visible fraction, fraction inside the frame, fraction covered by an occluder)."""
    area = max(1.0, (box[2] - box[0]) * (box[3] - box[1]))
    x0, y0 = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
    x1, y1 = min(w, math.ceil(box[2])), min(h, math.ceil(box[3]))
    if x1 <= x0 or y1 <= y0:
        return 0.0, 0.0, 0.0
    # Pixel-exact: each pixel weighs by how much of it the (sub-pixel) box covers.
    wx = np.clip(
        np.minimum(np.arange(x0, x1) + 1, box[2]) - np.maximum(np.arange(x0, x1), box[0]), 0, 1
    )
    wy = np.clip(
        np.minimum(np.arange(y0, y1) + 1, box[3]) - np.maximum(np.arange(y0, y1), box[1]), 0, 1
    )
    weight = wy[:, None] * wx[None, :]
    inside = float(weight.sum())
    hidden = float((weight * covered[y0:y1, x0:x1]).sum())
    by_occ = float((weight * occluders[y0:y1, x0:x1]).sum())
    return (inside - hidden) / area, inside / area, by_occ / area


# --------------------------------------------------------------------------- building


@dataclass
class HardVideo:
    script: Script
    path: Path
    truth: list[TrueFrame]

    @property
    def name(self) -> str:
        return self.script.name


@dataclass
class Suite:
    root: Path
    gallery: Path
    videos: list[HardVideo]


def parameters_hash(photos: Path) -> str:
    doc = {
        "version": GENERATOR_VERSION,
        "av": av.__version__,
        "scripts": [asdict(s) for s in scripts()],
        "gallery": gallery_photos(),
        "photos": {
            name: hashlib.sha256((photos / name).read_bytes()).hexdigest()
            for name in sorted({p.file for p in synth.PHOTOS.values()})
        },
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


def write_video(script: Script, path: Path, photos: Path) -> list[TrueFrame]:
    renderer = Renderer(script, photos.parent)
    n = math.floor(script.duration * script.fps)
    times = [Fraction(i) / script.fps for i in range(n)]
    truth: list[TrueFrame] = []
    with av.open(str(path), mode="w") as container:
        stream: Any = container.add_stream(script.codec, rate=script.fps)
        stream.width, stream.height = script.width, script.height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = 1 / script.fps
        stream.options = dict(script.encoder_options)
        if script.bit_rate:
            stream.bit_rate = script.bit_rate
        for i, t in enumerate(times):
            image, faces = renderer.frame(float(t))
            frame = av.VideoFrame.from_image(image)  # type: ignore[no-untyped-call]
            frame.pts = i
            frame.time_base = 1 / script.fps
            for packet in stream.encode(frame):
                container.mux(packet)
            truth.append(TrueFrame(float(t * 1000), faces))
        for packet in stream.encode():
            container.mux(packet)
    return truth


def _truth_to_json(truth: list[TrueFrame]) -> list[Any]:
    return [
        {"t_ms": f.t_ms, "faces": [[x.person, list(x.box), x.visible, list(x.classes)]
                                   for x in f.faces]}
        for f in truth
    ]  # fmt: skip


def _truth_from_json(doc: list[Any]) -> list[TrueFrame]:
    return [
        TrueFrame(f["t_ms"], [TrueFace(p, tuple(b), v, tuple(c)) for p, b, v, c in f["faces"]])
        for f in doc
    ]


def default_cache() -> Path:
    return synth.default_cache_dir()


def build(cache_dir: Path | None = None, *, log: Any = None) -> Suite:
    """The suite, built on first use and cached by a hash of everything that shapes it."""
    cache = cache_dir or default_cache()
    photos = synth.fetch_photos(cache)
    root = cache / "hard-suite" / parameters_hash(photos)
    if not (root / "truth.json").is_file():
        root.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=root.parent))
        try:
            make_gallery(tmp / "gallery", photos)
            doc = {}
            for script in scripts():
                started = time.perf_counter()
                truth = write_video(script, tmp / f"{script.name}{script.suffix}", photos)
                doc[script.name] = _truth_to_json(truth)
                if log:
                    log(f"rendered {script.name} in {time.perf_counter() - started:.1f} s")
            (tmp / "truth.json").write_text(json.dumps(doc))
            tmp.chmod(0o755)
            try:
                tmp.rename(root)  # atomic: a concurrent builder either wins or finds it done
            except OSError:
                if not (root / "truth.json").is_file():
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    doc = json.loads((root / "truth.json").read_text())
    videos = [
        HardVideo(s, root / f"{s.name}{s.suffix}", _truth_from_json(doc[s.name])) for s in scripts()
    ]
    return Suite(root, root / "gallery", videos)


# --------------------------------------------------------------------------- scoring


@dataclass
class Tally:
    counted: int = 0  # known faces at least half visible, over the sampled frames
    found: int = 0  # of those, named correctly
    correct: int = 0  # named detections naming the right person (any visibility)
    wrong: int = 0  # named detections naming someone else, or nothing at all
    unknown_named: int = 0  # named detections on the unknown face

    @property
    def recall(self) -> float:
        return self.found / self.counted if self.counted else math.nan

    @property
    def precision(self) -> float:
        named = self.correct + self.wrong
        return self.correct / named if named else math.nan

    def add(self, other: Tally) -> None:
        for name in ("counted", "found", "correct", "wrong", "unknown_named"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class VideoScore:
    total: Tally = field(default_factory=Tally)
    classes: dict[str, Tally] = field(default_factory=lambda: {c: Tally() for c in CLASSES})
    # person -> (truth first, engine first, truth last, engine last), ms
    edges: dict[str, tuple[float, float | None, float, float | None]] = field(default_factory=dict)

    def edge_errors_ms(self) -> dict[str, tuple[float, float]]:
        out = {}
        for person, (tf, ef, tl, el) in self.edges.items():
            out[person] = (
                abs(ef - tf) if ef is not None else math.inf,
                abs(el - tl) if el is not None else math.inf,
            )
        return out

    def worst_edge_ms(self) -> float:
        return max((max(v) for v in self.edge_errors_ms().values()), default=0.0)


def _clip(box: tuple[float, ...], w: int, h: int) -> tuple[float, float, float, float]:
    return (max(0.0, box[0]), max(0.0, box[1]), min(float(w), box[2]), min(float(h), box[3]))


def score(
    video: HardVideo, detections: Sequence[dict[str, Any]], sampled_ms: Sequence[int]
) -> VideoScore:
    """Score CelebrityRecognition items against the truth at the sampled frames."""
    w, h = video.script.width, video.script.height
    by_ms = {round(f.t_ms): f for f in video.truth}
    named: dict[int, list[tuple[str, tuple[float, float, float, float]]]] = {}
    for d in detections:
        celeb = d["Celebrity"]
        bb = celeb["Face"]["BoundingBox"]
        box = (bb["Left"] * w, bb["Top"] * h, (bb["Left"] + bb["Width"]) * w,
               (bb["Top"] + bb["Height"]) * h)  # fmt: skip
        named.setdefault(int(d["Timestamp"]), []).append((celeb["Name"], box))
    result = VideoScore()

    def tallies(face: TrueFace | None) -> list[Tally]:
        return [result.total] + ([result.classes[c] for c in face.classes] if face else [])

    for ms in sampled_ms:
        frame = by_ms.get(ms)
        if frame is None:
            frame = min(video.truth, key=lambda f: abs(f.t_ms - ms))
            if abs(frame.t_ms - ms) > 1.0:
                raise ValueError(f"{video.name}: no ground-truth frame at {ms} ms")
        faces = frame.faces
        hits: set[int] = set()
        items = named.get(ms, [])
        pairs = sorted(
            ((synth._iou(box, _clip(f.box, w, h)), i, j)
             for i, (_, box) in enumerate(items) for j, f in enumerate(faces)),
            reverse=True,
        )  # fmt: skip
        match: dict[int, int] = {}
        for iou, i, j in pairs:
            if iou < MATCH_IOU:
                break
            if i not in match and j not in match.values():
                match[i] = j
        for i, (name, _) in enumerate(items):
            face = faces[match[i]] if i in match else None
            if face is None:
                result.total.wrong += 1
                continue
            if face.person not in KNOWN:
                for t in tallies(face):
                    t.unknown_named += 1
                    t.wrong += 1
            elif face.person == name:
                if face.counts:
                    hits.add(match[i])
                    for t in tallies(face):
                        t.correct += 1
                # a correct name on a face less than half visible counts neither way
            else:
                for t in tallies(face):
                    t.wrong += 1
        for j, face in enumerate(faces):
            if face.person in KNOWN and face.counts:
                for t in tallies(face):
                    t.counted += 1
                    t.found += j in hits
    for person in sorted(KNOWN):
        present = [
            f.t_ms for f in video.truth if any(x.person == person and x.counts for x in f.faces)
        ]
        if not present:
            continue
        seen = sorted(ms for ms, items in named.items() for name, _ in items if name == person)
        result.edges[person] = (
            present[0], seen[0] if seen else None, present[-1], seen[-1] if seen else None,
        )  # fmt: skip
    return result


# --------------------------------------------------------------------------- the plain recipe


def run_recipe(
    path: Path, gallery_dir: Path, sample_fps: float = 5.0
) -> tuple[list[dict[str, Any]], list[int], float]:
    """The plain recipe of issue 9: HOG with one upsample on every sampled frame, a dlib
    embedding for every face, nearest enrolled face under 0.6, no tracking. Enrolment takes
    the largest face of each photo (so a second detection does not refuse it). Frames are
    the engine's sampled frames (same decoder, same time grid), so both are scored on the
    same frames. Returns (CelebrityRecognition-like items, sampled ms, CPU seconds)."""
    import dlib

    from cameo_engine.models import RECOGNITION_MODEL_FILE, SHAPE_PREDICTOR_FILE, models_dir
    from cameo_engine.video import sample_frames

    root = models_dir()
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(root / SHAPE_PREDICTOR_FILE))
    encoder = dlib.face_recognition_model_v1(str(root / RECOGNITION_MODEL_FILE))

    def encode(rgb: npt.NDArray[np.uint8], rect: Any) -> npt.NDArray[np.float64]:
        return np.array(encoder.compute_face_descriptor(rgb, predictor(rgb, rect), 1))

    known, names = [], []
    for folder in sorted(p for p in gallery_dir.iterdir() if p.is_dir()):
        for photo in sorted(folder.glob("*.jpg")) + sorted(folder.glob("*.png")):
            img = Image.open(photo).convert("RGB")
            s = min(1.0, 1200 / max(img.size))
            img = img.resize((round(img.width * s), round(img.height * s)))
            rgb = np.asarray(img)
            rects = sorted(detector(rgb, 1), key=lambda r: -r.area())
            if rects:
                known.append(encode(rgb, rects[0]))
                names.append(folder.name)
    matrix = np.array(known)

    cpu = time.process_time()
    detections: list[dict[str, Any]] = []
    sampled: list[int] = []
    for sample in sample_frames(path, sample_fps):
        sampled.append(sample.timestamp_ms)
        rgb = sample.rgb()
        fh, fw = rgb.shape[:2]
        for rect in detector(rgb, 1):
            distances = np.linalg.norm(matrix - encode(rgb, rect), axis=1)
            best = int(np.argmin(distances))
            if distances[best] < 0.6:
                box = {"Left": rect.left() / fw, "Top": rect.top() / fh,
                       "Width": rect.width() / fw, "Height": rect.height() / fh}  # fmt: skip
                detections.append({
                    "Timestamp": sample.timestamp_ms,
                    "Celebrity": {"Name": names[best], "Face": {"BoundingBox": box}},
                })  # fmt: skip
    return detections, sampled, time.process_time() - cpu


# --------------------------------------------------------------------------- reports


@dataclass
class Run:
    who: str  # "engine" | "recipe"
    scores: dict[str, VideoScore]
    cpu_s: float = 0.0
    wall_s: float = 0.0
    gallery_warnings: list[str] = field(default_factory=list)
    # Per video, every (Timestamp, Name) the engine reported (for comparing runs).
    named: dict[str, list[tuple[int, str]]] = field(default_factory=dict)


def run_engine(suite: Suite, *, sample_fps: float = 5.0, processes: int | None = None) -> Run:
    """The engine at its default settings (processes: analyze_video's default unless given)."""
    from cameo_engine.gallery import Gallery
    from cameo_engine.recognition import analyze_video

    gallery = Gallery.load(_fresh_gallery(suite))
    scores, named = {}, {}
    cpu, wall = time.process_time(), time.perf_counter()
    for video in suite.videos:
        kwargs: dict[str, Any] = {"sample_fps": sample_fps}
        if processes is not None:
            kwargs["processes"] = processes
        result = analyze_video(video.path, gallery, **kwargs)
        scores[video.name] = score(video, result.detections, result.sampled_ms)
        named[video.name] = sorted(
            (d["Timestamp"], d["Celebrity"]["Name"]) for d in result.detections
        )
    return Run("engine", scores, time.process_time() - cpu, time.perf_counter() - wall,
               list(gallery.warnings), named)  # fmt: skip


def _fresh_gallery(suite: Suite) -> Path:
    """A private copy of the suite's gallery: enrolment runs (and caches) in the copy."""
    target = Path(tempfile.mkdtemp(prefix="cameo-hard-gallery-")) / "gallery"
    shutil.copytree(suite.gallery, target, ignore=shutil.ignore_patterns(".cameo-cache"))
    return target


def run_recipe_suite(suite: Suite, *, sample_fps: float = 5.0) -> Run:
    scores, cpu_total = {}, 0.0
    wall = time.perf_counter()
    for video in suite.videos:
        dets, sampled, cpu = run_recipe(video.path, suite.gallery, sample_fps)
        cpu_total += cpu
        scores[video.name] = score(video, dets, sampled)
    return Run("recipe", scores, cpu_total, time.perf_counter() - wall)


def _f(x: float) -> str:
    return "   -  " if math.isnan(x) else f"{x:6.3f}"


def report(runs: Sequence[Run], suite: Suite) -> str:
    lines = []
    interval = 200.0
    for run in runs:
        lines.append(f"== {run.who}: cpu {run.cpu_s:.1f} s, wall {run.wall_s:.1f} s")
        for warning in run.gallery_warnings:
            lines.append(f"   gallery warning: {warning}")
        lines.append(f"{'video':22} {'prec':>6} {'recall':>6} {'faces':>6} {'unk.named':>9} "
                     f"{'first/last error ms (per person)':>34}  gates")  # fmt: skip
        for video in suite.videos:
            s = run.scores[video.name]
            errs = ", ".join(
                f"{p.split()[-1]} {_ms(a)}/{_ms(b)}" for p, (a, b) in s.edge_errors_ms().items()
            )
            ok = gates_met(s, interval)
            lines.append(f"{video.name:22} {_f(s.total.precision)} {_f(s.total.recall)} "
                         f"{s.total.counted:6d} {s.total.unknown_named:9d} {errs:>34}  "
                         f"{'met' if not ok else 'NOT met: ' + '; '.join(ok)}")  # fmt: skip
        lines.append("recall per class (faces counted), per video:")
        lines.append(f"{'class':16} " + " ".join(f"{v.name:>22}" for v in suite.videos)
                     + f" {'all':>14}")  # fmt: skip
        for c in CLASSES:
            cells, total = [], Tally()
            for video in suite.videos:
                t = run.scores[video.name].classes[c]
                total.add(t)
                cells.append(f"{_f(t.recall)} ({t.counted:3d}) p{_f(t.precision)}".rjust(22))
            lines.append(f"{c:16} " + " ".join(cells)
                         + f" {_f(total.recall)} ({total.counted:4d})")  # fmt: skip
        lines.append("")
    return "\n".join(lines)


def _ms(x: float) -> str:
    return "never" if math.isinf(x) else f"{x:.0f}"


def gates_met(s: VideoScore, interval_ms: float) -> list[str]:
    """Issue 9's gates for one video; returns the ones missed (empty: all met)."""
    missed = []
    if not s.total.precision >= 0.99:
        missed.append(f"precision {s.total.precision:.4f} < 0.99")
    if not s.total.recall >= 0.95:
        missed.append(f"recall {s.total.recall:.4f} < 0.95")
    if s.total.unknown_named:
        missed.append(f"{s.total.unknown_named} unknown named")
    for person, (first, last) in s.edge_errors_ms().items():
        if first > interval_ms or last > interval_ms:
            missed.append(f"{person} first/last {_ms(first)}/{_ms(last)} ms > {interval_ms:.0f}")
    return missed


def scores_to_json(run: Run) -> dict[str, Any]:
    out: dict[str, Any] = {"who": run.who, "cpu_s": run.cpu_s, "wall_s": run.wall_s, "videos": {}}
    for name, s in run.scores.items():
        out["videos"][name] = {
            "precision": s.total.precision,
            "recall": s.total.recall,
            "counted": s.total.counted,
            "unknown_named": s.total.unknown_named,
            "edge_errors_ms": {p: list(v) for p, v in s.edge_errors_ms().items()},
            "classes": {c: {"recall": t.recall, "precision": t.precision, "counted": t.counted,
                            "unknown_named": t.unknown_named} for c, t in s.classes.items()},
        }  # fmt: skip
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cameo_engine.hardsuite")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build (or find) the suite and print where it is")
    s = sub.add_parser("score", help="run the engine (default settings) and score it")
    for p in (b, s):
        p.add_argument(
            "--cache", type=Path, default=None, help="default: $CAMEO_CACHE_DIR or ./.cache"
        )
    s.add_argument("--recipe", action="store_true", help="also the plain recipe, same run")
    s.add_argument("--recipe-only", action="store_true")
    s.add_argument("--processes", type=int, default=None)
    s.add_argument("--json", type=Path, default=None, help="write the figures here too")
    args = parser.parse_args(argv)
    suite = build(args.cache, log=print)
    if args.command == "build":
        print(suite.root)
        return
    runs = []
    if not args.recipe_only:
        runs.append(run_engine(suite, processes=args.processes))
    if args.recipe or args.recipe_only:
        runs.append(run_recipe_suite(suite))
    print(f"suite: {suite.root}  ({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f})\n")
    print(report(runs, suite))
    if args.json:
        args.json.write_text(json.dumps([scores_to_json(r) for r in runs], indent=1))


if __name__ == "__main__":
    main()
