"""The studio's HTTP side (FastAPI): the page and its JSON API over ``studio.actions.Studio``, and serving it with
uvicorn. Every error reaches the page as one line (``{"error": ...}``); nothing is fetched from the network: the page,
its script and its style are files of this package."""
from __future__ import annotations

import socket
import sys
import traceback
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from engine.errors import UserError
from studio.actions import Studio
from studio.jobs import internal_error, one_line

STATIC = Path(__file__).parent / "static"


def create_app(studio: Studio) -> FastAPI:
    """The FastAPI app of one studio: the page at /, the API under /api, workspace files under /files."""
    app = FastAPI(title="music-composer studio", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(UserError)
    async def user_error(request: Request, e: UserError) -> JSONResponse:
        return JSONResponse({"error": one_line(str(e))}, status_code=400)

    @app.exception_handler(Exception)
    async def bug(request: Request, e: Exception) -> JSONResponse:
        traceback.print_exception(e)
        return JSONResponse({"error": internal_error(e)}, status_code=500)

    @app.get("/")
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/api/state")
    def state() -> dict[str, Any]:
        return studio.state()

    @app.get("/api/metrics")
    def metrics(model: str) -> dict[str, Any]:
        return studio.workspace.metrics(model)

    @app.post("/api/upload")
    async def upload(request: Request, name: str) -> dict[str, str]:
        data = bytearray()
        async for chunk in request.stream():  # stop reading at the limit instead of holding any size in memory
            data += chunk
            if len(data) > studio.max_upload_bytes:
                break
        return studio.upload(name, bytes(data))

    @app.post("/api/jobs")
    async def submit(request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise UserError("the request is not JSON") from None
        if not isinstance(body, dict):
            raise UserError("the request must be a JSON object with action and params")
        return studio.submit(str(body.get("action")), body.get("params") or {}).public()

    @app.get("/api/jobs/{job_id}")
    def job(job_id: str) -> dict[str, Any]:
        return studio.jobs.get(job_id).public()

    @app.post("/api/jobs/{job_id}/cancel")
    def cancel(job_id: str) -> dict[str, Any]:
        return studio.jobs.cancel(job_id).public()

    @app.get("/files/{relative:path}")
    def file(relative: str) -> FileResponse:
        return FileResponse(studio.file(relative))

    return app


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: any free one); a UserError when it cannot be had."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as e:
        raise UserError(f"cannot listen on {host}:{port} ({e.strerror or e}); choose another --port or --host") from e
    sock.listen(64)
    return sock


def url(sock: socket.socket) -> str:
    """The page's address for a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def server(studio: Studio) -> Any:
    """A uvicorn server of the studio's app (``.run(sockets=[sock])`` serves on a bound socket until stopped)."""
    import uvicorn
    return uvicorn.Server(uvicorn.Config(create_app(studio), log_level="warning", access_log=False))


def serve(studio: Studio, host: str, port: int) -> None:
    """Serve the studio until Ctrl-C, saying where."""
    sock = bind(host, port)
    print(f"music-composer studio on {url(sock)} (workspace {studio.workspace.root}); Ctrl-C stops it", flush=True)
    try:
        server(studio).run(sockets=[sock])
    finally:
        studio.jobs.close()
        print("studio stopped", file=sys.stderr)
