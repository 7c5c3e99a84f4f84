"""The inspector page in a real browser: headless Chromium (Debian's `chromium`, never downloaded)
driven by Playwright for Python, against a stateful stub on 127.0.0.1.

It loads the page, sees requests appear live, filters, opens a request's detail (validation
errors highlighted), copies it as curl, replays it, saves it as an example and as a fixture,
exports HAR, switches a sticky scenario on and off, advances the virtual clock, resends a webhook
delivery, resets the tenant, and checks that every control is labelled and reachable from the
keyboard. `.ci/run` sets SANDLOT_REQUIRE_BROWSER=1
(and installs chromium), so there a missing browser fails; elsewhere these tests skip and say why.
Screenshots go to the test's temporary folder, and into docs/images/ (shown by docs/inspector.md)
when SANDLOT_UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.scenarios.servers import Receiver

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
WAIT_MS = 10_000  # every wait for the page is bounded


def _browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        return f"no Chromium at {CHROMIUM} (apt-get install chromium; browsers are never downloaded)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = _browser_missing()
    if missing:
        if os.environ.get("SANDLOT_REQUIRE_BROWSER"):
            pytest.fail(f"SANDLOT_REQUIRE_BROWSER is set but the browser tests cannot run: {missing}")
        pytest.skip(f"browser tests skipped: {missing}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists()
                                              else shutil.which("chromium"), args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def shots(tmp_path: Path) -> Any:
    """Return a function that screenshots the page (and updates docs/images/ when asked to)."""
    def shoot(page: Any, name: str) -> None:
        path = tmp_path / f"inspector-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if os.environ.get("SANDLOT_UPDATE_SCREENSHOTS"):
            DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, DOCS_IMAGES / path.name)
    return shoot


def _open(browser: Any, url: str, token: str) -> Any:
    # The page forbids eval (CSP); Playwright's wait_for_function needs it, in the test only.
    context = browser.new_context(viewport={"width": 1360, "height": 900}, bypass_csp=True)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{url}/__sandlot/ui#token={token}")
    page.wait_for_selector("#live-status:has-text('Live:')")
    page.errors = errors  # checked at the end of each test
    return page


def _rows(page: Any) -> Any:
    return page.locator("#requests tbody tr")


def test_requests_appear_live_filter_detail_replay_save_and_export(browser, serve, shots, tmp_path) -> None:
    stub = serve(stateful=True)
    _, key = stub.new_key("browser")
    api = stub.client(key)
    page = _open(browser, stub.url, key)
    assert page.url.endswith("/__sandlot/ui")  # the token left the address bar

    api.get("/v1/customers")
    api.post("/v1/customers", json={"email": "live@example.com", "name": "Live"})
    api.post("/v1/charges", json={"amount": 5, "currency": "usd", "customer": "cus_seed_ada"})
    api.get("/v1/custmers")
    page.wait_for_function("document.querySelectorAll('#requests tbody tr').length === 4")
    first = _rows(page).first
    assert "/v1/custmers" in first.inner_text() and "404" in first.inner_text()
    shots(page, "live")

    page.fill("#filters [name=status]", "400")
    page.click("#filters button[type=submit]")
    page.wait_for_function("document.querySelectorAll('#requests tbody tr').length === 1")
    assert "createCharge" in _rows(page).first.inner_text()
    _rows(page).first.locator("button").click()
    page.wait_for_selector("#violations li.violation")
    violation = page.locator("#violations li").first.inner_text()
    assert "body/amount" in violation and "minimum of 50" in violation and "rule minimum: 50" in violation
    assert page.evaluate("document.activeElement.id") == "detail-heading"
    shots(page, "detail")

    page.click("#filters button[type=reset]")
    page.wait_for_function("document.querySelectorAll('#requests tbody tr').length === 4")
    page.fill("#filters [name=q]", "live@example.com")
    page.click("#filters button[type=submit]")
    page.wait_for_function("document.querySelectorAll('#requests tbody tr').length === 1")
    # Keyboard: focus the row's button and press Enter to open it.
    _rows(page).first.locator("button").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#detail-heading:has-text('POST /v1/customers')")
    page.click("#copy-curl")
    curl = page.locator("#snippet").inner_text()
    assert curl.startswith("curl -X POST ") and "$SANDLOT_KEY" in curl and key not in curl
    assert "live@example.com" in curl
    page.click("#replay")
    page.wait_for_selector("#action-result:has-text('Replayed')")
    assert re.search(r"status 201, recorded as #\d+", page.locator("#action-result").inner_text())
    emails = [c["email"] for c in api.get("/v1/customers", params={"limit": 20}).json()["data"]]
    assert emails.count("live@example.com") == 2

    # Save as example (YAML for the spec, at the pointer shown) and as fixture (stateful), both downloaded.
    with page.expect_download() as saved:
        page.click("#save-example")
    page.wait_for_selector("#action-result:has-text('Saved example')")
    assert "goes at /paths/~1customers/post/responses/201/content/application~1json/examples/createCustomer_" in \
        page.locator("#action-result").inner_text()
    assert saved.value.suggested_filename.startswith("sandlot-example-")
    example = Path(saved.value.path()).read_text()
    assert example.startswith("paths:\n  /customers:\n    post:") and "live@example.com" in example
    assert page.locator("#snippet").text_content() == example
    with page.expect_download() as saved:
        page.click("#save-fixture")
    page.wait_for_selector("#action-result:has-text('Saved fixture')")
    assert "fixtures for customers" in page.locator("#action-result").inner_text()
    (made,) = yaml.safe_load(Path(saved.value.path()).read_text())["customers"]
    assert made["id"].startswith("cus_") and made["email"] == "live@example.com"

    with page.expect_download() as download:
        page.click("#export-har")
    har = json.loads(Path(download.value.path()).read_text())
    # The export follows the filter (text in bodies): both POSTs, and the list that shows them.
    assert har["log"]["version"] == "1.2" and [e["request"]["method"] for e in har["log"]["entries"]] == \
        ["POST", "POST", "GET"]
    assert all("live@example.com" in json.dumps(e) for e in har["log"]["entries"])
    assert key not in json.dumps(har)
    assert page.errors == []


def test_sandbox_controls_clock_sticky_scenario_webhooks_and_reset(browser, serve, shots) -> None:
    stub = serve(stateful=True)
    _, key = stub.new_key("controls")
    api = stub.client(key)
    with Receiver() as receiver:
        endpoint = api.post("/__sandlot/webhooks/endpoints", json={"url": receiver.url}).json()
        receiver.secrets.append(endpoint["secret"])
        page = _open(browser, stub.url, key)
        page.wait_for_selector("#clock-offset:has-text('real time')")
        before = page.locator("#clock-now").inner_text()

        # A charge schedules charge.succeeded 2 s later on the tenant's clock: advance it from the page.
        assert api.post("/v1/charges", json={"amount": 2000, "currency": "usd",
                                             "customer": "cus_seed_ada"}).status_code == 201
        page.fill("#advance-by", "1h")
        page.click("#clock-form button[type=submit]")
        page.wait_for_selector("#sandbox-result:has-text('Clock advanced by 1h')")
        page.wait_for_selector("#clock-offset:has-text('ahead')")
        assert page.locator("#clock-now").inner_text() != before
        receiver.wait_for(1)
        page.click("#refresh-hooks")
        page.wait_for_selector("#deliveries li:has-text('attempt 1: 200')")
        attempts = page.locator("#deliveries").inner_text()  # every attempt: status, latency, signature
        assert re.search(r"attempt 1: 200 in [\d.]+ ms · signature t=\d+,v1=", attempts), attempts
        page.click("#deliveries button:has-text('Resend')")
        page.wait_for_selector("#sandbox-result:has-text('Resent charge.succeeded')")
        assert receiver.wait_for(2)[1].json()["type"] == "charge.succeeded"

        page.select_option("#sticky-name", "unavailable")
        page.click("#sticky-form button[type=submit]")
        page.wait_for_selector("#sticky-now:has-text('unavailable')")
        assert api.get("/v1/customers").status_code == 503
        page.wait_for_selector("#requests tbody tr:has-text('unavailable')")
        shots(page, "controls")
        page.click("#sticky-off")
        page.wait_for_selector("#sticky-now:has-text('none')")
        assert api.get("/v1/customers").status_code == 200

        api.post("/v1/customers", json={"email": "gone@example.com"})
        page.click("#reset")
        page.wait_for_selector("#sandbox-result:has-text('reset')")
        ids = [c["id"] for c in api.get("/v1/customers").json()["data"]]
        assert ids == ["cus_seed_ada", "cus_seed_grace"]
        page.wait_for_selector("#clock-offset:has-text('real time')")
    assert page.errors == []


def test_every_control_is_labelled_and_reachable_by_keyboard(browser, serve) -> None:
    stub = serve(stateful=True)
    _, key = stub.new_key("a11y")
    page = _open(browser, stub.url, key)
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('button, input, select')]
        .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                      && !el.textContent.trim() && el.type !== 'hidden')
        .map(el => el.outerHTML)""")
    assert unlabelled == []
    reached = set()
    for _ in range(60):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.id || document.activeElement.name || "
                                  "document.activeElement.textContent.trim()"))
    for control in ("token", "tenant", "operation", "status", "q", "pause", "export-har", "advance-by",
                    "sticky-name", "refresh-hooks", "reset"):
        assert control in reached, control
    assert page.errors == []
