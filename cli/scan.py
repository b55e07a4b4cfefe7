"""In-process analysis of files for ``deepfake scan``: the same pipeline the workers run (``core.analysis``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from cli.files import check_regular
from core.analysis import analyze, limits
from core.settings import Settings, get_settings
from pipeline import ErrorCode, FaceClassifier, ImageBatch, MediaError, media_type
from pipeline.video_analysis import Progress


def scan_files(paths: Iterable[Path], classifier: FaceClassifier, settings: Settings,
               progress_for: Callable[[Path], Progress | None] = lambda _path: None) -> Iterator[dict]:
    """``scan_file`` over many files, in order. Images go through in groups of
    ``settings.bulk_group_size`` so their faces share model calls, as on the service's bulk lane."""
    batch, pending = ImageBatch(classifier, limits(settings)), []
    for path in paths:
        try:
            _check_file(path, settings)
            found = media_type(path)
            if found.kind == "image":
                batch.add(path, found)
                pending.append(path)
                if len(pending) >= settings.bulk_group_size:
                    yield from _rows(pending, batch)
                    pending = []
                continue
        except MediaError as exc:
            yield from _rows(pending, batch)
            pending = []
            yield {"path": str(path), "error": exc.as_dict()}
            continue
        yield from _rows(pending, batch)
        pending = []
        yield scan_file(path, classifier, settings, progress_for(path))
    yield from _rows(pending, batch)


def _rows(paths: list[Path], batch: ImageBatch) -> list[dict]:
    return [{"path": str(p), **result} for p, result in zip(paths, batch.results(), strict=True)] if paths else []


def _check_file(path: Path, settings: Settings) -> None:
    check_regular(path)
    if path.stat().st_size > settings.max_upload_bytes:
        raise MediaError(ErrorCode.TOO_LARGE, "over the size limit")


def scan_file(path: Path, classifier: FaceClassifier, settings: Settings,
              on_progress: Progress | None = None) -> dict:
    """The result dict with its ``path``, or ``{"path", "error": {code, message}}``."""
    try:
        _check_file(path, settings)
        return {"path": str(path), **analyze(path, classifier, settings, on_progress)}
    except MediaError as exc:
        return {"path": str(path), "error": exc.as_dict()}


MODEL_FORMS = "a model directory (model.json and model.keras), an alias (default, fast) or a MesoNet .h5 file"


def model_problem(model: str | Path | None) -> str | None:
    """Why ``model`` (a ``--model`` value; None: the shipped one) cannot be loaded, in a few words, or None.
    Read from its metadata alone, before any process starts or TensorFlow loads it."""
    from pipeline.classifier import check_model, resolve_model_path

    path = resolve_model_path(model)
    try:
        check_model(model)
    except FileNotFoundError:
        return f"{path} does not exist" if not path.exists() else f"{path} has no model.json or model.keras"
    except NotADirectoryError:
        return f"{path} is a file, not a model directory or .h5 file"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"{path} has an unreadable model.json ({type(exc).__name__}: {exc})"
    return None


# -- several processes ---------------------------------------------------------------------------

PARALLEL_FROM = 64  # files: below this, starting more processes (TensorFlow in each, ~3 s) does not pay


def scan_processes(requested: int | None, files: int) -> int:
    """How many processes scan ``files`` files: as asked, else one per core for large scans."""
    from pipeline.threads import available_cores

    if requested:
        return requested
    return available_cores() if files >= PARALLEL_FROM else 1


class ScanPool:
    """``scan_files`` spread over processes with one thread each; rows come back in input order.

    Measured on two cores: two single-threaded processes analysed ~190 images/s, one process with
    each library's default threads ~100 (``bench.process_threads``). Children are spawned, not forked:
    TensorFlow does not survive a fork. Each loads the model once, when it starts.
    """

    def __init__(self, settings: Settings, model_path: str | None, processes: int):
        import multiprocessing
        import signal

        self.group = settings.bulk_group_size
        context = multiprocessing.get_context("spawn")
        # Ctrl-C reaches every process of the terminal's group: only this one should see it, and stop the
        # children itself (``close``). A signal ignored here is ignored in a spawned child from its first line on.
        before = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            self._pool = context.Pool(processes, initializer=_start_scanner, initargs=(model_path,))
        finally:
            signal.signal(signal.SIGINT, before)

    def scan(self, paths: list[Path]) -> Iterator[dict]:
        chunks = [paths[i:i + self.group] for i in range(0, len(paths), self.group)]
        for rows in self._pool.imap(_scan_chunk, chunks):
            yield from rows

    def __enter__(self) -> ScanPool:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def close(self) -> None:
        self._pool.terminate()
        self._pool.join()


_scanner: FaceClassifier | None = None


def _start_scanner(model_path: str | None) -> None:
    """In each scanning process: one thread per library, then the model."""
    global _scanner
    import signal

    from cli import quiet
    from pipeline import load_classifier
    from pipeline.classifier import inference_runtime
    from pipeline.threads import limit_threads

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops this process (see ScanPool)
    settings = get_settings()
    model_path = model_path or settings.model_path
    if inference_runtime(model_path, settings.inference_runtime) == "tensorflow":
        quiet.import_tensorflow()  # a spawned child: its own start-up lines, kept off the terminal as in the parent
    limit_threads(1)
    _scanner = load_classifier(model_path, settings.classify_batch_size, runtime=settings.inference_runtime,
                               threads=1, inter_op_threads=1)


def _scan_chunk(paths: list[Path]) -> list[dict]:
    return list(scan_files(paths, _scanner, get_settings()))
