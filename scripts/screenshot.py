"""The screenshot of `matdiff serve` in docs/web.png (shown in the README).

    python scripts/screenshot.py [--out docs/web.png] [--size 1440x900] [--expr TEXT]

Starts the page's server on a free loopback port, opens the page in headless Chromium (Debian's
/usr/bin/chromium and /usr/bin/chromedriver, driven by Selenium: nothing is downloaded), types
Tutorial 12's formula key by key, waits for the result, its check and its graph, and saves the
window. Needs the web extra and selenium (`pip install ".[web]" selenium`).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TUTORIAL_12 = "c^T Psi((W + V) Phi(W x + b))"


def browser(width: int, height: int, profile: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    # the page's own area at exactly that size (the window's size would include the browser's frame)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    return driver


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "web.png"))
    ap.add_argument("--size", default="1440x900", help="the window, WIDTHxHEIGHT (a laptop screen)")
    ap.add_argument("--expr", default=TUTORIAL_12)
    args = ap.parse_args(argv)
    width, height = (int(n) for n in args.size.split("x"))

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from matdiff.web.server import ServerThread

    with ServerThread() as url, tempfile.TemporaryDirectory() as profile:
        base = url.rstrip("/")
        driver = browser(width, height, profile)
        try:
            driver.get(base + "/")
            box = driver.find_element(By.ID, "expr")
            for ch in args.expr:
                box.send_keys(ch)
            WebDriverWait(driver, 30).until(lambda d: d.execute_script(
                "const s = window.matdiffPage.state;"
                "return s.last && s.lastBody.expr === arguments[0] && s.last.result !== null"
                " && !document.querySelector('#check').hidden"
                " && (!s.last.graph || !!document.querySelector('#graph svg'));", args.expr))
            driver.execute_script("document.activeElement.blur(); window.scrollTo(0, 0);")
            # the node differentiated with respect to, clicked: its value and adjoint in the panel beside
            wrt = driver.find_elements(By.CSS_SELECTOR, "#graph svg .node.wrt")
            if wrt:
                wrt[0].click()
            # let the fonts settle
            WebDriverWait(driver, 10).until(lambda d: d.execute_script("return document.fonts.status === 'loaded'"))
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(args.out)
        finally:
            driver.quit()
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
