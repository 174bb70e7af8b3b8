"""The explorer page in a real headless Chromium (Debian's package, driven by Selenium).

Loads the page from a running ``ltr-cos serve``, picks a query, moves a weight slider with the keyboard,
and checks that the ranked list and the NDCG figures shown equal what the Python API computes for the
weights the page then holds. Saves a screenshot (to ``LTR_COS_SCREENSHOT`` when set, else tmp_path).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ltr_cos.export import load_artifact
from ltr_cos.files import atomic_write_bytes
from ltr_cos.metrics.ndcg import ndcg_per_query, ndcg_table
from tests.serve.helpers import K, free_port, split_arrays, start_server, stop_server

pytestmark = pytest.mark.slow

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _browser() -> tuple[str, str]:
    browser = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip("no headless Chromium here: install Debian's chromium and chromium-driver "
                    "(`apt-get install chromium chromium-driver`, as .ci/run does) to run the browser test")
    return browser, driver


@pytest.fixture()
def driver():
    pytest.importorskip("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, chromedriver = _browser()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    session = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    yield session
    session.quit()


def _wait(condition, timeout: float = 30.0, what: str = "the page"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _settled(driver) -> dict | None:
    """The numbers shown, once the page shows the weights its sliders hold (None while it is updating)."""
    state = driver.execute_script("""
        const s = document.getElementById('status').dataset;
        const w = document.getElementById('weights').dataset.weights;
        return {shown: s.weights || null, held: w, beta: s.beta, query: s.query, version: s.version};
    """)
    if not state["shown"] or not np.allclose(json.loads(state["shown"]), json.loads(state["held"]), atol=1e-12):
        return None
    return state


def test_slider_updates_ranking_and_ndcg_as_the_python_api_computes(driver, served, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    port = free_port()
    proc = start_server(["--model", str(served["model"]), "--pareto", str(served["pareto"]),
                         "--data", str(served["data"])], port)
    try:
        driver.get(f"http://127.0.0.1:{port}/")
        _wait(lambda: _settled(driver) and driver.find_elements(By.CSS_SELECTOR, "#ranked tbody tr"),
              what="the first ranking")
        Select(driver.find_element(By.ID, "query")).select_by_index(2)
        _wait(lambda: (_settled(driver) or {}).get("query") == "2", what="query 2")
        before = json.loads(_settled(driver)["shown"])

        slider = driver.find_element(By.ID, "weight-0")
        slider.click()
        slider.send_keys(Keys.HOME)  # weight 0 -> 0, then 15 steps of 0.01 up
        for _ in range(15):
            slider.send_keys(Keys.ARROW_RIGHT)
        state = _wait(lambda: _settled(driver), what="the ranking at the new weights")
        time.sleep(0.3)  # any late update would change the version: take the final state
        state = _wait(lambda: _settled(driver), what="the final ranking")
        weights = json.loads(state["shown"])
        assert weights == pytest.approx([0.15, 0.85], abs=1e-9) and weights != pytest.approx(before)
        beta, query = float(state["beta"]), int(state["query"])

        # the Python API at the weights the page holds
        model = load_artifact(served["model"])
        x, y, mask, _ = split_arrays(served["data"])
        names = model.info["objective_names"]
        n = int(mask[query].sum())
        scores = model.score(x[query, :n], None, weights, beta)
        shown_docs = [int(r.get_attribute("data-doc")) for r in driver.find_elements(By.CSS_SELECTOR, "#ranked tbody tr")]
        assert shown_docs == np.argsort(-scores, kind="stable").tolist()
        shown_scores = [float(r.get_attribute("data-score")) for r in driver.find_elements(By.CSS_SELECTOR, "#ranked tbody tr")]
        np.testing.assert_allclose(shown_scores, np.sort(scores)[::-1], rtol=1e-5)
        first_row = driver.find_element(By.CSS_SELECTOR, "#ranked tbody tr")
        label_cells = first_row.find_elements(By.CSS_SELECTOR, "td[data-objective]")
        assert [float(c.text) for c in label_cells] == y[query, shown_docs[0]].tolist()

        ndcg, valid = ndcg_per_query(torch.from_numpy(scores[None]), torch.from_numpy(y[query:query + 1, :n]),
                                     torch.ones(1, n, dtype=torch.bool), K)
        all_scores = torch.from_numpy(model.score(x, mask, weights, beta))
        split = ndcg_table(all_scores, torch.from_numpy(y), torch.from_numpy(mask), names, ks=(K,))
        for j, name in enumerate(names):
            cell = driver.find_element(By.CSS_SELECTOR, f"#query-ndcg td[data-objective='{name}']")
            if valid[0, j]:
                assert float(cell.get_attribute("data-value")) == pytest.approx(float(ndcg[0, j]), abs=1e-6)
                assert cell.text == f"{float(ndcg[0, j]):.4f}"
            else:
                assert cell.text == "n/a"
            cell = driver.find_element(By.CSS_SELECTOR, f"#split-ndcg td[data-objective='{name}']")
            assert float(cell.get_attribute("data-value")) == pytest.approx(split[f"ndcg@{K}/{name}"], abs=1e-6)

        # the front shows the reference point and the current operating point
        assert driver.find_elements(By.CSS_SELECTOR, "#front-svg rect.ref")
        assert driver.find_elements(By.CSS_SELECTOR, "#front-svg circle.current")
        assert len(driver.find_elements(By.CSS_SELECTOR, "#front-svg circle.pt")) == 5

        png = driver.get_screenshot_as_png()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        target = Path(os.environ.get("LTR_COS_SCREENSHOT", tmp_path / "explorer.png"))
        atomic_write_bytes(target, png)
        assert target.stat().st_size > 10_000
    finally:
        stop_server(proc)
