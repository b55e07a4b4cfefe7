"""False alarms on real videos: each clip analysed as the service does, verdict and per-person scores.

    .venv/bin/python -m bench.video_false_alarms [--model DIR|fast] [--videos FOLDER_OF_REAL_CLIPS]

Every clip in the folder is real, so any ``fake`` verdict, and any counted person scored at or above the
model's threshold, is a false alarm. Prints one line per clip and the totals. Also runs the two DFDC fake
clips when present, for contrast (both are fakes; their faces also appear among DFDC training crops).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED_VIDEO = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "video"


def _model_scores(face: dict) -> str:
    return ", ".join(f"{name.split('/')[-1]} {p:.3f}" for name, p in face.get("model_scores", {}).items())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None)
    parser.add_argument("--videos", default=str(SHARED_VIDEO / "liveportrait-inputs" / "real"))
    args = parser.parse_args()

    from pipeline import analyze_file, load_classifier

    classifier = load_classifier(args.model)
    print(f"model {classifier.spec.name} {classifier.spec.version}, threshold {classifier.spec.threshold:.3f}")
    fakes = sorted((SHARED_VIDEO / "dfdc-samples" / "fake").glob("*.mp4"))
    verdicts, people, alarms = 0, 0, 0
    for kind, clips in (("real", sorted(Path(args.videos).glob("*.mp4"))), ("fake", fakes)):
        for clip in clips:
            result = analyze_file(clip, classifier)
            counted = result["faces"]
            high = [f for f in counted if f["score"] >= classifier.spec.threshold]
            per_model = "; ".join(_model_scores(f) for f in counted)
            print(f"{kind}  {clip.name:<22} verdict {result['verdict']:<12} people {len(counted)} "
                  f"scores {[f['score'] for f in counted]}  [{per_model}]")
            if kind == "real":
                verdicts += result["verdict"] == "fake"
                people += len(counted)
                alarms += len(high)
    print(f"real clips called fake: {verdicts}; real people at or above the threshold: {alarms} of {people}")


if __name__ == "__main__":
    main()
