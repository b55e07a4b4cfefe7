"""``deepfake backlog``: submit a folder, an S3 prefix or a manifest as one batch; export its results.

Submitting is resumable: a small state file (``--state``, by default one per
source under the data folder, ``DEEPFAKE_DATA_DIR/backlog/``) records the batch
and, for a local folder, every file already uploaded. Running the same command again submits only
what is missing and prints the same batch ID.

A folder is uploaded ``--parallel`` files at a time. A file the service refuses
(not media, empty, over the size limit) becomes a failed item of the batch, in
the export with its code; a full queue (429) or an unreachable queue (503) is
waited out.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, as_completed, wait
from pathlib import Path

import httpx

from cli.failures import UsageError
from cli.files import check_regular, media_files
from core.settings import get_settings


class BacklogError(Exception):
    pass


def _state_path(source: str, explicit: str | None) -> Path:
    """``explicit``, else one file per source under the data folder (never in the folder the user is in:
    in a clone it would sit among the code as an untracked file)."""
    if explicit:
        return Path(explicit)
    identity = source if "://" in source else str(Path(source).resolve())
    name = f"{hashlib.sha1(identity.encode()).hexdigest()[:12]}.json"
    earlier = Path(f".deepfake-backlog-{name}")  # where versions before this one kept it: still resumed
    if earlier.is_file():
        return earlier
    folder = get_settings().data_dir / "backlog"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


class _State:
    """The resume record: the batch ID and the refs already submitted, appended as they go."""

    def __init__(self, path: Path):
        self.path = path
        self.batch_id: str | None = None
        self.done: set[str] = set()
        if path.exists():
            lines = path.read_text().splitlines()
            self.batch_id = json.loads(lines[0])["batch_id"] if lines else None
            self.done = {json.loads(line)["ref"] for line in lines[1:] if line.strip()}

    def start(self, batch_id: str) -> None:
        self.batch_id = batch_id
        self.path.write_text(json.dumps({"batch_id": batch_id}) + "\n")

    def mark(self, ref: str) -> None:
        with open(self.path, "a") as f:  # one line per upload: an interruption loses at most the one in flight
            f.write(json.dumps({"ref": ref}) + "\n")
        self.done.add(ref)


def _check(resp: httpx.Response) -> dict:
    if resp.status_code >= 400:
        raise BacklogError(f"{resp.request.method} {resp.request.url.path}: {_refusal(resp)}")
    return resp.json()


def _refusal(resp: httpx.Response) -> str:
    """``status code: message`` from the service's error body, or the start of whatever else came back."""
    if resp.status_code == 401:
        if "authorization" not in resp.request.headers:
            return ("the service wants an API key: set DEEPFAKE_API_KEY to one (`deepfake serve` writes an "
                    "admin key to admin.key in its data folder on its first start; `deepfake keys create --name "
                    "NAME` makes another)")
        return f"{_error_text(resp)}: the key in DEEPFAKE_API_KEY was refused; `deepfake keys list` shows the keys"
    return _error_text(resp)


def _error_text(resp: httpx.Response) -> str:
    try:
        error = resp.json()["error"]
        return f"{resp.status_code} {error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"{resp.status_code} {resp.text[:300]}"


def _client(api: str, api_key: str | None) -> httpx.Client:
    """A client that sends the API key: ``api_key``, else ``DEEPFAKE_API_KEY`` from the environment."""
    key = api_key or os.environ.get("DEEPFAKE_API_KEY")
    return httpx.Client(base_url=api, timeout=120, headers={"Authorization": f"Bearer {key}"} if key else {})


def submit(source: str, api: str, priority: str = "bulk", callback_url: str | None = None,
           state_file: str | None = None, progress: bool = True, parallel: int = 4, model: str | None = None,
           api_key: str | None = None) -> str:
    """Submit ``source`` and return the batch ID. ``model``: refuse to run on any other (``name[:version]``)."""
    path = Path(source)
    if not (source.startswith("s3://") or path.is_dir() or path.is_file()):
        what = "does not exist" if not path.exists() else "is neither a folder nor a file"
        raise UsageError(f"{source} {what}: give a folder, a manifest file (JSON lines or CSV) or s3://bucket/prefix")
    options = {"priority": priority, **{k: v for k, v in (("callback_url", callback_url), ("model", model)) if v}}
    with _client(api, api_key) as client:
        _check_key(client)
        state = _State(_state_path(source, state_file))
        if source.startswith("s3://"):
            return state.batch_id or _submit_items(client, state, [{"s3_prefix": source}], options)
        if path.is_dir():
            return _submit_folder(client, state, path, options, progress, parallel)
        return state.batch_id or _submit_manifest(client, state, path, options)


def _check_key(client: httpx.Client) -> None:
    """Without DEEPFAKE_API_KEY, ask whether the service needs one (it does unless DEEPFAKE_AUTH=off) before
    anything is sent, so the answer is what to set rather than a refused first upload."""
    if "authorization" not in client.headers:
        resp = client.get("/v1/batches", params={"limit": 1})
        if resp.status_code == 401:
            raise BacklogError(_refusal(resp))


def _submit_items(client, state: _State, items: list[dict], options: dict) -> str:
    batch = _check(client.post("/v1/batches", json={"items": items, **options}))
    state.start(batch["id"])
    return batch["id"]


def _submit_manifest(client, state: _State, path: Path, options: dict) -> str:
    with open(path, "rb") as f:
        batch = _check(client.post("/v1/batches", files={"manifest": (path.name, f)}, data=options))
    state.start(batch["id"])
    return batch["id"]


def _submit_folder(client, state: _State, folder: Path, options: dict, progress: bool, parallel: int) -> str:
    from tqdm import tqdm

    if state.batch_id is None:
        batch = _check(client.post("/v1/batches", json={"open": True, **options}))
        state.start(batch["id"])
    files = _uploadable(media_files([str(folder)]))
    todo = [f for f in files if f.relative_to(folder).as_posix() not in state.done]
    with tqdm(desc="uploading", unit="file", disable=not progress, initial=len(files) - len(todo),
              total=len(files)) as bar, ThreadPoolExecutor(parallel) as pool:
        uploads = (pool.submit(_upload, client, state.batch_id, folder, path) for path in todo)
        for ref in _in_order_of_completion(uploads, parallel):
            state.mark(ref)  # only here, on one thread: the state file is never written twice at once
            bar.update()
    resp = client.post(f"/v1/batches/{state.batch_id}/close")
    if resp.status_code != 409:  # 409: closed by an earlier run
        _check(resp)
    return state.batch_id


def _uploadable(files: list[Path]) -> list[Path]:
    """The regular files; each other entry (a broken link, a named pipe) is named on stderr and left out:
    there is nothing to upload, and reading a pipe would wait forever."""
    from pipeline.errors import MediaError

    kept = []
    for path in files:
        try:
            check_regular(path)
            kept.append(path)
        except MediaError as exc:
            print(f"skipped {path}: {exc.message}", file=sys.stderr)
    return kept


def _in_order_of_completion(futures: Iterator, in_flight: int) -> Iterator:
    """The results of lazily created ``futures``, as they finish, with at most ``in_flight`` started at once
    (a million files never become a million pending requests)."""
    running = set()
    for future in futures:
        running.add(future)
        if len(running) >= in_flight:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            yield from (f.result() for f in done)
    yield from (f.result() for f in as_completed(running))


def _upload(client, batch_id: str, folder: Path, path: Path) -> str:
    """Upload one file into the batch; returns its ref. A file the service will not analyse (not media,
    empty, too large) is still an item: the service records it as failed."""
    ref = path.relative_to(folder).as_posix()
    while True:
        with open(path, "rb") as f:
            # In the URL, not the form: the service knows the item before the body, even one it will not read.
            resp = client.post("/v1/jobs", files={"file": (path.name, f)}, params={"batch_id": batch_id, "ref": ref})
        if resp.status_code not in (429, 503):
            break
        time.sleep(min(float(resp.headers.get("retry-after") or 5), 60))  # the service asked us to wait
    _check(resp)
    return ref


def results(batch_id: str, api: str, fmt: str = "jsonl", out=sys.stdout, api_key: str | None = None) -> int:
    """Write every row of the batch's export to ``out``, page by page. Returns the row count."""
    rows, after, first = 0, None, True
    with _client(api, api_key) as client:
        while True:
            params = {"format": fmt, **({"after": after} if after else {})}
            resp = client.get(f"/v1/batches/{batch_id}/results", params=params)
            if resp.status_code >= 400:
                raise BacklogError(f"results of {batch_id}: {_refusal(resp)}")
            lines = resp.text.splitlines(keepends=True)
            if fmt == "csv" and not first:
                lines = lines[1:]  # one header for the whole export
            out.writelines(lines)
            rows += len(lines) - (1 if fmt == "csv" and first else 0)
            first = False
            after = resp.headers.get("x-next-cursor")
            if not after:
                return rows
