"""The report in a real browser: headless Chromium (Debian's chromium and chromium-driver, driven by
Selenium) opens report.html from file://, and we check that nothing was fetched, nothing was
logged as an error, every plot decoded to a non-blank image, and save a full-page screenshot to
test-artifacts/ (RLHF_EVAL_ARTIFACTS moves it). `.ci/run` installs the browser; without one this skips."""
import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="no chromium/chromedriver (apt-get install chromium chromium-driver)")

# Distinct colours and share of non-white pixels of an <img>, read back through a canvas.
PIXELS = """
const img = arguments[0];
const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
const g = c.getContext('2d'); g.drawImage(img, 0, 0);
const d = g.getImageData(0, 0, c.width, c.height).data;
const seen = new Set(); let ink = 0;
for (let i = 0; i < d.length; i += 16) {
  seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
  if (d[i] < 240 || d[i + 1] < 240 || d[i + 2] < 240) ink++;
}
return [img.complete, img.naturalWidth, img.naturalHeight, seen.size, ink / (d.length / 16)];
"""


def artifacts() -> Path:
    path = Path(os.environ.get("RLHF_EVAL_ARTIFACTS") or ROOT / "test-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=DRIVER))
    yield driver
    driver.quit()


def check_report(driver, html: Path, shot: Path, width: int = 1280) -> dict:
    from selenium.webdriver.common.by import By

    driver.set_window_size(width, 900)
    driver.get(html.absolute().as_uri())
    driver.execute_script("return document.readyState")
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == [], errors
    # Self-contained: every resource the page loaded is inline.
    fetched = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert [u for u in fetched if not u.startswith("data:")] == []
    plots = driver.find_elements(By.CSS_SELECTOR, "img.plot")
    for img in plots:
        complete, w, h, colours, ink = driver.execute_script(PIXELS, img)
        alt = img.get_attribute("alt")
        assert complete and w > 200 and h > 100, (alt, w, h)
        assert colours > 8 and ink > 0.01, (alt, colours, ink)  # drawn, not blank
    # nothing is wider than the window: tables and plots fit (or scroll inside themselves)
    overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 20, (width, overflow)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(height + 100, 16000))
    driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 50_000
    rows = driver.find_elements(By.CSS_SELECTOR, "#verdict-table tr")
    return {"plots": [p.get_attribute("alt") for p in plots], "verdict_rows": len(rows) - 1}


def column_values(driver, table_id: str, column: str) -> list[str]:
    return driver.execute_script(
        "const t = document.getElementById(arguments[0]);"
        "const i = Array.from(t.tHead.rows[0].cells).findIndex(c => c.textContent.trim() === arguments[1]);"
        "return Array.from(t.tBodies[0].rows).map(r => r.cells[i].dataset.v);", table_id, column)


def test_the_report_works_at_1400_and_800_pixels(browser, reference_run):
    """Sortable RM table with intervals, CSV links that resolve from the run folder's copy, one
    line per benchmark under the verdict table (the prose folded), and where the page is read."""
    from selenium.webdriver.common.by import By

    run_dir, _ = reference_run
    results = json.loads((run_dir / "results.json").read_text())
    for width in (1400, 800):
        check_report(browser, run_dir / "report.html", artifacts() / f"report-smoke-{width}.png", width)
        column = next(c for c in results["rm_columns"] if c.startswith("toy_rewardbench2"))
        header = next(h for h in browser.find_elements(By.CSS_SELECTOR, "#rm-table thead th")
                      if h.text.strip() == column)
        for order in (lambda v: sorted(v, reverse=True), sorted):  # best first, then the other way
            browser.execute_script("arguments[0].scrollIntoView()", header)
            header.click()
            values = [float(v) for v in column_values(browser, "rm-table", column)]
            assert values == order(values) and len(values) == len(results["rm_table"])
        # each value carries its interval, and the interval holds it
        cells = browser.find_elements(By.CSS_SELECTOR, "#rm-table tbody td .ci")
        assert len(cells) >= len(results["rm_table"]) * 2
        links = browser.find_elements(By.CSS_SELECTOR, "#tables a")
        assert {a.text for a in links} >= {"rm_table.csv", "static.csv", "correlations.csv", "results.json"}
        for a in links:  # relative links that reach the report node's folder from the run folder
            href = a.get_attribute("href")
            assert href.startswith("file://") and Path(href[len("file://"):]).is_file(), href
        lines = browser.find_elements(By.CSS_SELECTOR, "#verdict-lines li")
        assert len(lines) == len(results["verdicts"])
        assert not browser.find_element(By.ID, "verdict-detail").get_attribute("open")
        read = browser.find_element(By.CSS_SELECTOR, ".read-at").text
        assert read == str((run_dir / "report.html").absolute())


def test_smoke_report_renders_in_chromium(browser, reference_run):
    run_dir, _ = reference_run
    seen = check_report(browser, run_dir / "report.html", artifacts() / "report-smoke.png")
    alts = seen["plots"]
    # best-of-n curves, RL proxy vs gold, a scatter per benchmark x downstream gain, heatmap, funnel
    assert alts.count("best-of-n curves") == 1 and alts.count("proxy vs gold reward during RL") == 1
    res = json.loads((run_dir / "results.json").read_text())
    on_policy = [c for c in res["correlations"] if c["static"].startswith("on-policy")]
    assert on_policy and all(c["downstream"].startswith("RL gain") for c in on_policy)
    # 3 benchmarks x (best-of-2, -4, RL), and the on-policy signals that vary against the RL gain
    assert alts.count("static vs downstream scatter") == 3 * 3 + len(on_policy)
    assert alts.count("every benchmark against one downstream gain") == 3  # one panel per downstream gain
    assert alts.count("correlation heatmap") == 1 and alts.count("curation funnel") == 1
    assert seen["verdict_rows"] == 3 + len(on_policy)  # a row per benchmark and per on-policy signal
