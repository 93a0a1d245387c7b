"""A real browser for the web pool map's tests (docs/ui.md): Debian's
headless Chromium driven through chromedriver by python3-selenium, and
screenshots decoded with python3-pil into pixel counts per colour.

    with Browser(master.url, tmp_path) as b:      # chromedriver + chromium
        b.sign_in(ADMIN_TOKEN)                    # #token, submit, ready
        counts = b.pixels("map", tmp_path / "map.png")   # {"#e8e8e8": n, ...}
        b.hover_cell(17)                          # the pointer over cell 17
        assert not b.problems()                   # no JS error, no CSP report

The browser runs with a fixed window and a device scale factor of 1 (a CSS
pixel is a screen pixel, so a cell of data-cell-px pixels is that many
pixels in a screenshot), a private profile in a temporary directory, and
every request but those to 127.0.0.1 sent to a dead proxy: it reaches the
master and nothing else. Its console and network events are kept
(goog:loggingPrefs) so that tests can assert that no script failed, no
Content-Security-Policy refused anything and no URL carried the token.

chromedriver starts in its own session; at close, after quitting the
browser, whatever still runs in that session (a renderer, the zygote) or
names the private profile (the crash handler, which leaves the session) is
killed, and close() says if it had to.
"""

import io
import json
import math
import os
import shutil
import signal
import tempfile
import time

from conftest import free_port, require

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WINDOW = (1280, 1000)

try:
    from selenium import webdriver
    from selenium.common.exceptions import (NoAlertPresentException,
                                            WebDriverException)
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    HAVE_SELENIUM = True
except ImportError:
    HAVE_SELENIUM = False
try:
    from PIL import Image
    HAVE_PIL = True
except ImportError:
    HAVE_PIL = False


def missing():
    """What this host lacks to run the browser tests ([] when nothing)."""
    out = [w for ok, w in (
        (os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} (Debian: chromium)"),
        (os.access(CHROMEDRIVER, os.X_OK), f"{CHROMEDRIVER} (Debian: chromium-driver)"),
        (HAVE_SELENIUM, "the selenium module (Debian: python3-selenium)"),
        (HAVE_PIL, "the PIL module (Debian: python3-pil)")) if not ok]
    return out


def require_browser():
    """Skips (fails under CI=true) naming what is missing."""
    miss = missing()
    require(not miss, "the browser tests need " + ", ".join(miss))


def hex_color(rgb):
    return "#%02x%02x%02x" % tuple(rgb[:3])


def png_rgb(png):
    """A PNG screenshot as an RGB image (alpha dropped: the page is opaque)."""
    return Image.open(io.BytesIO(png)).convert("RGB")


def png_counts(png):
    """{"#rrggbb": pixels} of a PNG screenshot."""
    img = png_rgb(png)
    w, h = img.size
    return {hex_color(c): n for n, c in img.getcolors(maxcolors=w * h)}


def session_pids(sid, mark=None):
    """Pids of the live processes whose session id is sid, or whose
    command line holds mark (Chromium's crash handler leaves the session
    with setsid, but names the profile's directory)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmdline = f.read().decode(errors="replace")
        except OSError:
            continue
        # Fields after the command (which may hold spaces and parentheses):
        # state ppid pgrp session ...
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and (int(fields[3]) == sid or (mark and mark in cmdline)):
            out.append(int(d))
    return out


class Browser:
    """Headless Chromium on one master's page."""

    def __init__(self, base_url, workdir, window=WINDOW):
        require_browser()
        self.base = base_url
        self.workdir = str(workdir)
        self.profile = tempfile.mkdtemp(prefix="famfsd-chromium-")
        self.console = []          # every console entry so far
        self.perf = []             # every performance (DevTools) event so far
        self.leaked = []           # pids killed at close that quit() left
        self.driver = None
        # HOME and the XDG directories in the profile too: Chromium keeps
        # some state (the crash handler's database) under ~/.config
        # whatever --user-data-dir says.
        home = {"HOME": self.profile, "XDG_CONFIG_HOME": self.profile,
                "XDG_CACHE_HOME": self.profile}
        self.service = Service(
            executable_path=CHROMEDRIVER, port=free_port(),
            log_path=os.path.join(self.workdir, "chromedriver.log"),
            env={**os.environ, **home}, popen_kw={"start_new_session": True})
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ("--headless=new", f"--window-size={window[0]},{window[1]}",
                  "--force-device-scale-factor=1", f"--user-data-dir={self.profile}",
                  "--no-first-run", "--no-default-browser-check",
                  "--disable-extensions", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-default-apps", "--disable-dev-shm-usage",
                  "--disable-gpu", "--hide-scrollbars", "--mute-audio",
                  "--disable-crash-reporter", "--disable-breakpad",
                  # Nothing but the master: any other host goes to a port
                  # nothing listens on (loopback is never proxied).
                  "--proxy-server=http://127.0.0.1:9",
                  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
            opts.add_argument(a)
        if os.geteuid() == 0:
            opts.add_argument("--no-sandbox")      # Chromium's sandbox refuses root
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL",
                                                  "performance": "ALL"})
        # An alert stays open (and fails the next command) rather than
        # being dismissed unseen: a test can tell one opened.
        opts.set_capability("unhandledPromptBehavior", "ignore")
        try:
            self.driver = webdriver.Chrome(service=self.service, options=opts)
        except Exception:
            self.close()
            raise
        self.driver.set_script_timeout(30)

    # ---- navigation and state ------------------------------------------------

    def open(self, path="/ui/"):
        self.driver.get(self.base + path)

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def state(self):
        return self.js("return document.body ? document.body.dataset.state : null")

    def wait(self, predicate, timeout, what):
        """Polls predicate() until it is true; fails naming what and the
        page's state and console when it is not within timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"browser: {what} not within {timeout}s (state "
                    f"{self.state()!r}; console {self.logs()[-5:]})")
            time.sleep(0.02)

    def wait_state(self, want, timeout=15):
        def check():
            s = self.state()
            assert s != "error" or want == "error", \
                f"the page went to error: {self.text('body')[:500]!r}"
            return s == want
        self.wait(check, timeout, f"body[data-state={want}]")

    def sign_in(self, token, timeout=15, expect="ready"):
        """Types token into #token and submits the form; waits for
        body[data-state=expect] (ready: every panel of the role drawn)."""
        if self.state() is None or not self.driver.current_url.startswith(self.base):
            self.open()
        self.wait_state("signin", timeout)
        field = self.driver.find_element(By.ID, "token")
        field.clear()
        field.send_keys(token)
        field.send_keys(Keys.ENTER)
        self.wait_state(expect, timeout)

    def sign_out(self):
        self.driver.find_element(By.ID, "signout").click()
        self.wait_state("signin")

    # ---- the DOM -------------------------------------------------------------

    def el(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def els(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self, css):
        """textContent (not innerText: hidden or styled text counts too)."""
        return self.js("var e = document.querySelector(arguments[0]);"
                       "return e ? e.textContent : null", css)

    def data(self, css):
        """The element's data-* attributes as a dict (None: no element)."""
        return self.js("var e = document.querySelector(arguments[0]);"
                       "return e ? Object.assign({}, e.dataset) : null", css)

    def map_attrs(self):
        """#map's data-* as integers (seq, cells, cell_units, cols, cell_px,
        draw_ms as a float)."""
        d = self.data("#map") or {}
        out = {}
        for k, v in d.items():
            key = "".join("_" + c.lower() if c.isupper() else c for c in k)
            try:
                out[key] = float(v) if key == "draw_ms" else int(v)
            except ValueError:
                out[key] = v
        return out

    def wait_map_seq(self, seq, timeout=15):
        """Waits until #map[data-seq] >= seq; returns map_attrs()."""
        def check():
            a = self.map_attrs()
            return a if a.get("seq", -1) >= seq else None
        return self.wait(check, timeout, f"#map[data-seq] >= {seq}")

    def legend(self):
        """#legend's items: [{"kind", "tenant", "color", "units"}]."""
        return self.js("""
            return Array.from(document.querySelectorAll('#legend li')).map(
                function (li) { return {kind: li.dataset.kind,
                    tenant: li.dataset.tenant === undefined ? null : li.dataset.tenant,
                    color: li.dataset.color, units: li.dataset.units}; });""")

    # ---- pixels --------------------------------------------------------------

    def screenshot(self, css, path=None):
        """The element's PNG (its border box), saved at path when given."""
        png = self.el(css).screenshot_as_png
        if path:
            with open(path, "wb") as f:
                f.write(png)
        return png

    def pixels(self, css, path=None):
        """{"#rrggbb": pixels} of the element's screenshot."""
        return png_counts(self.screenshot(css, path))

    def cell_offset(self, cell, attrs=None):
        """(x, y) of the centre of map cell `cell` relative to the canvas's
        content box, in CSS pixels (data-cols cells a row, data-cell-px
        each); attrs: map_attrs() when the caller has them."""
        a = attrs or self.map_attrs()
        cols, px = a["cols"], a["cell_px"]
        return (cell % cols) * px + px // 2, (cell // cols) * px + px // 2

    def hover_cell(self, cell):
        """Moves the pointer over map cell `cell`, to a whole viewport pixel
        inside it (a pointer moves in whole pixels, while the canvas may
        sit at a fractional position: with 1-pixel cells an offset from
        its rounded centre can land in the next row)."""
        canvas = self.el("#map")
        left, top = self.js("""var e = arguments[0];
            e.scrollIntoView({block: 'nearest', inline: 'nearest'});
            var r = e.getBoundingClientRect(), s = getComputedStyle(e);
            return [r.left + e.clientLeft + parseFloat(s.paddingLeft),
                    r.top + e.clientTop + parseFloat(s.paddingTop)];""", canvas)
        a = self.map_attrs()
        px = a["cell_px"]
        x0 = left + (cell % a["cols"]) * px
        y0 = top + (cell // a["cols"]) * px
        # ceil(start + (px - 1) / 2) is at or past the start and short of
        # start + px for any px >= 1.
        x, y = math.ceil(x0 + (px - 1) / 2), math.ceil(y0 + (px - 1) / 2)
        chain = ActionChains(self.driver, duration=0)
        chain.w3c_actions.pointer_action.move_to_location(x, y)
        chain.perform()

    # ---- what the browser did ------------------------------------------------

    def logs(self):
        """Every console entry so far (chromedriver hands each out once)."""
        self.console += self.driver.get_log("browser")
        return self.console

    def problems(self, allow=()):
        """Console entries that are errors: a failed script, a refused CSP
        directive, a failed load; but those whose message holds one of the
        strings in allow (a 401 a test caused on purpose)."""
        return [e for e in self.logs()
                if (e.get("level") == "SEVERE"
                    or "Content Security Policy" in e.get("message", "")
                    or "Refused to" in e.get("message", ""))
                and not any(a in e.get("message", "") for a in allow)]

    def network(self):
        """Every DevTools network and page event so far, as dicts of
        "method" and "params"."""
        for e in self.driver.get_log("performance"):
            self.perf.append(json.loads(e["message"])["message"])
        return self.perf

    def urls(self):
        """Every URL the browser requested or navigated to so far."""
        out = [self.driver.current_url]
        for m in self.network():
            p = m.get("params", {})
            if m.get("method") == "Network.requestWillBeSent":
                out.append(p["request"]["url"])
                if "redirectResponse" in p:
                    out.append(p["redirectResponse"].get("url", ""))
            elif m.get("method") == "Page.frameNavigated":
                out.append(p["frame"].get("url", ""))
            elif m.get("method") == "Network.responseReceived":
                out.append(p["response"].get("url", ""))
        return out

    def alert_open(self):
        try:
            self.driver.switch_to.alert.text
            return True
        except NoAlertPresentException:
            return False

    # ---- shutdown ------------------------------------------------------------

    def close(self):
        """Quits the browser and chromedriver, then kills whatever of
        chromedriver's session is left; returns the pids it had to kill."""
        proc = getattr(self.service, "process", None)
        if self.driver is not None:
            try:
                self.driver.quit()
            except WebDriverException:
                pass
            self.driver = None
        else:
            try:
                self.service.stop()
            except Exception:     # noqa: BLE001 (half-started: kill below)
                pass
        if proc is not None:
            deadline = time.monotonic() + 5
            while session_pids(proc.pid, self.profile) and time.monotonic() < deadline:
                time.sleep(0.05)
            self.leaked = session_pids(proc.pid, self.profile)
            for pid in self.leaked:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
        shutil.rmtree(self.profile, ignore_errors=True)
        return self.leaked

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
