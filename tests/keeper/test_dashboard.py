"""`oracle serve` in a real headless browser (Debian's chromium through chromedriver): the pages
render, their links work, and every figure about the registry equals what the chain returns."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from oracle.devnet.anvil import free_port
from oracle.markets import market_id
from tests.helpers.cli import oracle, stop
from tests.helpers.markets import MARKET

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def _browser(profile_dir) -> webdriver.Chrome:
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail("Debian's chromium and chromium-driver are missing: run `make install`")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile_dir}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def _serve(cfg, port) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "oracle.cli", "--config", str(cfg), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/proposals", timeout=5)
            return proc
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read()) from None
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("the dashboard did not answer")


def _cell(row, field: str) -> str:
    return row.find_element(By.CSS_SELECTOR, f'[data-field="{field}"]').text


def test_the_dashboard_in_a_browser_shows_what_the_chain_holds(deployment, tmp_path):
    cfg, client, env = deployment
    out = json.loads(oracle(cfg, "once", "--json", env=env).stdout)
    assert [p["status"] for p in out["pushes"]] == ["mined"]
    oracle(cfg, "propose", MARKET, "6000", "7000", "500")
    port = free_port()
    server = _serve(cfg, port)
    browser = None
    try:
        browser = _browser(tmp_path / "chromium")
        base = f"http://127.0.0.1:{port}"
        browser.get(base + "/")
        state = client.market_state(market_id(MARKET))
        now = client.w3.eth.get_block("latest")["timestamp"]
        row = browser.find_element(By.CSS_SELECTOR, f'tr[data-market="{MARKET}"]')
        assert _cell(row, "ltv") == f"{state.ltv_bps:,}"
        assert _cell(row, "lt") == f"{state.threshold_at(now):,}"
        assert _cell(row, "lt-target") == f"{state.target_liquidation_threshold_bps:,}"
        assert _cell(row, "lb") == f"{state.liquidation_bonus_bps:,}"
        assert _cell(row, "health").startswith("ok")
        assert "alive" in browser.find_element(By.ID, "keeper").text

        row.find_element(By.CLASS_NAME, "market-link").click()  # the market's page
        assert browser.find_element(By.TAG_NAME, "h1").text == MARKET
        values = browser.find_element(By.ID, "values")
        assert _cell(values, "ltv") == f"{state.ltv_bps:,}"
        chart = browser.find_element(By.CSS_SELECTOR, "#chart svg")
        assert chart.size["width"] > 300
        [update] = browser.find_elements(By.CSS_SELECTOR, "table.updates tr[data-nonce]")
        assert update.find_element(By.CLASS_NAME, "verification").text == "verified"

        browser.find_element(By.ID, "nav-updates").click()
        rows = browser.find_elements(By.CSS_SELECTOR, "table.updates tr[data-nonce]")
        assert [r.get_attribute("data-nonce") for r in rows] == ["0"]
        assert f"{state.ltv_bps}/{state.target_liquidation_threshold_bps}" in rows[0].text
        assert out["pushes"][0]["tx_hash"][:18] in rows[0].text

        browser.find_element(By.ID, "nav-proposals").click()
        proposal = browser.find_element(By.CSS_SELECTOR, 'tr[data-proposal="0"]')
        assert _cell(proposal, "status") == client.proposal(0).status_name == "queued"
        assert MARKET in proposal.text and "6000/7000/500" in proposal.text
        links = proposal.find_elements(By.CLASS_NAME, "review-link")
        assert sorted(link.text.rsplit(".", 1)[1] for link in links) == ["html", "md"]
        [html] = [link for link in links if link.text.endswith(".html")]
        html.click()  # the review report itself
        assert f"Proposal #0: {MARKET} risk parameters" in browser.page_source
        browser.back()

        browser.find_element(By.ID, "nav-overview").click()
        assert browser.find_element(By.ID, "markets").is_displayed()
        browser.get(base + "/market/NOT/A-MARKET")
        assert "Not Found" in browser.page_source
    finally:
        if browser is not None:
            browser.quit()
        code, err = stop(server, timeout=20)
    assert code == 0 and "dashboard stopped" in err, err
