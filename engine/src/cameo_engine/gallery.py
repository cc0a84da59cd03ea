"""The gallery of people the engine can name: a folder the user controls.

Layout: DIR/<Person Name>/*.jpg|*.jpeg|*.png, plus an optional DIR/<Person Name>/person.json
holding {"Id", "Urls", "KnownGender"}. The folder name is the person's name.

Each photo enrolls its *dominant* face, like Rekognition's IndexFaces with MaxFaces=1: the
face with the largest dominance (box width x detector score) when it leads the next one by
DOMINANCE_MARGIN; a badge, a poster or a person in the background is then ignored. A photo with
no face, or with two faces of about equal dominance, is refused. The face is enrolled as a
jittered embedding (the mean of several randomly perturbed crops, dlib's `num_jitters`), which is
steadier than a single crop. Embeddings, what was enrolled (face size and quality, faces
ignored) and a thumbnail of the enrolled crop are cached in DIR/.cameo-cache/ keyed by the
photo's SHA-256 and the model, so a reload only embeds new or changed photos.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}
KNOWN_GENDERS = ("Male", "Female", "Nonbinary", "Unlisted")
PERSON_FILE = "person.json"
CACHE_DIR = ".cameo-cache"
CACHE_FILE = "embeddings.json"
THUMB_DIR = "thumbs"
ENROLL_JITTERS = 10
# Cached embeddings made with another jitter (dlib's unseeded one) are made again.
_JITTER_KEY = f"{ENROLL_JITTERS} seeded"
#: The enrolled face must be this many times as dominant (width x score) as the next one.
DOMINANCE_MARGIN = 1.25
#: dlib's published operating point for this model (99.38% on LFW at 0.6).
DEFAULT_THRESHOLD = 0.6
# Enrolment photos are downscaled to this longest side before detection: big phone photos
# would otherwise take seconds each, and a usable enrolment face is never tiny.
_ENROLL_MAX_SIDE = 1200
_ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_RE = re.compile(r"^[0-9A-Za-z_-]{1,64}$")


class GalleryError(Exception):
    """A user-facing gallery problem; str(exc) is meant to be shown as is."""


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    urls: list[str]
    known_gender: str | None  # "Male" | "Female" | "Nonbinary" | "Unlisted" | None


def person_id_for(name: str) -> str:
    """Stable Rekognition-like id (8 base-62 characters) derived from the name."""
    digest = hashlib.sha256(name.strip().casefold().encode()).digest()
    n = int.from_bytes(digest[:8], "big")
    chars = []
    for _ in range(8):
        n, r = divmod(n, 62)
        chars.append(_ID_ALPHABET[r])
    return "".join(chars)


def _validate_name(name: str) -> str:
    clean = name.strip()
    if not clean:
        raise GalleryError("a person's name cannot be empty")
    if len(clean) > 128:
        raise GalleryError("a person's name must be at most 128 characters")
    if clean.startswith(".") or any(c in clean for c in '/\\:*?"<>|') or "\x00" in clean:
        raise GalleryError(
            f"invalid name {name!r}: it becomes a folder name, so it cannot start with '.' "
            'or contain / \\ : * ? " < > |'
        )
    return clean


def _validate_gender(known_gender: str | None) -> str | None:
    if known_gender is None:
        return None
    for g in KNOWN_GENDERS:
        if known_gender.casefold() == g.casefold():
            return g
    raise GalleryError(
        f"KnownGender must be one of {', '.join(KNOWN_GENDERS)} (got {known_gender!r})"
    )


@dataclass(frozen=True)
class EnrolledFace:
    """Which face of a photo was enrolled, and how good it is (shown by `gallery add/list`)."""

    box: tuple[int, int, int, int]  # left, top, right, bottom in the photo's own pixels
    confidence: float  # detector, 0-100
    sharpness: float  # 0-100, as Face.Quality.Sharpness
    brightness: float  # 0-100, as Face.Quality.Brightness
    ignored: tuple[int, ...] = ()  # widths (px) of the other faces found, not enrolled

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "box": list(self.box),
            "confidence": self.confidence,
            "sharpness": self.sharpness,
            "brightness": self.brightness,
            "ignored": list(self.ignored),
        }

    @classmethod
    def from_json(cls, raw: Any) -> EnrolledFace | None:
        try:
            return cls(
                tuple(int(v) for v in raw["box"]),  # type: ignore[arg-type]
                float(raw["confidence"]),
                float(raw["sharpness"]),
                float(raw["brightness"]),
                tuple(int(v) for v in raw.get("ignored", [])),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def describe(self) -> str:
        text = (
            f"face {self.width} px at ({self.box[0]}, {self.box[1]}), "
            f"confidence {self.confidence:.1f}, sharpness {self.sharpness:.0f}, "
            f"brightness {self.brightness:.0f}"
        )
        if self.ignored:
            sizes = ", ".join(f"{w} px" for w in self.ignored)
            text += f"; ignored {len(self.ignored)} smaller face(s): {sizes}"
        return text


@dataclass(frozen=True)
class _Enrolled:
    """Outcome of enrolling one photo: an embedding or the reason it was refused."""

    embedding: npt.NDArray[np.float64] | None
    error: str | None
    face: EnrolledFace | None = None
    thumbnail: bytes | None = None  # JPEG of the aligned crop that was embedded


@dataclass(frozen=True)
class EnrolledPhoto:
    """One enrolled photo of a person, for listings."""

    path: Path
    face: EnrolledFace | None  # None for photos enrolled before this was recorded
    thumbnail: Path | None


def _dominant(faces: list[Any]) -> tuple[Any | None, list[Any]]:
    """The face to enroll and the ones ignored; (None, faces) when none clearly dominates."""
    ranked = sorted(faces, key=lambda f: -f.width * f.score)
    if len(ranked) > 1 and ranked[0].width * ranked[0].score < DOMINANCE_MARGIN * (
        ranked[1].width * ranked[1].score
    ):
        return None, ranked
    return ranked[0], ranked[1:]


def embed_photo(data: bytes, label: str) -> _Enrolled:
    """Find the dominant face in a photo and return its jittered embedding."""
    import dlib
    from PIL import Image, ImageOps, UnidentifiedImageError

    from cameo_engine.models import local_models
    from cameo_engine.recognition import detect_image, face_confidence
    from cameo_engine.tracking import measure_face

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            image = ImageOps.exif_transpose(img).convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        return _Enrolled(None, f"{label}: not a readable JPEG or PNG image ({exc})")
    scale = min(1.0, _ENROLL_MAX_SIDE / max(image.size))
    if scale < 1.0:
        image = image.resize((round(image.width * scale), round(image.height * scale)))
    rgb = np.asarray(image)
    models = local_models()
    faces = detect_image(models, rgb)
    if not faces:
        return _Enrolled(None, f"{label}: no face found; use a photo with one clear, frontal face")
    face, ignored = _dominant(faces)
    if face is None:
        return _Enrolled(
            None,
            f"{label}: {len(faces)} faces found and none clearly dominant (the largest is less "
            f"than {DOMINANCE_MARGIN:g}x the next); use a photo where this person's face is "
            "the largest, or showing only this person",
        )
    shape = models.landmarks(rgb, face)
    gray = np.asarray(image.convert("L"))
    measured = measure_face(gray, face, shape, 0, -1, float("inf"), embedded=True)
    back = 1.0 / scale  # report the box in the photo's own pixels
    enrolled = EnrolledFace(
        box=(
            round(face.left * back),
            round(face.top * back),
            round(face.right * back),
            round(face.bottom * back),
        ),
        confidence=face_confidence(face.score),
        sharpness=round(measured.sharpness, 1),
        brightness=round(measured.brightness, 1),
        ignored=tuple(round(f.width * back) for f in ignored),
    )
    chip = Image.fromarray(np.asarray(dlib.get_face_chip(rgb, shape, 150, 0.25)))
    out = io.BytesIO()
    chip.save(out, "JPEG", quality=90)
    return _Enrolled(
        models.embed(rgb, shape, jitters=ENROLL_JITTERS), None, enrolled, out.getvalue()
    )


class Gallery:
    """People and their enrolled embeddings. Thread-safe; matching uses an immutable snapshot."""

    def __init__(self, root: Path, *, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.root = Path(root)
        self.threshold = threshold
        self.people: list[Person] = []
        #: Photos that could not be enrolled, as user-facing messages (load() never raises on them).
        self.warnings: list[str] = []
        #: How many photo embeddings the last load()/add() took from the cache or computed.
        self.stats = {"cached": 0, "computed": 0}
        self._lock = threading.RLock()
        self._by_id: dict[str, Person] = {}
        self._photos: dict[str, int] = {}
        self._photo_info: dict[str, list[EnrolledPhoto]] = {}
        self._matrix: npt.NDArray[np.float64] = np.zeros((0, 128))
        self._owners: list[Person] = []
        self._seen: set[str] = set()

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(cls, root: Path, *, threshold: float = DEFAULT_THRESHOLD) -> Gallery:
        """Read every person folder under root (created if missing) and enroll their photos."""
        gallery = cls(root, threshold=threshold)
        gallery.root.mkdir(parents=True, exist_ok=True)
        gallery.reload()
        return gallery

    def reload(self) -> None:
        with self._lock:
            cache = self._read_cache()
            people: list[Person] = []
            rows: list[npt.NDArray[np.float64]] = []
            owners: list[Person] = []
            warnings: list[str] = []
            photos: dict[str, int] = {}
            photo_info: dict[str, list[EnrolledPhoto]] = {}
            self.stats = {"cached": 0, "computed": 0}
            self._seen = set()
            for folder in sorted(self.root.iterdir(), key=lambda p: p.name.casefold()):
                if not folder.is_dir() or folder.name.startswith("."):
                    continue
                try:
                    person = self._read_person(folder)
                except GalleryError as exc:
                    warnings.append(str(exc))
                    continue
                if person.id in {p.id for p in people}:
                    warnings.append(f"{folder.name}: Id {person.id} is already used; skipped")
                    continue
                people.append(person)
                photos[person.id] = 0
                photo_info[person.id] = []
                for photo in self._photo_files(folder):
                    enrolled, key = self._enroll_cached(photo, cache)
                    if enrolled.embedding is None:
                        warnings.append(enrolled.error or f"{photo}: not enrolled")
                        continue
                    rows.append(enrolled.embedding)
                    owners.append(person)
                    photos[person.id] += 1
                    thumb = self._thumb_path(key)
                    photo_info[person.id].append(
                        EnrolledPhoto(photo, enrolled.face, thumb if thumb.is_file() else None)
                    )
            for person in people:
                if photos[person.id] == 0:
                    warnings.append(f"{person.name}: no usable photo, so never recognised")
            # Keep only photos still in the gallery: a removed person's face data goes too.
            # Written only on change, so that watchers of the folder see a stable tree.
            kept = {k: v for k, v in cache.items() if k in self._seen}
            if kept != self._read_cache() or not self._cache_path().is_file():
                self._write_cache(kept)
            self._drop_thumbnails(keep=set(kept))
            self.people = people
            self._by_id = {p.id: p for p in people}
            self._photos = photos
            self._photo_info = photo_info
            self._matrix = np.array(rows) if rows else np.zeros((0, 128))
            self._owners = owners
            self.warnings = warnings
            for w in warnings:
                log.warning("gallery: %s", w)

    def _read_person(self, folder: Path) -> Person:
        meta: dict[str, Any] = {}
        meta_file = folder / PERSON_FILE
        if meta_file.is_file():
            try:
                meta = json.loads(meta_file.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise GalleryError(f"{meta_file}: not valid JSON ({exc})") from exc
            if not isinstance(meta, dict):
                raise GalleryError(f"{meta_file}: must hold a JSON object")
        person_id = str(meta.get("Id") or person_id_for(folder.name))
        if not _ID_RE.match(person_id):
            raise GalleryError(f"{meta_file}: Id must be 1-64 letters, digits, '_' or '-'")
        urls = meta.get("Urls") or []
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise GalleryError(f"{meta_file}: Urls must be a list of strings")
        gender = _validate_gender(meta.get("KnownGender"))
        return Person(id=person_id, name=folder.name, urls=list(urls), known_gender=gender)

    @staticmethod
    def _photo_files(folder: Path) -> list[Path]:
        return sorted(
            p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES
        )

    # ------------------------------------------------------------------ cache

    def _cache_path(self) -> Path:
        return self.root / CACHE_DIR / CACHE_FILE

    def _read_cache(self) -> dict[str, Any]:
        from cameo_engine.models import EMBEDDING_MODEL_ID

        path = self._cache_path()
        try:
            cache = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if cache.get("model") != EMBEDDING_MODEL_ID or cache.get("jitters") != _JITTER_KEY:
            return {}
        entries = cache.get("entries")
        return entries if isinstance(entries, dict) else {}

    def _write_cache(self, entries: dict[str, Any]) -> None:
        from cameo_engine.models import EMBEDDING_MODEL_ID

        path = self._cache_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {"model": EMBEDDING_MODEL_ID, "jitters": _JITTER_KEY, "entries": entries}
        # Atomic replace: a server and a CLI may share the folder.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".embeddings-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(body, f)
        os.replace(tmp, path)

    def _thumb_path(self, key: str) -> Path:
        return self.root / CACHE_DIR / THUMB_DIR / f"{key}.jpg"

    def _drop_thumbnails(self, keep: set[str]) -> None:
        """Thumbnails are face data: they go with the photo they were made from."""
        folder = self.root / CACHE_DIR / THUMB_DIR
        if folder.is_dir():
            for thumb in folder.glob("*.jpg"):
                if thumb.stem not in keep:
                    thumb.unlink(missing_ok=True)

    def _remember(self, key: str, enrolled: _Enrolled, cache: dict[str, Any]) -> None:
        """Put an enrolment outcome in the cache (and its thumbnail next to it)."""
        if enrolled.embedding is None:  # remember refusals too, without the file name
            cache[key] = {"error": (enrolled.error or "").split(": ", 1)[-1]}
            return
        entry: dict[str, Any] = {
            "embedding": base64.b64encode(enrolled.embedding.astype("<f8").tobytes()).decode()
        }
        if enrolled.face is not None:
            entry["face"] = enrolled.face.to_json()
        cache[key] = entry
        if enrolled.thumbnail is not None:
            thumb = self._thumb_path(key)
            thumb.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=thumb.parent, prefix=".thumb-", suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(enrolled.thumbnail)
            os.replace(tmp, thumb)

    def _enroll_cached(self, photo: Path, cache: dict[str, Any]) -> tuple[_Enrolled, str]:
        data = photo.read_bytes()
        key = hashlib.sha256(data).hexdigest()
        self._seen.add(key)
        label = f"{photo.parent.name}/{photo.name}"
        hit = cache.get(key)
        if isinstance(hit, dict):
            self.stats["cached"] += 1
            if hit.get("embedding"):
                raw = base64.b64decode(hit["embedding"])
                face = EnrolledFace.from_json(hit.get("face"))
                return _Enrolled(np.frombuffer(raw, dtype="<f8").copy(), None, face), key
            return _Enrolled(None, f"{label}: {hit.get('error', 'not enrolled')}"), key
        enrolled = embed_photo(data, label)
        self.stats["computed"] += 1
        self._remember(key, enrolled, cache)
        return enrolled, key

    # ------------------------------------------------------------------ queries

    def get(self, celebrity_id: str) -> Person | None:
        return self._by_id.get(celebrity_id)

    def find(self, name_or_id: str) -> Person | None:
        with self._lock:
            if name_or_id in self._by_id:
                return self._by_id[name_or_id]
            wanted = name_or_id.strip().casefold()
            return next((p for p in self.people if p.name.casefold() == wanted), None)

    def photo_count(self, person: Person) -> int:
        return self._photos.get(person.id, 0)

    def photos(self, person: Person) -> list[EnrolledPhoto]:
        """The person's enrolled photos: which face each one enrolled, and its thumbnail."""
        with self._lock:
            return list(self._photo_info.get(person.id, []))

    def index(self) -> tuple[npt.NDArray[np.float64], list[Person]]:
        """The enrolled embeddings (rows) and the person each row belongs to."""
        with self._lock:
            return self._matrix, list(self._owners)

    def match(
        self, embedding: Sequence[float] | npt.NDArray[np.float64]
    ) -> tuple[Person, float] | None:
        """Nearest enrolled embedding as (person, euclidean distance), if under the threshold.

        A face farther than the threshold from every enrolled photo is unknown: it never gets a
        name, however close its nearest neighbour is relative to the others.
        """
        matrix, owners = self.index()
        if not len(owners):
            return None
        distances = np.linalg.norm(matrix - np.asarray(embedding, dtype=np.float64), axis=1)
        best = int(np.argmin(distances))
        distance = float(distances[best])
        if distance >= self.threshold:
            return None
        return owners[best], distance

    # ------------------------------------------------------------------ editing

    def add(
        self,
        name: str,
        photos: list[Path],
        *,
        person_id: str | None = None,
        urls: list[str] | None = None,
        known_gender: str | None = None,
    ) -> Person:
        """Enroll photos for a new or existing person; nothing is written if one is refused."""
        name = _validate_name(name)
        gender = _validate_gender(known_gender)
        if not photos:
            raise GalleryError(f"{name}: give at least one photo")
        if person_id is not None and not _ID_RE.match(person_id):
            raise GalleryError("Id must be 1-64 letters, digits, '_' or '-'")
        with self._lock:
            existing = self.find(name)
            if existing is not None and existing.name != name:
                name = existing.name  # same person, other capitalisation: reuse the folder
            if person_id is not None:
                owner = self._by_id.get(person_id)
                if owner is not None and owner.name != name:
                    raise GalleryError(f"Id {person_id} already belongs to {owner.name}")
            cache = self._read_cache()
            accepted: list[tuple[str, _Enrolled]] = []
            for photo in photos:
                photo = Path(photo)
                if photo.suffix.lower() not in PHOTO_SUFFIXES:
                    raise GalleryError(
                        f"{photo.name}: only .jpg, .jpeg and .png photos can be enrolled"
                    )
                try:
                    data = photo.read_bytes()
                except OSError as exc:
                    raise GalleryError(f"{photo}: cannot read the photo ({exc.strerror})") from exc
                key = hashlib.sha256(data).hexdigest()
                if key not in cache or "embedding" not in cache[key]:
                    enrolled = embed_photo(data, photo.name)
                    if enrolled.embedding is None:
                        raise GalleryError(enrolled.error or f"{photo.name}: not enrolled")
                    accepted.append((key, enrolled))
            for key, enrolled in accepted:  # every photo passed: now write
                self._remember(key, enrolled, cache)
            self._write_cache(cache)
            folder = self.root / name
            folder.mkdir(parents=True, exist_ok=True)
            for photo in photos:
                target = folder / Path(photo).name
                n = 1
                while target.exists() and target.read_bytes() != Path(photo).read_bytes():
                    target = folder / f"{Path(photo).stem}-{n}{Path(photo).suffix}"
                    n += 1
                shutil.copyfile(photo, target)
            meta_file = folder / PERSON_FILE
            meta: dict[str, Any] = {}
            if meta_file.is_file():
                meta = json.loads(meta_file.read_text(encoding="utf-8"))
            meta["Id"] = person_id or meta.get("Id") or person_id_for(name)
            merged = list(meta.get("Urls") or [])
            merged += [u for u in (urls or []) if u not in merged]
            meta["Urls"] = merged
            if gender is not None or "KnownGender" not in meta:
                meta["KnownGender"] = gender
            meta_file.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            self.reload()
            person = self.find(name)
            assert person is not None
            return person

    def remove(self, name_or_id: str) -> Person:
        with self._lock:
            person = self.find(name_or_id)
            if person is None:
                raise GalleryError(f"no person named or with Id {name_or_id!r} in the gallery")
            shutil.rmtree(self.root / person.name)
            self.reload()
            return person
