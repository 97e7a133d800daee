"""The page end to end in a real browser: headless Chromium (Debian's chromium and chromium-driver) driven by Selenium.
It drops a photo, starts a small transfer with a bundled style, watches the preview change and the result arrive,
and saves screenshots (out/serve-desktop.png, out/serve-phone.png) to look at; and an upscale with the page's
checkbox for averaging over the eight turns (out/serve-upscale.png)."""
import os
import shutil
import time
from pathlib import Path

import pytest

from conftest import EXAMPLES, ROOT

selenium = pytest.importorskip("selenium", reason="pip install selenium (scripts/setup.sh does)")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")
if not (CHROMIUM and DRIVER):
    pytest.skip("needs Debian's chromium and chromium-driver (scripts/setup.sh installs them)", allow_module_level=True)


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1100"]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER), options=options)
    yield driver
    driver.quit()


def test_a_transfer_from_the_page(serve, browser):
    server = serve()
    out = ROOT / "out"
    out.mkdir(exist_ok=True)
    browser.get(server.url + "/")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#examples button[aria-selected=true]"))
    assert browser.find_element(By.NAME, "iterations").get_attribute("value") == "500", "the library's default is shown"
    browser.find_element(By.ID, "content").send_keys(str(EXAMPLES / "chelsea-cat.png"))
    for name, value in [("size", "192"), ("iterations", "150")]:
        field = browser.find_element(By.CSS_SELECTOR, f"fieldset[data-kind=transfer] [name={name}]")
        field.clear()
        field.send_keys(value)
    browser.find_element(By.ID, "start").click()

    # The preview changes as the painting forms.
    previews = set()
    deadline = time.time() + 240
    while time.time() < deadline and not browser.find_element(By.ID, "download").is_displayed():
        source = browser.find_element(By.ID, "live").get_attribute("src") or ""
        if "/preview" in source:
            previews.add(source)
        if len(previews) == 2:
            browser.save_screenshot(str(out / "serve-running.png"))
        time.sleep(0.05)
    assert len(previews) >= 2, f"the preview should change while the job runs: {previews}"
    assert browser.find_element(By.ID, "download").is_displayed(), "the result's download link"
    assert "/result" in browser.find_element(By.ID, "live").get_attribute("src")
    assert browser.find_element(By.ID, "job-status").text.startswith("done")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#gallery figure img"))
    live = browser.find_element(By.ID, "live")
    assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", live) == 192
    canvas_drawn = browser.execute_script(
        "const c = document.getElementById('plot'); return c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some(v => v > 0)")
    assert canvas_drawn and browser.find_element(By.ID, "plot").is_displayed(), "the loss plot was drawn"
    browser.save_screenshot(str(out / "serve-desktop.png"))

    # Phone width: one column, nothing wider than the screen.
    browser.set_window_size(390, 1100)
    time.sleep(0.5)
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    browser.save_screenshot(str(out / "serve-phone.png"))

    problems = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not problems, f"errors in the page's console (a content security policy violation, say): {problems}"


def test_an_averaged_upscale_from_the_page(serve, browser):
    server = serve()
    browser.get(server.url + "/")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#upscalers option"))
    browser.find_element(By.ID, "content").send_keys(str(EXAMPLES / "chelsea-cat.png"))
    browser.find_element(By.CSS_SELECTOR, "input[name=kind][value=upscale]").click()
    Select(browser.find_element(By.ID, "upscalers")).select_by_value("x2-fast")
    browser.find_element(By.CSS_SELECTOR, "fieldset[data-kind=upscale] input[name=self-ensemble]").click()
    browser.find_element(By.ID, "start").click()
    wait.until(lambda d: d.find_element(By.ID, "download").is_displayed())
    job = server.get("/api/jobs").json()[0]
    assert job["kind"] == "upscale" and job["settings"] == {"model": "x2-fast", "self-ensemble": "on"}, job
    assert browser.find_element(By.ID, "job-status").text.startswith("done")
    bar = browser.find_element(By.ID, "job-progress")
    assert (bar.get_attribute("value"), bar.get_attribute("max")) == ("8", "8"), "one tile in each of the 8 turns"
    assert not browser.find_element(By.ID, "plot").is_displayed(), "an upscale has no losses to plot"
    wait.until(lambda d: "averaged over eight turns" in d.find_element(By.ID, "gallery").text)
    (ROOT / "out").mkdir(exist_ok=True)
    browser.save_screenshot(str(ROOT / "out" / "serve-upscale.png"))
