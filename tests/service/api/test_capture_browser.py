"""The capture page in a real browser: headless Chromium (Debian's ``chromium`` and ``chromium-driver``, installed by
``make tools``) driven by Selenium against a real gateway (``fiqa-service serve`` in a child process). A photo's
decision, hints, score and measures are read from the page; the live mode runs on Chromium's fake camera playing a
.y4m the test writes from a sample photo (blurred frames, turned frames, then good ones) and shows the rejections,
then keeps the good frame; a denied camera, a gateway that wants an API key, and one that answers "wait" (a 429
with Retry-After from a real rate limit, the page's path for a 503 too) are said on the page. Assertions are on the
text a person reads; a screenshot of each state is saved under ``test-artifacts/capture/`` (git-ignored) for a
person to look at."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter, ImageOps
from selenium import webdriver
from selenium.webdriver import ActionChains
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.wait import WebDriverWait

from loadtests.server import Gateway
from service.api.keys import hash_key

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = REPO / "test-artifacts" / "capture"
FRAME_SIZE = (640, 480)  # the fake camera's frames
FPS = 1  # one y4m frame a second: each state lasts as long as its frames, whatever the page's pace
STATES = (("blurred", 3), ("turned", 3), ("good", 4))  # (state, seconds) in the order the camera plays them
ACCEPTED = "Accepted: good enough for recognition."
BLURRED_HINT = "Hold still and make sure the camera is in focus."
TURNED_HINT = "Turn your head towards the camera and hold it level."
BUSY = re.compile(r"The gateway is busy: trying again in \d+ s\.")
BEST = re.compile(r"Best accepted frame so far: frame (\d+), quality ([\d.]+) / 100\.")
WAIT_S = 90  # for an answer on this shared 2-core host
KEY = "capture-page-test-key"


@pytest.fixture(scope="module")
def binaries() -> tuple[str, str]:
    """Chromium and its driver; missing, the test fails (CI must run it): ``make tools`` installs both."""
    found = {name: shutil.which(name) for name in ("chromium", "chromedriver")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: `make tools` installs Debian's chromium and chromium-driver")
    return found["chromium"], found["chromedriver"]  # type: ignore[return-value]


@pytest.fixture
def browser(binaries: tuple[str, str], tmp_path: Path) -> Iterator[Callable[..., webdriver.Chrome]]:
    """A factory of headless Chromium sessions with extra command-line flags; each is closed after the test."""
    chromium, chromedriver = binaries
    started: list[webdriver.Chrome] = []

    def start(*flags: str) -> webdriver.Chrome:
        options = Options()
        options.binary_location = chromium
        options.set_capability("goog:loggingPrefs", {"browser": "SEVERE"})  # errors: a refused load, a script error
        base = ["--headless=new", "--disable-dev-shm-usage", "--window-size=1280,1100", "--disable-gpu"]
        if os.geteuid() == 0:
            base.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
        for flag in [*base, *flags]:
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service(chromedriver, log_output=str(tmp_path / "drv.log")))
        started.append(driver)
        return driver

    yield start
    for driver in started:
        driver.quit()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    log = tmp_path_factory.mktemp("capture-gateway") / "gateway.log"
    with Gateway(env={"FIQA_WARMUP": "false", "FIQA_LOG_FORMAT": "text"}, log=log) as running:
        yield running


def _screenshot(driver: webdriver.Chrome, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def _text(driver: webdriver.Chrome, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).text


def _hints(driver: webdriver.Chrome) -> list[str]:
    return _feedback(driver)[1]


def _feedback(driver: webdriver.Chrome) -> tuple[str, list[str]]:
    """The decision and its hints, read in one step (live, the page may replace them between two reads)."""
    decision, hints = driver.execute_script(
        "const hints = document.querySelectorAll('#hints li');"
        "return [document.getElementById('decision').innerText, Array.from(hints, (item) => item.innerText)];"
    )
    return decision, hints


def _until(driver: webdriver.Chrome, condition: Callable[[webdriver.Chrome], object], what: str) -> object:
    return WebDriverWait(driver, WAIT_S, poll_frequency=0.1).until(condition, f"the page never showed {what}")


def _open(driver: webdriver.Chrome, gateway: Gateway) -> None:
    driver.get(f"{gateway.url}/")  # the front door leads to the page
    assert driver.current_url == f"{gateway.url}/capture" and driver.title == "Face capture check"


def _choose(driver: webdriver.Chrome, photo: Path) -> None:
    driver.find_element(By.ID, "photo").send_keys(str(photo))
    _until(driver, lambda d: _text(d, "status") == f"{photo.name} judged.", f"{photo.name} judged")


def _blurred(photo: Image.Image) -> Image.Image:
    return photo.filter(ImageFilter.GaussianBlur(5 * max(photo.size) / max(FRAME_SIZE)))


def _turned(photo: Image.Image) -> Image.Image:
    return photo.rotate(90, expand=True)


def test_a_photo_is_judged_and_the_page_reads_well(browser, gateway: Gateway, samples: Path, tmp_path: Path) -> None:
    driver = browser()
    _open(driver, gateway)
    _choose(driver, samples / "obama.jpg")
    assert _text(driver, "decision") == ACCEPTED and _hints(driver) == []
    assert re.fullmatch(r"Quality [\d.]+ / 100 \(model \w+\)\.", _text(driver, "score"))
    measures = driver.find_element(By.ID, "measures")
    assert measures.is_displayed() and "Sharpness" in measures.text
    _screenshot(driver, "photo-accepted")

    blurred = tmp_path / "blurred.jpg"
    _blurred(Image.open(samples / "obama.jpg").convert("RGB")).save(blurred, quality=92)
    _choose(driver, blurred)
    assert _text(driver, "decision") == "Rejected." and BLURRED_HINT in _hints(driver)
    _screenshot(driver, "photo-rejected")

    no_face = samples / "no_face_coffee.png"
    _choose(driver, no_face)
    assert _text(driver, "decision") == "Rejected." and _text(driver, "score") == "No face found."
    assert _hints(driver) == ["Look at the camera so your whole face is visible."]

    # the keyboard reaches every control in order (the stop button is disabled until the camera runs)
    driver.find_element(By.TAG_NAME, "body").click()
    reached = []
    for _ in range(4):
        ActionChains(driver).send_keys(Keys.TAB).perform()  # as a person presses it (not typed into an input)
        reached.append(driver.switch_to.active_element.get_attribute("id"))
    assert reached == ["photo", "start-camera", "show-map", "api-key"]

    driver.set_window_size(390, 844)  # a phone's width: nothing runs off the side
    overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0 and driver.find_element(By.ID, "decision").is_displayed()
    _screenshot(driver, "photo-phone-width")
    assert driver.get_log("browser") == []  # nothing the policy refused, no script error


def _y4m(frames: list[np.ndarray], path: Path) -> None:
    """RGB frames as a YUV4MPEG2 file, 4:2:0 with JPEG (full-range BT.601) colours, as Chromium's fake camera
    plays it (in a loop)."""
    height, width = frames[0].shape[:2]

    def half(plane: np.ndarray) -> np.ndarray:
        return plane.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))

    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{FPS}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            r, g, b = (frame[..., channel].astype(np.float64) for channel in range(3))
            y = 0.299 * r + 0.587 * g + 0.114 * b
            cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
            cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
            out.write(b"FRAME\n")
            for plane in (y, half(cb), half(cr)):
                out.write(np.clip(np.rint(plane), 0, 255).astype(np.uint8).tobytes())


@pytest.fixture
def camera_file(samples: Path, tmp_path: Path) -> Path:
    """The fake camera's film: a sample photo blurred, then turned on its side, then as it is (``STATES``)."""
    photo = Image.open(samples / "obama.jpg").convert("RGB")
    looks = {"blurred": _blurred(photo), "turned": _turned(photo), "good": photo}
    frames = []
    for state, seconds in STATES:
        frame = np.asarray(ImageOps.pad(looks[state], FRAME_SIZE, color=(0, 0, 0)))
        frames += [frame] * (seconds * FPS)
    path = tmp_path / "camera.y4m"
    _y4m(frames, path)
    return path


def test_live_mode_shows_the_rejections_then_keeps_the_good_frame(browser, gateway: Gateway, camera_file) -> None:
    camera = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
    driver = browser(*camera, f"--use-file-for-fake-video-capture={camera_file}")
    _open(driver, gateway)
    driver.find_element(By.ID, "start-camera").click()
    seen: list[tuple[str, tuple[str, ...]]] = []  # each feedback as it changed: (decision, hints)
    best = None
    deadline = time.monotonic() + WAIT_S
    while best is None and time.monotonic() < deadline:
        decision, hints = _feedback(driver)
        feedback = (decision, tuple(hints))
        if feedback[0] and (not seen or seen[-1] != feedback):
            seen.append(feedback)
            _screenshot(driver, f"live-{len(seen)}-{'accepted' if feedback[0] == ACCEPTED else 'rejected'}")
        best = BEST.fullmatch(_text(driver, "best-info"))
        time.sleep(0.1)
    assert best is not None, f"no frame was kept; the page showed {seen}"
    rejections = [hints for decision, hints in seen if decision == "Rejected."]
    assert any(BLURRED_HINT in hints for hints in rejections), seen
    assert any(TURNED_HINT in hints for hints in rejections), seen
    assert int(best[1]) > 1 and float(best[2]) > 0  # frames were rejected before the good one was kept
    assert driver.find_element(By.ID, "best-frame").is_displayed()
    assert re.fullmatch(r"Frames judged: \d+ \(\d+ accepted, \d+ rejected\)\.", _text(driver, "frames"))
    _screenshot(driver, "live-best-kept")

    assert driver.get_log("browser") == []
    driver.find_element(By.ID, "stop-camera").click()
    assert _text(driver, "status") == "Camera off. The best accepted frame is kept below."
    assert BEST.fullmatch(_text(driver, "best-info")) and driver.switch_to.active_element.get_attribute("id") == (
        "start-camera"
    )
    _screenshot(driver, "live-stopped")


def test_a_denied_camera_is_said(browser, gateway: Gateway) -> None:
    driver = browser("--use-fake-device-for-media-stream", "--deny-permission-prompts")
    _open(driver, gateway)
    driver.find_element(By.ID, "start-camera").click()
    _until(driver, lambda d: _text(d, "status").startswith("Camera permission was denied."), "the denial")
    assert driver.find_element(By.ID, "start-camera").is_enabled()
    _screenshot(driver, "camera-denied")


def test_a_keyed_busy_gateway_is_said(browser, samples: Path, tmp_path: Path) -> None:
    """A gateway with an API key and a rate limit of 2 requests at once, then one every 10 s. Without the key the
    page says it needs one; with it (typed into the page) a photo is judged (the model query and the score take the
    2 tokens), and the next photo gets a 429 with Retry-After: the page says it is busy, waits, then answers."""
    env = {
        "FIQA_WARMUP": "false",
        "FIQA_API_KEY_HASHES": json.dumps([hash_key(KEY)]),
        "FIQA_RATE_LIMIT_PER_S": "0.1",
        "FIQA_RATE_LIMIT_BURST": "2",
    }
    with Gateway(env=env, log=tmp_path / "gateway.log") as keyed:
        driver = browser()
        _open(driver, keyed)
        driver.find_element(By.ID, "photo").send_keys(str(samples / "no_face_coffee.png"))
        needs_key = "This gateway needs an API key: enter it in the API key field, then try again."
        _until(driver, lambda d: _text(d, "status") == needs_key, "that a key is needed")
        _screenshot(driver, "key-needed")

        driver.find_element(By.ID, "api-key").send_keys(KEY)
        _choose(driver, samples / "obama.jpg")
        assert _text(driver, "decision") == ACCEPTED

        blurred = tmp_path / "blurred.jpg"
        _blurred(Image.open(samples / "obama.jpg").convert("RGB")).save(blurred, quality=92)
        driver.find_element(By.ID, "photo").send_keys(str(blurred))
        _until(driver, lambda d: BUSY.fullmatch(_text(d, "status")), "that the gateway is busy")
        _screenshot(driver, "busy")
        _until(driver, lambda d: _text(d, "status") == "blurred.jpg judged.", "the answer after the wait")
    assert _text(driver, "decision") == "Rejected." and BLURRED_HINT in _hints(driver)
