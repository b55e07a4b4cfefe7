"""The page in a real browser (Debian's chromium, driven by chromedriver) against a live ``deepfake api``.

A moderator's path: open the page, enter a key, send two photos at once (one with a face, one without),
see each verdict in words and the face's box with its score and heatmap, reload and find them again, see
the list with thumbnails; a video's timeline, its frames that decided it and their heatmap; a batch's
counts, progress and export; the list of batches, and a batch opened from it. Every host but loopback is
unresolvable to the browser.
``./dev test`` installs chromium; where it cannot be installed this skips, except in CI, where it fails.
Set ``DEEPFAKE_SCREENSHOTS=folder`` to keep the screenshots (the README's come from here).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests import media
from tests.api_client import auth, new_key
from tests.conftest import require, shared_path

WAIT_S = 120


DEEPFAKE = str(Path(sys.executable).parent / "deepfake")


@pytest.fixture
def live_api(clean_db, tmp_path):
    """``deepfake api`` and ``deepfake worker`` as their own processes on loopback, sharing the test
    database, Redis and media folder (the environment ``tests/conftest.py`` set): the service as it runs."""
    yield from _serve(tmp_path, with_worker=True)


@pytest.fixture
def api_only(clean_db, tmp_path):
    """``deepfake api`` alone, for what no job has to finish for (the docs, refusals): no model is loaded."""
    yield from _serve(tmp_path, with_worker=False)


@pytest.fixture
def api_without_keys(clean_db, tmp_path):
    """``deepfake api`` alone with ``DEEPFAKE_AUTH=off`` (allowed on loopback): every caller is the operator."""
    yield from _serve(tmp_path, with_worker=False, env={"DEEPFAKE_AUTH": "off"})


def _serve(tmp_path: Path, *, with_worker: bool, env: dict[str, str] | None = None):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    processes = [_start([DEEPFAKE, "api", "--host", "127.0.0.1", "--port", str(port)], tmp_path / "api.log", env)]
    if with_worker:
        processes.append(_start([DEEPFAKE, "worker", "--concurrency", "1", "--loglevel", "WARNING"],
                                tmp_path / "worker.log"))
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, processes[0], tmp_path / "api.log")
        yield base
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=30)


def _start(argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})


def _wait_until_up(base: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, f"deepfake api exited: {log.read_text()}"
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"deepfake api did not start: {log.read_text()}")


@pytest.fixture
def browser():
    found = shutil.which("chromium") and shutil.which("chromedriver")
    require(bool(found), "chromium and chromedriver are not installed (./dev test installs them with apt-get)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    # Every host but loopback fails to resolve: the page must work with the network to anything but the API cut.
    offline = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,1600", offline):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The driver is named outright, so Selenium never tries to download one.
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def _wait(driver, condition, what: str, timeout: float = WAIT_S):
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:  # a live view redraws itself: an element found just before a redraw is asked again
        return WebDriverWait(driver, timeout, poll_frequency=0.2, ignored_exceptions=[StaleElementReferenceException]
                             ).until(lambda d: condition(d), message=what)
    except TimeoutException as exc:  # say what the page showed, not only that it waited
        raise AssertionError(f"{what}: not within {timeout} s; the page showed:\n{_page_text(driver)}") from exc


def _page_text(driver) -> str:
    from selenium.webdriver.common.by import By

    cards = driver.find_elements(By.CSS_SELECTOR, ".job-card")
    if not cards:  # not the moderators' page, or no job on it: what the page says
        return driver.find_element(By.TAG_NAME, "body").text[:2000]
    return "\n---\n".join(f"{c.get_attribute('data-job-id')} {c.get_attribute('data-status')}: {c.text[:300]}"
                           for c in cards)


def _cards(driver) -> dict[str, object]:
    from selenium.webdriver.common.by import By

    return {card.find_element(By.TAG_NAME, "h3").text: card
            for card in driver.find_elements(By.CSS_SELECTOR, ".job-card")}


def _finished(driver, count: int) -> bool:
    """``count`` cards show a verdict; a card that ended any other way fails the test with what it says."""
    from selenium.webdriver.common.by import By

    ended = [c for c in driver.find_elements(By.CSS_SELECTOR, ".job-card") if c.get_attribute("data-status")
             in ("failed", "canceled") or c.find_elements(By.CSS_SELECTOR, ".error-panel")]
    assert not ended, [c.text for c in ended]
    done = driver.find_elements(By.CSS_SELECTOR, ".job-card[data-status=succeeded] .verdict")
    return len(done) >= count


def _send_files(driver, paths: list[Path]) -> None:
    from selenium.webdriver.common.by import By

    # The file input sits behind the drop zone (hidden); chromedriver types file paths only into a
    # shown input, so it is shown first. Choosing files through it is what the drop zone's click does.
    driver.execute_script("document.getElementById('files').hidden = false")
    driver.find_element(By.ID, "files").send_keys("\n".join(str(p) for p in paths))


def _screenshot(element, tmp_path: Path, name: str) -> Path:
    """A picture of ``element`` (a job's card, or the whole page's body) as the browser drew it."""
    path = tmp_path / name
    element.parent.execute_script("arguments[0].scrollIntoView()", element)  # drawn only once in view
    element.screenshot(str(path))
    if os.environ.get("DEEPFAKE_SCREENSHOTS"):
        folder = Path(os.environ["DEEPFAKE_SCREENSHOTS"])
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, folder / name)
    return path


def _check_face_card(card) -> None:
    from selenium.webdriver.common.by import By

    verdict = card.find_element(By.CSS_SELECTOR, ".verdict")
    assert verdict.get_attribute("data-verdict") in {"real", "uncertain"}, verdict.text
    box = card.find_element(By.CSS_SELECTOR, "svg.photo .face-box rect")
    assert float(box.get_attribute("width")) > 50
    assert box.get_attribute("stroke") in {"#0072B2", "#E69F00"}  # the band's colour, not a default
    assert "%" in card.find_element(By.CSS_SELECTOR, "svg.photo .box-label").text
    assert "%" in card.find_element(By.CSS_SELECTOR, ".face-row td.num").text
    image = card.find_element(By.CSS_SELECTOR, "svg.photo image")
    assert image.get_attribute("href").startswith("blob:")  # the upload itself, fetched with the key
    _check_heatmap(card)


def _check_heatmap(card) -> None:
    """The face's heatmap image is loaded over its crop, and the slider sets its opacity."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    heat = card.find_element(By.CSS_SELECTOR, ".heatmap svg image.heat")
    WebDriverWait(card.parent, 20).until(lambda _: (heat.get_attribute("href") or "").startswith("blob:"))
    loaded = card.parent.execute_script(
        "const i = new Image(); i.src = arguments[0]; await i.decode(); return [i.naturalWidth, i.naturalHeight]",
        heat.get_attribute("href"))
    assert loaded[0] == loaded[1] > 10
    slider = card.find_element(By.CSS_SELECTOR, ".heatmap input.opacity")
    card.parent.execute_script("arguments[0].value = 20; arguments[0].dispatchEvent(new Event('input'))", slider)
    assert float(heat.get_attribute("opacity")) == 0.2
    card.parent.execute_script("arguments[0].value = 70; arguments[0].dispatchEvent(new Event('input'))", slider)
    assert float(heat.get_attribute("opacity")) == 0.7


def _loaded_size(driver, element, attribute: str = "src") -> list[int]:
    """The natural size of the picture ``element`` shows (an object URL fetched with the key)."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 20).until(lambda _: (element.get_attribute(attribute) or "").startswith("blob:"))
    return driver.execute_script("const i = new Image(); i.src = arguments[0]; await i.decode(); "
                                 "return [i.naturalWidth, i.naturalHeight]", element.get_attribute(attribute))


def _check_thumbnails(driver, count: int) -> None:
    """Each of the ``count`` rows of the list shows its job's thumbnail (the longer side 160 px)."""
    from selenium.webdriver.common.by import By

    _wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".job-row img.thumbnail")) == count,
          f"{count} thumbnails in the list", 30)
    for image in driver.find_elements(By.CSS_SELECTOR, ".job-row img.thumbnail"):
        assert max(_loaded_size(driver, image)) == 160


def _check_lime(card) -> None:
    """LIME asked for one face: the button says it is computing, then its map is laid over that face."""
    from selenium.webdriver.common.by import By

    button = card.find_element(By.CSS_SELECTOR, "button.ask-lime[data-face='0']")
    button.click()
    _wait(card.parent, lambda _: card.find_elements(By.CSS_SELECTOR, ".lime-row svg image.heat"), "a LIME map shown")
    assert "done" in button.text
    size = _loaded_size(card.parent, card.find_element(By.CSS_SELECTOR, ".lime-row svg image.heat"), "href")
    assert size == [192, 192]  # the model's input, where LIME's patches were cut


def _check_no_face_card(card) -> None:
    text = card.text
    assert "No face found" in text and "No sign of manipulation" not in text, text


def test_a_moderator_sends_photos_and_reads_the_verdicts(live_api, browser, tmp_path):
    from selenium.webdriver.common.by import By

    photo = shared_path("cases", "media", "gray16.png")  # a real face, 448 px: quick on busy cores
    empty = media.write(tmp_path / "empty-room.jpg", media.jpeg_bytes(media.no_face()))
    browser.get(live_api + "/")
    browser.find_element(By.ID, "key").send_keys(new_key(tenant="acme"))
    browser.find_element(By.CSS_SELECTOR, "#key-form button").click()
    browser.find_element(By.ID, "explain").click()  # heatmaps too
    _send_files(browser, [photo, empty])
    _wait(browser, lambda d: _finished(d, 2), "both photos' verdicts shown")
    cards = _cards(browser)
    _check_face_card(cards[photo.name])
    _check_no_face_card(cards[empty.name])
    _check_lime(cards[photo.name])
    browser.set_window_size(1200, 2600)  # the whole card in view, LIME map included
    shot = _screenshot(cards[photo.name], tmp_path, "page-photo.png")
    assert shot.stat().st_size > 10_000

    # The jobs are in the address: a reload shows both again, and the list has them.
    assert browser.current_url.count(",") == 1 and "?jobs=" in browser.current_url
    browser.refresh()
    _wait(browser, lambda d: _finished(d, 2), "both verdicts shown again after a reload")
    _check_face_card(next(c for c in browser.find_elements(By.CSS_SELECTOR, ".job-card")
                          if c.find_elements(By.CSS_SELECTOR, "svg.photo .face-box")))
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".job-row")) == 2, "two rows in the list")
    _check_thumbnails(browser, count=2)

    # At phone width nothing sticks out sideways (wide tables scroll inside themselves).
    browser.set_window_size(390, 844)
    wide = browser.execute_script("return [...document.querySelectorAll('body *')].filter(e => "
                                  "e.getBoundingClientRect().right > window.innerWidth + 1 && "
                                  "!e.closest('table')).map(e => e.tagName + '.' + e.className).slice(0, 5)")
    assert not wide and browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")

    # Nothing was refused by the page's Content-Security-Policy and no script failed. (The 404s of a LIME
    # map polled for before the worker stored it are expected: that is how "not ready yet" is answered.)
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"
              and not (e["source"] == "network" and "/lime.png " in e["message"])]
    assert not severe, severe


def test_a_wrong_key_is_sent_back_to_the_key_form_with_what_to_do(live_api, browser):
    from selenium.webdriver.common.by import By

    browser.get(live_api + "/")
    browser.find_element(By.ID, "key").send_keys("df_not-a-key")
    browser.find_element(By.CSS_SELECTOR, "#key-form button").click()
    _wait(browser, lambda d: d.find_element(By.ID, "key-section").is_displayed(), "the key form shown again", 20)
    assert "not accepted" in browser.find_element(By.ID, "key-why").text


def test_a_video_shows_each_persons_verdict_and_a_timeline_to_seek_with(live_api, browser, tmp_path):
    from selenium.webdriver.common.by import By

    clip = media.write_clip(tmp_path / "interview.mp4", [((20, 40), (400, 100))], frames=90)
    browser.get(live_api + "/")
    browser.find_element(By.ID, "key").send_keys(new_key(tenant="acme"))
    browser.find_element(By.CSS_SELECTOR, "#key-form button").click()
    browser.find_element(By.ID, "explain").click()  # the deciding frame's heatmap too
    _send_files(browser, [clip])
    _wait(browser, lambda d: _finished(d, 1), "the video's verdict shown")
    card = _cards(browser)[clip.name]
    points = card.find_elements(By.CSS_SELECTOR, ".timeline svg circle")
    assert len(points) >= 10, "a point per sampled frame with a face"
    assert card.find_elements(By.CSS_SELECTOR, ".timeline polyline")
    assert "Person" in card.find_element(By.CSS_SELECTOR, ".track-row").text
    assert "%" in card.find_element(By.CSS_SELECTOR, ".track-row td.num").text
    assert len(card.find_elements(By.CSS_SELECTOR, ".track-row td.model-score")) == 2  # blend, synthetic
    player = card.find_element(By.CSS_SELECTOR, "video.player")
    points[-1].click()  # the last sampled frame: the player is moved there
    target = float(points[-1].get_attribute("aria-label").split(" at ")[1].split(" s")[0])
    assert abs(float(player.get_property("currentTime")) - target) < 0.05
    _check_decisive_frames(card, player)
    _check_heatmap(card)
    _check_thumbnails(browser, count=1)
    browser.set_window_size(1200, 2600)  # the whole card in view, heatmap included
    _screenshot(card, tmp_path, "page-video.png")


def _check_decisive_frames(card, player) -> None:
    """The person's highest-scoring frames are shown as face crops, best first; "Show" seeks the player."""
    from selenium.webdriver.common.by import By

    frames = card.find_elements(By.CSS_SELECTOR, ".decisive-frames figure.decisive")
    assert 1 <= len(frames) <= 3
    scores = [int(f.find_element(By.TAG_NAME, "figcaption").text.split("·")[1].strip(" %")) for f in frames]
    assert scores == sorted(scores, reverse=True)
    size = _loaded_size(card.parent, frames[0].find_element(By.TAG_NAME, "img"))
    assert size[0] == size[1] > 50  # the square crop the model saw
    frames[-1].find_element(By.CSS_SELECTOR, "button.seek").click()
    assert abs(float(player.get_property("currentTime")) - float(frames[-1].get_attribute("data-t"))) < 0.05


def test_a_batch_shows_counts_progress_and_its_export(live_api, browser, tmp_path):
    from selenium.webdriver.common.by import By

    key = new_key(tenant="acme")
    batch_id = _batch_of_two_photos(live_api, key, tmp_path)
    browser.get(f"{live_api}/?batch={batch_id}")
    browser.find_element(By.ID, "key").send_keys(key)
    browser.find_element(By.CSS_SELECTOR, "#key-form button").click()
    _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#batch .batch-status").text == "Finished",
          "the batch shown finished")
    cells = browser.find_elements(By.CSS_SELECTOR, ".batch-counts td")
    counts = {c.get_attribute("data-status"): c.text for c in cells}
    assert counts["succeeded"] == "2" and counts["queued"] == "0", counts
    assert browser.find_element(By.CSS_SELECTOR, "#batch progress").get_attribute("value") == "1"
    assert browser.find_element(By.CSS_SELECTOR, "#batch .batch-eta").text == "finished"
    # Its items are the list, each a link that opens its result.
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".job-row")) == 2, "the batch's two items listed")
    browser.find_element(By.CSS_SELECTOR, ".job-row a").click()
    _wait(browser, lambda d: _finished(d, 1), "an item's result opened")
    # The export, every page joined, as the download buttons save it.
    csv = browser.execute_script(
        f"return (await import('/static/batch.js')).exportText({batch_id!r}, 'csv')")
    lines = csv.strip().splitlines()
    assert lines[0].startswith("ref,job_id,status") and len(lines) == 3, csv
    assert browser.find_elements(By.CSS_SELECTOR, "#batch button.export-csv")
    assert browser.find_elements(By.CSS_SELECTOR, "#batch button.export-jsonl")
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe


def _batch_of_two_photos(base: str, key: str, tmp_path: Path) -> str:
    """An open batch, two photos uploaded into it, closed: the way ``deepfake backlog submit`` sends a folder."""
    headers = {"Authorization": f"Bearer {key}"}
    batch = httpx.post(f"{base}/v1/batches", json={"open": True}, headers=headers, timeout=30).json()
    for name, photo in (("face.png", shared_path("cases", "media", "gray16.png").read_bytes()),
                        ("room.jpg", media.jpeg_bytes(media.no_face()))):
        answer = httpx.post(f"{base}/v1/jobs", params={"batch_id": batch["id"], "ref": name},
                            files={"file": (name, photo)}, headers=headers, timeout=30)
        assert answer.status_code == 202, answer.text
    assert httpx.post(f"{base}/v1/batches/{batch['id']}/close", headers=headers, timeout=30).status_code == 200
    return batch["id"]


def test_the_batch_list_shows_the_keys_batches_and_opens_one(api_only, browser):
    """Batches made through the API are listed newest first, another tenant's not at all; choosing one opens
    it in the batch view (no worker needed: open batches wait for their uploads)."""
    from selenium.webdriver.common.by import By

    key = new_key(tenant="acme")

    def open_batch(with_key: str) -> str:
        answer = httpx.post(f"{api_only}/v1/batches", json={"open": True}, headers=auth(with_key), timeout=30)
        assert answer.status_code == 202, answer.text
        return answer.json()["id"]

    older, newer, theirs = open_batch(key), open_batch(key), open_batch(new_key(tenant="globex"))
    browser.get(api_only + "/")
    browser.find_element(By.ID, "key").send_keys(key)
    browser.find_element(By.CSS_SELECTOR, "#key-form button").click()
    rows = ".batch-list .batch-row"
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, rows)) == 2, "the key's two batches listed", 20)
    listed = [r.get_attribute("data-batch-id") for r in browser.find_elements(By.CSS_SELECTOR, rows)]
    assert listed == [newer, older] and theirs not in listed
    assert "Taking in items" in browser.find_element(By.CSS_SELECTOR, rows).text
    browser.find_element(By.CSS_SELECTOR, f".batch-row[data-batch-id='{older}'] a.batch-open").click()
    _wait(browser, lambda d: d.find_element(By.ID, "batch-title").text == f"Batch {older}", "the batch opened", 20)
    assert browser.find_element(By.CSS_SELECTOR, "#batch .batch-status").text == "Taking in items"
    assert f"batch={older}" in browser.current_url
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe


def test_the_api_docs_show_the_operations_with_no_internet(api_only, browser):
    """Swagger UI, from the installed package, reads FastAPI's OpenAPI 3.1 document (4.x could not)."""
    from selenium.webdriver.common.by import By

    browser.get(api_only + "/docs")
    submit = ".opblock-post .opblock-summary-path[data-path='/v1/jobs']"
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, submit), "POST /v1/jobs shown in the docs", 30)
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "Unable to render" not in text, text[:2000]
    assert "photos and videos" in text  # the API's description, drawn from its Markdown
    assert len(browser.find_elements(By.CSS_SELECTOR, ".opblock")) >= 10
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe


def test_job_ids_in_the_address_that_are_malformed_or_unknown_say_so_and_are_not_polled(api_only, browser):
    """``/?jobs=garbage,<an ID no job has>``: each card says what is wrong, no progress bar, no polling."""
    from selenium.webdriver.common.by import By

    unknown = str(uuid.uuid4())
    browser.get(f"{api_only}/?jobs=garbage,{unknown}")
    browser.find_element(By.ID, "key").send_keys(new_key(tenant="acme"))
    browser.find_element(By.CSS_SELECTOR, "#key-form button").click()
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".job-card .error-panel")) == 2,
          "both cards say why they show nothing", 20)
    cards = {c.get_attribute("data-job-id"): c for c in browser.find_elements(By.CSS_SELECTOR, ".job-card")}
    assert "not a job ID" in cards["garbage"].text, cards["garbage"].text
    assert "No job" in cards[unknown].text and "for this key" in cards[unknown].text, cards[unknown].text
    for card in cards.values():
        assert not card.find_element(By.TAG_NAME, "progress").is_displayed()
        assert "Sending" not in card.text
    asked = "return performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes('/v1/jobs/'))"
    before = browser.execute_script(asked)
    assert [n.endswith(unknown) for n in before] == [True], before  # the malformed one is never asked for
    time.sleep(3)  # the first retry of a poll would come within 0.5 s
    assert browser.execute_script(asked) == before


# Elements sticking out past the window's right edge, but for a table's insides (a table scrolls itself).
STICKING_OUT = ("return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > "
                "window.innerWidth + 1 && !(e.closest('table') && e.closest('table') !== e))"
                ".map(e => e.tagName + '.' + e.className + '#' + e.id).slice(0, 5)")


def test_a_job_opened_by_link_is_titled_by_what_was_sent_and_a_batch_fits_a_narrow_window(api_only, browser,
                                                                                            tmp_path):
    """``/?jobs=<id>``: the card is titled with the file's name once the job is read, not "Job <uuid>". A batch
    opened at 420 px or 320 px keeps its tables and title within the window (they scroll or wrap inside it)."""
    from selenium.webdriver.common.by import By

    key = new_key(tenant="acme")
    photo = media.jpeg_bytes(media.no_face())
    job = httpx.post(f"{api_only}/v1/jobs", files={"file": ("holiday-photo.jpg", photo, "image/jpeg")},
                     headers=auth(key), timeout=30).json()
    batch_id = _batch_of_two_photos(api_only, key, tmp_path)
    browser.get(f"{api_only}/?jobs={job['id']}&batch={batch_id}")
    browser.find_element(By.ID, "key").send_keys(key)
    browser.find_element(By.CSS_SELECTOR, "#key-form button").click()
    title = f".job-card[data-job-id='{job['id']}'] h3"
    _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, title).text == "holiday-photo.jpg", "titled by name", 20)
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#batch .batch-counts td"), "the batch shown", 20)
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".batch-list .batch-row"), "the batch listed", 20)
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".job-row")) == 2, "the batch's items listed", 20)
    for width in (420, 320):  # the batch's facts, counts and lists; 320 px: where a larger font puts 420
        browser.set_window_size(width, 900)
        assert not browser.execute_script(STICKING_OUT), width
        assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"), width


def test_a_link_jobs_photo_is_not_called_deleted_and_shows_its_thumbnail(api_only, browser):
    """A URL job never kept its photo: the page says so (not "no longer stored") and draws the thumbnail."""
    browser.get(api_only + "/")
    said = browser.execute_script("""
        const { resultView } = await import('/static/result.js');
        const result = { kind: 'image', verdict: 'no_face', score: null, faces: [], models: [],
                         media: { width: 640, height: 480 } };
        const draw = (extra, kind) => {
          const view = resultView({ ...result, ...extra }, null, 'job', kind);
          return [view.querySelector('figcaption').textContent, view.querySelector('svg.photo > :first-child').tagName];
        };
        return [draw({ thumbnail: '/v1/jobs/job/thumbnail.jpg' }, 'url'), draw({}, 's3'), draw({}, 'upload')];""")
    (url_caption, url_ground), (s3_caption, s3_ground), (upload_caption, _) = said
    assert "read from its link and never kept" in url_caption and "thumbnail" in url_caption and url_ground == "image"
    assert "never kept" in s3_caption and s3_ground == "rect"
    assert "no longer stored" in upload_caption and "no longer stored" not in url_caption + s3_caption


def test_with_keys_off_the_page_asks_for_none(api_without_keys, browser):
    from selenium.webdriver.common.by import By

    browser.get(api_without_keys + "/")
    _wait(browser, lambda d: d.find_element(By.ID, "main").is_displayed(), "the page shown without a key", 20)
    assert not browser.find_element(By.ID, "key-section").is_displayed()
    assert not browser.find_element(By.ID, "forget-key").is_displayed()
    _wait(browser, lambda d: "No batches yet" in d.find_element(By.ID, "batches").text, "the batches listed", 20)
    assert not browser.find_element(By.ID, "key-section").is_displayed()  # no 401 sent it back to the key form
