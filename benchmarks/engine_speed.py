"""Speed of the local recognition engine against the plain face_recognition-recipe loop.

    .venv/bin/python benchmarks/engine_speed.py [--seconds 40] [--processes 2]

One run, one machine: a synthesized 640x360, 25 fps video with one or two faces on screen
(plus an unknown one for a while), sampled at 5 fps. Three contenders on the same dlib models:

  baseline   the popular face_recognition recipe, written here with dlib directly: decode every
             frame, take every 5th, RGB, HOG with one upsample, 5-point landmarks and an
             embedding for every face, nearest known face under 0.6. One process.
  engine x1  cameo_engine.analyze_video with processes=1.
  engine xN  cameo_engine.analyze_video with processes=N (default 2), worker pool warmed up.

Reports wall time, times realtime, the speed-up over the baseline, and precision/recall of each
against the ground truth so "faster" is only claimed at equal accuracy. Ratios, not absolute
times, are the result: other work on the machine slows every contender alike. Goals (issue 3):
engine xN >= 10x realtime and >= 3x the baseline.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import dlib
import numpy as np

from cameo_engine import synth
from cameo_engine.gallery import Gallery
from cameo_engine.models import RECOGNITION_MODEL_FILE, SHAPE_PREDICTOR_FILE, models_dir
from cameo_engine.recognition import analyze_video, shutdown_workers

REPO = Path(__file__).resolve().parents[1]


def children_cpu_seconds() -> float:
    """CPU time used so far by this process's live children (the worker pool), from /proc."""
    me, total = str(os.getpid()), 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:  # ppid
            total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return total


def benchmark_scene(seconds: float, cache: Path, *, degraded: bool = False) -> synth.Scene:
    s = {k: synth.Sprite.from_photo(k, cache) for k in ("obama3", "collins", "biden")}
    d = seconds
    key = synth.Key
    return synth.Scene(
        640,
        360,
        seed=7,
        # --degraded: dim, soft and noisy frames, where the plain detector starts missing faces
        blur=1.5 if degraded else 0.0,
        noise=12.0 if degraded else 0.0,
        gain=0.55 if degraded else 1.0,
        actors=[
            # on screen throughout, drifting and slowly changing size (100-160 px faces)
            synth.Actor(
                s["obama3"],
                [
                    key(0, 170, 180, 120),
                    key(d * 0.3, 230, 170, 160),
                    key(d * 0.6, 180, 190, 100),
                    key(d, 210, 180, 140),
                ],
            ),
            synth.Actor(
                s["collins"],
                [key(0, 470, 170, 110), key(d, 500, 190, 130)],
                enter=d * 0.15,
                leave=d * 0.55,
            ),
            # an unknown face for a while: must never be named
            synth.Actor(
                s["biden"],
                [key(0, 480, 180, 120), key(d, 460, 170, 110)],
                enter=d * 0.6,
                leave=d * 0.9,
            ),
        ],
    )


def baseline(path: Path, gallery_photos: dict[str, list[Path]], sample_fps: float) -> tuple:
    """The face_recognition recipe, on dlib directly (what face_recognition calls)."""
    root = models_dir()
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(root / SHAPE_PREDICTOR_FILE))
    encoder = dlib.face_recognition_model_v1(str(root / RECOGNITION_MODEL_FILE))

    def encode(rgb: np.ndarray, rect: Any) -> np.ndarray:
        return np.array(encoder.compute_face_descriptor(rgb, predictor(rgb, rect), 1))

    known, names = [], []
    for name, photos in gallery_photos.items():
        for photo in photos:
            from PIL import Image

            rgb = np.asarray(Image.open(photo).convert("RGB"))
            rects = detector(rgb, 1)
            known.append(encode(rgb, rects[0]))
            names.append(name)
    known_arr = np.array(known)

    start = time.perf_counter()
    detections: list[dict[str, Any]] = []
    sampled: list[int] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        every = round(float(stream.average_rate) / sample_fps)
        for i, frame in enumerate(container.decode(stream)):
            if i % every:
                continue
            ms = round(float(frame.pts * stream.time_base) * 1000)
            sampled.append(ms)
            rgb = frame.to_ndarray(format="rgb24")
            h, w = rgb.shape[:2]
            for rect in detector(rgb, 1):
                distances = np.linalg.norm(known_arr - encode(rgb, rect), axis=1)
                best = int(np.argmin(distances))
                if distances[best] <= 0.6:
                    box = {
                        "Left": rect.left() / w,
                        "Top": rect.top() / h,
                        "Width": rect.width() / w,
                        "Height": rect.height() / h,
                    }
                    detections.append(
                        {
                            "Timestamp": ms,
                            "Celebrity": {"Name": names[best], "Face": {"BoundingBox": box}},
                        }
                    )
    return time.perf_counter() - start, detections, sampled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--sample-fps", type=float, default=5.0)
    parser.add_argument("--cache", type=Path, default=REPO / ".cache")
    parser.add_argument("--degraded", action="store_true", help="dim, blurred, noisy frames")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cameo-bench-"))
    spec = synth.VideoSpec("bench", ".mp4", Fraction(25), args.seconds)
    video = work / "bench.mp4"
    print(f"synthesizing {args.seconds:.0f} s of 640x360 25 fps video ...", flush=True)
    scene = benchmark_scene(args.seconds, args.cache, degraded=args.degraded)
    truth = synth.write_video(video, scene, spec)
    known = {synth.OBAMA, synth.COLLINS}
    gallery = Gallery.load(synth.make_gallery(work / "gallery", sorted(known), args.cache))
    photos = {p.name: sorted((gallery.root / p.name).glob("*.[jp][pn]g")) for p in gallery.people}

    def accuracy(dets: list[dict[str, Any]], sampled: list[int]) -> synth.Score:
        return synth.score(truth, dets, sampled, known, 640, 360)

    rows = []
    print("baseline (face_recognition recipe, 1 process) ...", flush=True)
    cpu = time.process_time()
    wall, dets, sampled = baseline(video, photos, args.sample_fps)
    rows.append(
        ("baseline recipe, 1 process", wall, time.process_time() - cpu, accuracy(dets, sampled))
    )

    print("engine, 1 process ...", flush=True)
    analyze_video(video, gallery, sample_fps=args.sample_fps)  # load this thread's models
    cpu, start = time.process_time(), time.perf_counter()
    result = analyze_video(video, gallery, sample_fps=args.sample_fps)
    wall = time.perf_counter() - start
    rows.append(("engine, 1 process", wall, time.process_time() - cpu,
                 accuracy(result.detections, result.sampled_ms)))  # fmt: skip
    stats1 = result.stats

    n = args.processes
    print(f"engine, {n} processes (warming the worker pool) ...", flush=True)
    start = time.perf_counter()
    analyze_video(video, gallery, sample_fps=args.sample_fps, processes=n)
    cold = time.perf_counter() - start
    cpu, start = children_cpu_seconds(), time.perf_counter()
    result = analyze_video(video, gallery, sample_fps=args.sample_fps, processes=n)
    wall = time.perf_counter() - start
    rows.append((f"engine, {n} processes", wall, children_cpu_seconds() - cpu,
                 accuracy(result.detections, result.sampled_ms)))  # fmt: skip
    shutdown_workers()

    base_wall = rows[0][1]
    print()
    print(f"video: {args.seconds:.0f} s, 640x360, 25 fps{', degraded' if args.degraded else ''}, "
          f"sampled at {args.sample_fps:g} fps; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"{'contender':30} {'wall s':>8} {'cpu s':>7} {'x realtime':>11} {'vs baseline':>12} "
          f"{'precision':>10} {'recall':>7} {'unknown named':>14}")  # fmt: skip
    for name, wall, cpu_s, sc in rows:
        cpu_txt = f"{cpu_s:7.2f}"
        print(f"{name:30} {wall:8.2f} {cpu_txt} {args.seconds / wall:10.1f}x "
              f"{base_wall / wall:11.1f}x {sc.precision:10.4f} {sc.recall:7.4f} "
              f"{sc.unknown_named:14d}")  # fmt: skip
    print(f"\nengine x{n} first call incl. spawning workers and loading models: {cold:.2f} s")
    print(
        f"cpu s: CPU time of the process doing the work (of the worker pool for x{n}); "
        "with other load on the machine, wall time / cpu time shows how much CPU we got."
    )
    base_cpu, eng_cpu = rows[0][2], rows[-1][2]
    print(f"by CPU time: baseline {args.seconds / base_cpu:.1f}x realtime per core, engine "
          f"{args.seconds / eng_cpu * n:.1f}x realtime on {n} dedicated cores, "
          f"{base_cpu / eng_cpu:.1f}x less CPU than the baseline")  # fmt: skip
    print(f"engine work (1 process): {stats1}")
    engine = rows[-1]
    goals = [
        (f">= 10x realtime with {n} processes", args.seconds / engine[1] >= 10),
        (">= 3x faster than the baseline", base_wall / engine[1] >= 3),
        ("accuracy not below the baseline's",
         engine[3].precision >= rows[0][3].precision and engine[3].recall >= rows[0][3].recall),
    ]  # fmt: skip
    for goal, ok in goals:
        print(f"  [{'met' if ok else 'NOT met'}] {goal}")


if __name__ == "__main__":
    main()
