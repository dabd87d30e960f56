"""The studio end to end in headless Chromium (Debian's chromium, driven by Playwright; never Playwright's own
browser download): sample and see a piano roll and a playable audio element, interpolate between two bundled melodies,
upload a corrupt file and see one line, be refused a path outside the workspace, generate audio clips. A screenshot
of every view goes to $STUDIO_SCREENSHOTS or the test's temporary folder. Skipped, saying why, without the browser or
the extra, unless $MUSIC_COMPOSER_REQUIRE_BROWSER is set (CI), where that fails."""
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 240_000  # a job on a busy 2-core machine
LOADED = ("[...document.querySelectorAll('.job .item img')].every(i => i.complete && i.naturalWidth > 0) && "
          "[...document.querySelectorAll('.job .item audio')].every(a => a.readyState >= 1 && a.duration > 0)")


def missing() -> str | None:
    """Why the browser test cannot run here, or None."""
    for module in ("fastapi", "uvicorn", "playwright"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (pip install -e '.[studio-test]')"
    if not Path(CHROMIUM).is_file():
        return f"no chromium at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture
def page(studio, tmp_path):
    reason = missing()
    if reason:
        if os.environ.get("MUSIC_COMPOSER_REQUIRE_BROWSER"):
            pytest.fail(f"the browser test must run here: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    from studio.server import bind, server, url
    sock = bind("127.0.0.1", 0)
    serving = server(studio)
    thread = threading.Thread(target=serving.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not serving.started and thread.is_alive():
        time.sleep(0.02)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)  # a fresh profile each time
            view = browser.new_page(viewport={"width": 1400, "height": 1000})
            view.set_default_timeout(TIMEOUT_MS)
            view.goto(url(sock))
            yield view
            browser.close()
    finally:
        serving.should_exit = True
        thread.join(10)
        for job in list(studio.jobs.jobs):  # the worker must not be mid-job when the interpreter exits
            studio.jobs.wait(job, timeout=TIMEOUT_MS / 1000)


def screenshot(page, name: str, tmp_path: Path) -> None:
    folder = Path(os.environ.get("STUDIO_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"studio-{name}.png"), full_page=True)


def run_and_wait(page, count: int):
    """Click the form's button and wait for the new job's card to finish; returns the card."""
    page.click("#run")
    card = page.locator(".job").nth(0)
    page.wait_for_function(f"document.querySelectorAll('.job').length == {count}")
    card.locator(".status.done, .status.failed").wait_for()
    assert card.locator(".status").inner_text().lower() == "done", card.inner_text()
    return card


def test_the_studio_in_a_browser(page, tmp_path):
    page.click("li[data-model='runs/mel']")
    page.locator("#curves svg polyline").first.wait_for()
    assert "music_vae" in page.inner_text("#model-info")

    page.fill("input[name=count]", "2")
    card = run_and_wait(page, 1)
    assert card.locator("code").inner_text().startswith("music-composer midi sample --run-dir runs/mel")
    assert card.locator(".item img").count() == 2 and card.locator(".item audio").count() == 2
    page.wait_for_function(LOADED)
    screenshot(page, "sample", tmp_path)

    page.click("button[data-tab=interpolate]")
    a, b = (page.locator(f"select[name={n}]").input_value() for n in ("a", "b"))
    assert a.startswith("example:") and b.startswith("example:") and a != b
    page.fill("input[name=count]", "3")
    card = run_and_wait(page, 2)
    titles = card.locator(".item-title").all_inner_texts()
    assert [t.rsplit("-", 3)[-3:] for t in titles] == [["001", "of", "003"], ["002", "of", "003"], ["003", "of", "003"]]
    screenshot(page, "interpolate", tmp_path)

    corrupt = tmp_path / "corrupt.mid"
    corrupt.write_bytes(b"MThd\x00\x00\x00\x06 not a real MIDI file")
    with page.expect_file_chooser() as chooser:
        page.locator("select[name=a] + button").click()
    chooser.value.set_files(str(corrupt))
    page.locator("#error").wait_for(state="visible")
    message = page.inner_text("#error-text")
    assert message.startswith("corrupt.mid: corrupt: ") and "\n" not in message and "Traceback" not in message
    screenshot(page, "upload-error", tmp_path)

    refused = page.evaluate("fetch('/files/..%2F..%2F..%2Fetc%2Fpasswd').then(r => r.json().then(b => [r.status, b]))")
    assert refused[0] == 400 and "outside the workspace" in refused[1]["error"]

    page.click("li[data-model='checkpoints/wavegen.pt']")
    page.fill("input[name=count]", "1")
    page.fill("input[name=seconds]", "0.5")
    page.eval_on_selector("input[name=choice_temperature]",
                          "e => { e.value = 2; e.dispatchEvent(new Event('input')); }")  # the variety slider
    page.fill("input[name=generation_noise]", "2")
    card = run_and_wait(page, 3)
    assert card.locator(".item img").count() == 1 and card.locator(".item audio").count() == 1
    assert "--choice-temperature 2 --generation-noise 2 " in card.locator(".command code").inner_text()
    assert "evaluation" in card.locator(".lines").inner_text()
    page.wait_for_function(LOADED)  # every picture shown and every clip playable, the audio one's too
    screenshot(page, "audio", tmp_path)
