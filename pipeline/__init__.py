"""Media → faces → scores. Knows nothing of HTTP, Celery or SQL.

The public API is the handful of names below; see README "Result format" for
the dict that ``analyze_file`` returns and ``pipeline.faces`` for the box
convention.
"""

from pipeline.analyze import ImageBatch, Limits, analyze_file, file_sha256, media_type, verdict
from pipeline.classifier import DEFAULT_MODEL_DIR, FaceClassifier, ModelSpec, load_classifier, load_mesonet
from pipeline.decode import load_image
from pipeline.errors import ErrorCode, MediaError
from pipeline.faces import Face, crop_face, detect_faces
from pipeline.sniff import MediaType, sniff
from pipeline.video import VideoInfo, VideoLimits, probe_video, sample_frames, sample_indices

__all__ = [
    "DEFAULT_MODEL_DIR",
    "ErrorCode",
    "Face",
    "FaceClassifier",
    "ImageBatch",
    "Limits",
    "MediaError",
    "MediaType",
    "ModelSpec",
    "VideoInfo",
    "VideoLimits",
    "analyze_file",
    "crop_face",
    "detect_faces",
    "file_sha256",
    "load_classifier",
    "load_image",
    "load_mesonet",
    "media_type",
    "probe_video",
    "sample_frames",
    "sample_indices",
    "sniff",
    "verdict",
]
