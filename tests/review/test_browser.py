"""The review app in a real browser: Debian's chromium, headless, driven by Playwright, against
the app served by waitress as ``pltanomaly review`` serves it.

Installs nothing: the repo's install step puts chromium in (tests/review/APT_PACKAGES); without
/usr/bin/chromium the test is skipped. Screenshots go to tests/review/screenshots/.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from served import serving

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).parent / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium "
        "(apt-get install -y $(cat tests/review/APT_PACKAGES))",
    ),
]


@pytest.fixture
def server(app: Any) -> Iterator[str]:
    with serving(app) as url:
        yield url


@pytest.fixture
def page() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package")
    SHOTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.set_default_timeout(10_000)
        pg = context.new_page()
        pg.errors = []  # type: ignore[attr-defined]
        pg.foreign = []  # type: ignore[attr-defined]
        pg.on("pageerror", lambda exc: pg.errors.append(str(exc)))  # type: ignore[attr-defined]

        def only_local(route: Any) -> None:
            if urlsplit(route.request.url).hostname == "127.0.0.1":
                route.continue_()
            else:  # nothing may come from a CDN or anywhere else
                pg.foreign.append(route.request.url)  # type: ignore[attr-defined]
                route.abort()

        pg.route("**/*", only_local)
        try:
            yield pg
        finally:
            context.close()
            browser.close()


def wait_chart(pg: Any) -> None:
    pg.wait_for_selector(".chart[data-ready='1'] canvas")


def test_review_in_a_real_browser(page: Any, server: str, app: Any) -> None:
    pg = page
    # -- the fills page, with the heatmap ----------------------------------------------------
    pg.goto(f"{server}/fills?year=2022")
    assert pg.locator("svg.heatmap rect").count() == 5 * 16
    assert pg.locator("#fills-table tbody tr").count() == 5
    pg.screenshot(path=SHOTS / "1-fills.png", full_page=True)

    # sort by score by clicking the column header
    pg.click("#fills-table th >> text=Max score")
    first = pg.locator("#fills-table tbody tr").first.get_attribute("data-fill")
    assert first == "8001"

    # -- a fill: plot, chart, channel table --------------------------------------------------
    pg.click("#fills-table a >> text=8003")
    pg.wait_for_url(f"{server}/fills/2022/8003")
    pg.goto(f"{server}/fills/2022/8001")
    wait_chart(pg)
    assert pg.locator("#fill-plot").evaluate("img => img.naturalWidth") > 0
    assert pg.locator(".chart input[data-channel='3']").is_checked()
    # hover the chart: the tooltip reads the values under the mouse
    box = pg.locator(".chart canvas").bounding_box()
    pg.mouse.move(box["x"] + box["width"] * 0.75, box["y"] + box["height"] * 0.7)
    tip = pg.locator(".chart .tip")
    # at 3/4 of the fill, inside channel 3's +10 % step: its ratio to the reference is 1.1
    assert tip.is_visible() and "ch 3:" in tip.inner_text() and "ratio 1.1" in tip.inner_text()
    pg.screenshot(path=SHOTS / "2-fill.png", full_page=True)

    # -- save a verdict on channel 3 ---------------------------------------------------------
    form = pg.locator("#ch3 form.verdict")
    form.locator("input[value=bad]").check()
    form.locator("select[name=anomaly_type]").select_option("step")
    form.locator("input[name=comment]").fill("10 % step at 06:16, clearly real")
    form.locator("button[type=submit]").click()
    pg.wait_for_url(f"{server}/fills/2022/8001#ch3")
    assert "bad: step" in pg.locator("#ch3 td.current").inner_text()
    assert "Saved: fill 8001 channel 3 is bad." in pg.locator(".flash").inner_text()
    pg.locator("#ch3").scroll_into_view_if_needed()
    pg.screenshot(path=SHOTS / "3-verdict-saved.png", full_page=True)
    store = app.extensions["pltanomaly_review"].store
    saved = store.get(2022, 8001, 3)
    assert (saved.verdict, saved.anomaly_type) == ("bad", "step")

    # -- evaluate: the most uncertain channel first ------------------------------------------
    pg.goto(f"{server}/eval/next")
    pg.wait_for_url(f"{server}/eval/2022/8001/5")
    wait_chart(pg)
    assert "62 unlabelled channels left" in pg.locator("p.facts").inner_text()
    pg.screenshot(path=SHOTS / "4-eval.png", full_page=True)
    # "good" disables the type; save moves on to the next
    pg.locator("form.verdict input[value=good]").check()
    assert pg.locator("form.verdict select[name=anomaly_type]").is_disabled()
    pg.click("form.verdict button[type=submit]")
    pg.wait_for_url(f"{server}/eval/2022/8002/2")
    pg.click("#skip")
    pg.wait_for_url(f"{server}/eval/2023/8501/4")
    wait_chart(pg)
    pg.screenshot(path=SHOTS / "5-eval-after-skip.png", full_page=True)
    assert store.get(2022, 8001, 5).verdict == "good"
    assert store.get(2022, 8002, 2).verdict == "skipped"

    # -- the heatmap shows the verdict; nothing broke, nothing left the machine ---------------
    pg.goto(f"{server}/fills?year=2022")
    assert pg.locator("svg.heatmap circle.vbad").count() == 1
    assert pg.locator("svg.heatmap circle.vgood").count() == 1
    pg.goto(f"{server}/agreement")
    pg.screenshot(path=SHOTS / "6-agreement.png", full_page=True)
    assert pg.errors == []
    assert pg.foreign == []


def test_reevaluation_state_shown_live(page: Any, make_app: Any, fake_detector: Any) -> None:
    """Re-evaluate from the fill page; the page follows the job to FINISHED by itself."""
    fake_detector.gate = threading.Event()
    fake_detector.started = threading.Event()
    app = make_app(executor=ThreadPoolExecutor(max_workers=1))
    pg = page
    with serving(app) as server:
        pg.goto(f"{server}/fills/2022/8002")
        pg.click("text=Re-evaluate with current config")
        pg.wait_for_url(f"{server}/fills/2022/8002")
        assert fake_detector.started.wait(5)
        badge = pg.locator("#job-state .badge")
        assert badge.inner_text() in ("PENDING_REEVALUATION", "REEVALUATING")
        assert pg.locator("button:has-text('Re-evaluate with current config')").is_disabled()
        wait_chart(pg)
        pg.screenshot(path=SHOTS / "7-reevaluating.png")
        fake_detector.gate.set()
        pg.wait_for_selector("#job-state .badge:has-text('FINISHED')")  # polled, no reload
        pg.wait_for_selector("#reload-note")
        pg.click("#reload-note a")
        pg.wait_for_selector("#ch0 .badge:has-text('anomalous')")  # the new result
        wait_chart(pg)
        assert pg.locator("#fill-plot").evaluate("img => img.naturalWidth") > 0  # redrawn
        pg.screenshot(path=SHOTS / "8-reevaluated.png", full_page=True)
    assert pg.errors == [] and pg.foreign == []
