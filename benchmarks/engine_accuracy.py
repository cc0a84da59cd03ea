"""Accuracy of the local recognition engine on the hard-footage suite, against the plain recipe.

    .venv/bin/python benchmarks/engine_accuracy.py [--no-recipe] [--no-standard] [--json F]

Hard suite (cameo_engine.hardsuite, issue 9): .mov 29.97 fps 720p, .mp4 25 fps 360p and .avi
(MPEG-4 Part 2, 150 kb/s) 24 fps 270p, 24 s each, every failure class of the issue in each
video: small faces, soft focus, heavy compression, dimming and flashes, occlusion by a caption
box or a microphone stand, faces cut by the frame edge, mirrored faces, head roll of +-15
degrees, motion blur, rack focus, faces growing and shrinking. Gallery: Barack Obama (one
photo, not shown in the videos) and Joe Biden (one photo with a poster of Eileen Collins in it:
a second detection). Eileen Collins is the unknown face that must never be named.

Two contenders, in the same run, at 5 samples per second, scored on the same frames:
  engine   cameo_engine.analyze_video at its default settings;
  recipe   HOG with one upsample on every sampled frame, a dlib embedding for every face,
           nearest enrolled face under 0.6, no tracking (hardsuite.run_recipe).

Per video and per failure class: identity precision and recall per sampled frame, unknown faces
named, and the error of each known person's first and last seen. A face less than half visible
counts neither way. Goals (issue 9), per video: precision >= 0.99, recall >= 0.95, no unknown
named, first/last seen within one sampling interval. Then, unless --no-standard, the engine's
figures on the older standard suite (synth.standard_scenes), which must not regress.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from cameo_engine import hardsuite, synth
from cameo_engine.gallery import Gallery
from cameo_engine.recognition import analyze_video, shutdown_workers

REPO = Path(__file__).resolve().parents[1]


def standard_suite(cache: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="cameo-accuracy-"))
    known = {synth.OBAMA, synth.COLLINS}
    gallery = Gallery.load(synth.make_gallery(work / "gallery", sorted(known), cache))
    print(f"standard suite (gallery {', '.join(sorted(known))}; unknown {synth.BIDEN}):")
    print(f"  {'video':28} {'precision':>9} {'recall':>7} {'unk.named':>9} {'worst edge ms':>14}")
    for video in synth.make_standard_videos(work / "videos", cache):
        result = analyze_video(video.path, gallery)
        s = synth.score(video.truth, result.detections, result.sampled_ms, known, 640, 360)
        print(f"  {video.spec.name:28} {s.precision:9.4f} {s.recall:7.4f} {s.unknown_named:9d} "
              f"{s.worst_edge_error_ms():20.0f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=REPO / ".cache")
    parser.add_argument("--no-recipe", action="store_true")
    parser.add_argument("--no-standard", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    suite = hardsuite.build(args.cache, log=print)
    print(f"hard suite: {suite.root}\n")
    runs = [hardsuite.run_engine(suite)]
    if not args.no_recipe:
        runs.append(hardsuite.run_recipe_suite(suite))
    print(hardsuite.report(runs, suite))
    if len(runs) == 2:
        print("recall, recipe -> engine:")
        for video in suite.videos:
            # runs is [engine, recipe]
            e, r = (run.scores[video.name].total.recall for run in runs)
            print(f"  {video.name:22} {r:.3f} -> {e:.3f}")
        print()
    if args.json:
        args.json.write_text(json.dumps([hardsuite.scores_to_json(r) for r in runs], indent=1))
    if not args.no_standard:
        standard_suite(args.cache)
    shutdown_workers()
    missed = {v.name: hardsuite.gates_met(runs[0].scores[v.name], 200.0) for v in suite.videos}
    print("\nissue 9 goals, engine, per video:")
    for name, miss in missed.items():
        print(
            f"  [{'met' if not miss else 'NOT met'}] {name}{': ' + '; '.join(miss) if miss else ''}"
        )


if __name__ == "__main__":
    main()
