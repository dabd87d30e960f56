"""The studio's HTTP side and command: the page comes from the package with nothing fetched from the network, every
error is one JSON line, uploads stop at the limit, no URL reads outside the workspace; `music-composer studio` loads
no torch or web library for -h and says in one line when its extra is missing."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the studio extra is not installed: pip install -e '.[studio-test]'")
pytest.importorskip("httpx", reason="httpx (FastAPI's test client) is not installed: pip install -e '.[studio-test]'")
from fastapi.testclient import TestClient  # noqa: E402

from studio.server import STATIC, create_app  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def client(studio):
    with TestClient(create_app(studio), raise_server_exceptions=False) as made:
        yield made


def test_the_page_and_its_script_come_from_the_package_and_fetch_nothing_outside(client):
    page = client.get("/")
    assert page.status_code == 200 and '<script src="/static/app.js">' in page.text
    for name in ("index.html", "app.js", "style.css"):
        text = (STATIC / name).read_text()
        assert client.get(f"/static/{name}").text == text
        urls = set(re.findall(r"(?:https?:)?//[\w.-]+\.\w+[^\s\"'`)]*", text)) - {"http://www.w3.org/2000/svg"}
        assert not urls, f"{name} names {urls}"  # the SVG namespace is a name, never fetched
        assert "@import" not in text and "fonts.googleapis" not in text


def test_state_jobs_and_files_over_http(client, studio):
    state = client.get("/api/state").json()
    assert "runs/mel" in [m["id"] for m in state["models"]]
    job = client.post("/api/jobs", json={"action": "sample", "params": {"model": "runs/mel", "count": 1}}).json()
    assert job["command"].startswith("music-composer midi sample --run-dir runs/mel")
    studio.jobs.wait(job["id"], timeout=300)
    finished = client.get(f"/api/jobs/{job['id']}").json()
    assert finished["status"] == "done", finished["error"]
    wav = client.get(f"/files/{finished['result']['items'][0]['wav']}")
    assert wav.status_code == 200 and wav.content[:4] == b"RIFF"
    assert client.get("/api/metrics", params={"model": "runs/mel"}).json()["rows"][-1]["step"] == 4


@pytest.mark.parametrize("path", ["/files/..%2F..%2Fetc%2Fpasswd", "/files//etc/passwd",
                                  "/files/runs/%2E%2E/%2E%2E/x.wav"])
def test_a_path_outside_the_workspace_is_refused_in_one_line(client, path):
    response = client.get(path)
    assert response.status_code == 400
    assert re.search("outside the workspace|inside the workspace", response.json()["error"])


def test_errors_are_one_json_line_never_a_traceback(client, studio, monkeypatch):
    response = client.post("/api/upload", params={"name": "bad.mid"}, content=b"MThd not really")
    assert response.status_code == 400 and response.json()["error"].startswith("bad.mid: corrupt: ")
    response = client.post("/api/upload", params={"name": "big.mid"}, content=bytes(1 << 20))
    assert response.json() == {"error": "big.mid: over the studio's upload limit of 0.01 MB (--max-upload-mb)"}
    assert client.post("/api/jobs", content=b"{").json() == {"error": "the request is not JSON"}
    assert client.get("/api/jobs/99-nothing").status_code == 400

    def broken():
        raise RuntimeError("a bug\nover two lines")
    monkeypatch.setattr(studio, "state", broken)
    response = client.get("/api/state")
    assert response.status_code == 500
    assert response.json() == {"error": "internal error (RuntimeError: a bug over two lines); see the studio's console"}


def run_python(code: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def test_studio_help_loads_no_torch_nor_web_library():
    code = ("import sys, music_composer\n"
            "try: music_composer.main(['studio', '-h'])\n"
            "except SystemExit: pass\n"
            "print(sorted(m for m in ('torch', 'fastapi', 'uvicorn', 'symbolic.trained_model') if m in sys.modules))")
    result = run_python(code)
    assert "--workspace" in result.stdout and result.stdout.splitlines()[-1] == "[]", result.stderr


def test_without_the_extra_the_studio_says_what_to_install(tmp_path):
    code = ("import sys; sys.modules['fastapi'] = None\n"
            f"import music_composer; sys.exit(music_composer.main(['studio', '--workspace', {str(tmp_path)!r}]))")
    result = run_python(code)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: the studio needs its extra (fastapi is missing): pip install 'music-composer[studio]' "
        "(from a clone: pip install -e '.[studio]')"]


def test_a_workspace_that_is_not_a_folder_is_one_line(tmp_path):
    result = run_python(f"import sys, music_composer; sys.exit(music_composer.main(['studio', '--workspace', "
                        f"{str(tmp_path / 'none')!r}]))")
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'none'}: no such folder (--workspace names a folder of run dirs and checkpoints)"]
