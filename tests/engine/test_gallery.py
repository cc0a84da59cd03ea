"""The gallery: a folder of people the user controls, enrolled with cached embeddings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cameo_engine import synth
from cameo_engine.gallery import Gallery, GalleryError, embed_photo, person_id_for

pytestmark = pytest.mark.engine


def _embedding(path: Path) -> np.ndarray:
    enrolled = embed_photo(path.read_bytes(), path.name)
    assert enrolled.embedding is not None
    return enrolled.embedding


def test_loading_enrolls_every_person_folder_with_stable_ids(gallery) -> None:
    assert [p.name for p in gallery.people] == [synth.OBAMA, synth.COLLINS]
    obama = gallery.people[0]
    assert obama.id == person_id_for(synth.OBAMA)
    assert len(obama.id) == 8 and obama.id.isalnum()
    assert obama.urls == ["en.wikipedia.org/wiki/Barack_Obama"]
    assert obama.known_gender == "Male"
    assert gallery.photo_count(obama) == 2
    assert gallery.get(obama.id) is obama
    assert gallery.get("nobody") is None
    assert gallery.warnings == []


def test_reloading_takes_every_embedding_from_the_cache(gallery_copy) -> None:
    # Given a gallery enrolled before (the copy carries its .cameo-cache)
    reloaded = Gallery.load(gallery_copy)
    # Then nothing is embedded again, and the answer is the same
    assert reloaded.stats == {"cached": 3, "computed": 0}
    assert [p.id for p in reloaded.people] == [
        person_id_for(synth.OBAMA),
        person_id_for(synth.COLLINS),
    ]


def test_a_changed_photo_is_embedded_again(gallery_copy, photo_dir) -> None:
    target = gallery_copy / synth.COLLINS / "astronaut.png"
    Image.open(photo_dir / "astronaut.png").transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(target)
    assert Gallery.load(gallery_copy).stats == {"cached": 2, "computed": 1}


def test_known_faces_match_and_unknown_faces_never_get_a_name(gallery, photo_dir) -> None:
    # obama3.jpg is not one of the enrolment photos
    match = gallery.match(_embedding(photo_dir / "obama3.jpg"))
    assert match is not None
    person, distance = match
    assert person.name == synth.OBAMA
    assert distance < gallery.threshold
    assert gallery.match(_embedding(photo_dir / "biden.jpg")) is None


def test_adding_a_person_copies_photos_and_writes_person_json(gallery_copy, photo_dir) -> None:
    gallery = Gallery.load(gallery_copy)
    person = gallery.add(
        synth.BIDEN,
        [photo_dir / "biden.jpg"],
        urls=["en.wikipedia.org/wiki/Joe_Biden"],
        known_gender="male",
    )
    assert person.id == person_id_for(synth.BIDEN)
    assert person.known_gender == "Male"
    assert (gallery_copy / synth.BIDEN / "biden.jpg").is_file()
    meta = json.loads((gallery_copy / synth.BIDEN / "person.json").read_text())
    assert meta == {
        "Id": person.id,
        "Urls": ["en.wikipedia.org/wiki/Joe_Biden"],
        "KnownGender": "Male",
    }
    assert [p.name for p in gallery.people] == [synth.OBAMA, synth.COLLINS, synth.BIDEN]
    match = gallery.match(_embedding(photo_dir / "biden.jpg"))
    assert match is not None and match[0].name == synth.BIDEN
    # and a fresh load sees the same person, from the cache
    again = Gallery.load(gallery_copy)
    assert again.get(person.id) == person
    assert again.stats["computed"] == 0


def test_an_explicit_id_is_kept_and_read_back(gallery_copy, photo_dir) -> None:
    gallery = Gallery.load(gallery_copy)
    person = gallery.add(synth.BIDEN, [photo_dir / "biden.jpg"], person_id="3X9yGs7")
    assert person.id == "3X9yGs7"
    assert Gallery.load(gallery_copy).get("3X9yGs7") is not None


def test_a_photo_without_a_face_is_refused_clearly(gallery_copy, tmp_path) -> None:
    blank = tmp_path / "wall.png"
    Image.linear_gradient("L").resize((400, 300)).convert("RGB").save(blank)
    gallery = Gallery.load(gallery_copy)
    with pytest.raises(GalleryError, match=r"wall\.png: no face found"):
        gallery.add("Someone", [blank])
    assert not (gallery_copy / "Someone").exists()


def test_a_photo_with_two_equally_dominant_faces_is_refused_clearly(
    gallery_copy, photo_dir, tmp_path
) -> None:
    group = Image.new("RGB", (1000, 500), (128, 128, 128))
    for i, key in enumerate(["obama", "biden"]):
        sprite = synth.Sprite.from_photo(key, photo_dir.parent)
        face = sprite.image.resize((400, 400))
        group.paste(face, (60 + 480 * i, 50), face)
    path = tmp_path / "group.jpg"
    group.save(path)
    gallery = Gallery.load(gallery_copy)
    with pytest.raises(GalleryError, match=r"group\.jpg: 2 faces found and none clearly dominant"):
        gallery.add(synth.BIDEN, [path])
    assert not (gallery_copy / synth.BIDEN).exists()


def test_removing_by_name_or_id_deletes_the_folder_and_its_face_data(gallery_copy) -> None:
    gallery = Gallery.load(gallery_copy)
    cache_file = gallery_copy / ".cameo-cache" / "embeddings.json"
    assert len(json.loads(cache_file.read_text())["entries"]) == 3
    removed = gallery.remove(person_id_for(synth.COLLINS))
    assert removed.name == synth.COLLINS
    assert not (gallery_copy / synth.COLLINS).exists()
    assert [p.name for p in gallery.people] == [synth.OBAMA]
    assert len(json.loads(cache_file.read_text())["entries"]) == 2
    assert gallery.remove("barack obama").name == synth.OBAMA
    assert gallery.people == []


def test_removing_an_unknown_person_is_a_clear_error(gallery_copy) -> None:
    with pytest.raises(GalleryError, match="no person named or with Id 'Nobody'"):
        Gallery.load(gallery_copy).remove("Nobody")


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("../escape", {}, "invalid name"),
        ("", {}, "cannot be empty"),
        ("Someone", {"known_gender": "Robot"}, "KnownGender must be one of"),
        ("Someone", {"person_id": "bad id!"}, "Id must be"),
    ],
)
def test_invalid_person_details_are_refused(gallery_copy, photo_dir, name, kwargs, message) -> None:
    with pytest.raises(GalleryError, match=message):
        Gallery.load(gallery_copy).add(name, [photo_dir / "biden.jpg"], **kwargs)


def test_a_bad_photo_already_in_the_folder_is_a_warning_not_a_crash(gallery_copy) -> None:
    (gallery_copy / synth.OBAMA / "notes.jpg").write_bytes(b"not an image")
    gallery = Gallery.load(gallery_copy)
    assert gallery.photo_count(gallery.people[0]) == 2
    assert any("notes.jpg: not a readable JPEG or PNG" in w for w in gallery.warnings)


def _with_poster(photo_dir: Path, tmp_path: Path, poster_px: int) -> Path:
    """Biden's photo with a framed poster of Collins on the wall behind him (a second face)."""
    photo = Image.open(photo_dir / "biden.jpg").convert("RGB")
    poster = Image.open(photo_dir / "astronaut.png").convert("RGB")
    left, top, right, bottom = synth.PHOTOS["collins"].face
    side = right - left
    face = poster.crop((left - side, top - side, right + side, bottom + side))
    face = face.resize((poster_px * 3, poster_px * 3))
    framed = Image.new("RGB", (face.width + 16, face.height + 16), (30, 25, 20))
    framed.paste(face, (8, 8))
    photo.paste(framed, (40, 60))
    path = tmp_path / "biden-with-poster.jpg"
    photo.save(path, quality=92)
    return path


def test_a_photo_with_a_poster_behind_the_person_enrolls_the_dominant_face(
    gallery_copy, photo_dir, tmp_path
) -> None:
    # Given Biden's photo with a smaller face (a poster of Collins) on the wall behind him
    path = _with_poster(photo_dir, tmp_path, poster_px=110)
    gallery = Gallery.load(gallery_copy)
    # When it is enrolled
    person = gallery.add(synth.BIDEN, [path])
    # Then Biden's face is used, the poster is reported as ignored, and a thumbnail is written
    [photo] = gallery.photos(person)
    assert photo.face is not None
    assert photo.face.width > 250 and len(photo.face.ignored) == 1
    assert photo.face.ignored[0] < photo.face.width / 1.25
    assert photo.face.confidence > 50 and 0 < photo.face.sharpness <= 100
    assert photo.thumbnail is not None and Image.open(photo.thumbnail).size == (150, 150)
    match = gallery.match(_embedding(photo_dir / "biden.jpg"))
    assert match is not None and match[0].name == synth.BIDEN
    # And Collins, whose poster was in the photo, is not taken for Biden
    collins = gallery.match(_embedding(photo_dir / "astronaut.png"))
    assert collins is not None and collins[0].name == synth.COLLINS
    # And a reload reads the same from the cache
    again = Gallery.load(gallery_copy)
    assert again.photos(again.get(person.id))[0].face == photo.face


def test_removing_a_person_removes_their_thumbnails(gallery_copy) -> None:
    gallery = Gallery.load(gallery_copy)
    thumbs = gallery_copy / ".cameo-cache" / "thumbs"
    assert len(list(thumbs.glob("*.jpg"))) == 3
    gallery.remove(synth.COLLINS)
    assert len(list(thumbs.glob("*.jpg"))) == 2
