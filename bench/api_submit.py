"""Jobs accepted per second by ``POST /v1/jobs`` with one uvicorn worker, and its latency.

    .venv/bin/python -m bench.api_submit [--requests 3000] [--concurrency 16]

The load generator runs on the same machine (asyncio + httpx), so on a small
machine it competes with the server for CPU: the figure is a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time

from bench._stack import auth_headers, percentiles, stack, wait_http
from tests import media


async def _load(url: str, body: bytes, total: int, concurrency: int) -> tuple[list[float], int]:
    import httpx

    latencies: list[float] = []
    failures = 0
    remaining = iter(range(total))

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal failures
        for _ in remaining:
            start = time.perf_counter()
            resp = await client.post(url, files={"file": ("face.jpg", body, "image/jpeg")})
            latencies.append((time.perf_counter() - start) * 1000)
            failures += resp.status_code != 202

    async with httpx.AsyncClient(timeout=30, headers=auth_headers()) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
    return latencies, failures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--port", type=int, default=8931)
    args = parser.parse_args()
    body = media.jpeg_bytes(media.astronaut()[40:200, 150:310])  # a face crop, ~10 KB
    with stack():
        server = subprocess.Popen([sys.executable, "-m", "uvicorn", "api.app:app", "--port", str(args.port),
                                   "--log-level", "warning", "--no-access-log"], env=os.environ.copy())
        try:
            wait_http(f"http://127.0.0.1:{args.port}/healthz")
            url = f"http://127.0.0.1:{args.port}/v1/jobs"
            asyncio.run(_load(url, body, 200, args.concurrency))  # warm-up
            start = time.perf_counter()
            latencies, failures = asyncio.run(_load(url, body, args.requests, args.concurrency))
            elapsed = time.perf_counter() - start
        finally:
            server.terminate()
            server.wait()
    print(f"POST /v1/jobs, {len(body)} B upload, 1 uvicorn worker, concurrency {args.concurrency}")
    print(f"accepted: {args.requests - failures}/{args.requests} ({(args.requests - failures) / elapsed:.0f} jobs/s)")
    print(f"latency: {percentiles(latencies)}")


if __name__ == "__main__":
    main()
