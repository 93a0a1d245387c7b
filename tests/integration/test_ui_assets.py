"""The web page's files as a real master serves them (docs/ui.md, "The
page"): / is a 302 and /ui a 308 to /ui/; /ui/, /ui/app.js and /ui/style.css are the
bytes of ui/ (embedded in famfsd at build time: the binary holds them),
with their content types and the security headers on every reply under
/ui (errors too); no token is needed and a bad one changes nothing; other
names are 404, other methods 405; HEAD and an ETag revalidation work; a
standby sends the page to the active master. index.html carries no inline
script or style and no event-handler attributes, so the CSP can forbid
them."""

import html.parser
import json
import os
import re
import time

import pytest

from conftest import (ADMIN_TOKEN, FAMFSD, ROOT, free_port, raw_request)

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; "
       "img-src 'self'; connect-src 'self'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
SECURITY = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
ASSETS = {
    "/ui/": ("index.html", "text/html; charset=utf-8"),
    "/ui/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/ui/style.css": ("style.css", "text/css; charset=utf-8"),
    "/ui/favicon.svg": ("favicon.svg", "image/svg+xml"),
}
BAD_TOKEN = "not-a-token-of-this-master"


def ui_file(name):
    with open(os.path.join(ROOT, "ui", name), "rb") as f:
        return f.read()


def header(headers, name):
    """A header's value, its name in any case (http.client keeps the
    server's spelling); None when absent."""
    for k, v in headers.items():
        if k.lower() == name.lower():
            return v
    return None


def assert_security(path, headers):
    for name, value in SECURITY.items():
        assert header(headers, name) == value, (path, name, headers)


def test_assets_are_the_files_of_ui(master):
    for path, (name, ctype) in ASSETS.items():
        for token in (None, BAD_TOKEN, ADMIN_TOKEN):
            status, headers, body = raw_request(master.url, "GET", path,
                                                token=token)
            assert status == 200, (path, token, status, body[:200])
            assert header(headers, "Content-Type") == ctype, (path, headers)
            assert_security(path, headers)
            assert body == ui_file(name), (path, len(body))
        # A query string names the same file.
        status, _, body = raw_request(master.url, "GET", path + "?x=1")
        assert status == 200 and body == ui_file(name), path


def test_embedded_in_the_binary(master):
    """What is served comes from famfsd itself, not from the tree at run
    time: each file's bytes are in the binary."""
    with open(FAMFSD, "rb") as f:
        binary = f.read()
    for name in ("index.html", "app.js", "style.css", "favicon.svg"):
        data = ui_file(name)
        assert len(data) > 100, name
        assert data in binary, f"{name} is not embedded in {FAMFSD} (rebuild?)"


def test_head_has_headers_only(master):
    for path, (name, ctype) in ASSETS.items():
        status, headers, body = raw_request(master.url, "HEAD", path)
        assert status == 200, (path, status)
        assert body == b"", path
        assert header(headers, "Content-Type") == ctype, path
        assert int(header(headers, "Content-Length")) == len(ui_file(name)), path
        assert_security(path, headers)


def test_ui_without_slash_is_308(master):
    for method in ("GET", "HEAD"):
        status, headers, body = raw_request(master.url, method, "/ui")
        assert status == 308, (method, status)
        assert header(headers, "Location") == "/ui/", headers
        assert_security("/ui", headers)
    status, headers, _ = raw_request(master.url, "GET", "/ui?a=b")
    assert status == 308 and header(headers, "Location") == "/ui/"


def test_root_is_a_302_to_the_page(master):
    for method in ("GET", "HEAD"):
        for token in (None, BAD_TOKEN):
            status, headers, _ = raw_request(master.url, method, "/",
                                             token=token)
            assert status == 302, (method, token, status)
            assert header(headers, "Location") == "/ui/", headers
    status, headers, _ = raw_request(master.url, "POST", "/")
    assert status == 405 and header(headers, "Allow") == "GET, HEAD"


@pytest.mark.parametrize("path", [
    "/ui/index.html", "/ui/nope.js", "/ui/app.js/", "/ui/app.js/x",
    "/ui//app.js", "/ui/../ui/app.js", "/ui/%61pp.js", "/ui/APP.JS",
    "/ui/style.css.map",
])
def test_other_names_are_404(master, path):
    status, headers, body = raw_request(master.url, "GET", path)
    assert status == 404, (path, status, body[:200])
    assert header(headers, "Content-Type") == "application/problem+json"
    assert b'"not-found"' in body or b"/not-found" in body, body
    assert_security(path, headers)


def test_a_near_name_is_not_the_page(master):
    """/uix and /ui.html are no page paths: plain 404, no page headers."""
    for path in ("/uix", "/ui.html"):
        status, headers, _ = raw_request(master.url, "GET", path)
        assert status == 404, path
        assert header(headers, "Content-Security-Policy") is None, path


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_are_405(master, method):
    for path in ("/ui", "/ui/", "/ui/app.js", "/ui/style.css", "/ui/nope"):
        status, headers, body = raw_request(master.url, method, path,
                                            body=b"token=x")
        assert status == 405, (method, path, status)
        assert header(headers, "Allow") == "GET, HEAD", headers
        assert_security(path, headers)


def test_etag_revalidation(master):
    tags = set()
    for path in ASSETS:
        status, headers, _ = raw_request(master.url, "GET", path)
        etag = header(headers, "ETag")
        assert status == 200 and etag and re.fullmatch(r'"[0-9a-f]{16}"', etag)
        tags.add(etag)
        status, headers, body = raw_request(master.url, "GET", path,
                                            headers={"If-None-Match": etag})
        assert status == 304 and body == b"", (path, status)
        assert header(headers, "ETag") == etag
        assert_security(path, headers)
        status, _, body = raw_request(master.url, "GET", path,
                                      headers={"If-None-Match": '"0"'})
        assert status == 200 and body, path
    assert len(tags) == len(ASSETS), "each file has its own ETag"


class PageChecker(html.parser.HTMLParser):
    """What index.html must not hold for the CSP to forbid inline code."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems = []
        self.scripts = []       # src of each <script>
        self.ids = {}           # id -> (tag, attrs)
        self.stack = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.stack.append(tag)
        for name, _ in attrs:
            if name.lower().startswith("on"):
                self.problems.append(f"<{tag} {name}=...>: an inline handler")
            if name.lower() == "style":
                self.problems.append(f"<{tag} style=...>: an inline style")
        for name in ("src", "href", "action"):
            v = a.get(name)
            if v is not None and (re.match(r"^[a-z][a-z0-9+.-]*:", v, re.I)
                                  or v.startswith("//")):
                self.problems.append(f"<{tag} {name}={v!r}>: not same-origin")
        if tag == "style":
            self.problems.append("<style>: an inline style sheet")
        if tag == "script":
            if not a.get("src"):
                self.problems.append("<script> without src")
            self.scripts.append(a.get("src"))
        if "id" in a:
            self.ids[a["id"]] = (tag, a)

    def handle_endtag(self, tag):
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()

    def handle_data(self, data):
        if self.stack and self.stack[-1] == "script" and data.strip():
            self.problems.append("<script> with content")


def test_index_has_no_inline_code(master):
    status, _, body = raw_request(master.url, "GET", "/ui/")
    assert status == 200
    p = PageChecker()
    p.feed(body.decode("utf-8"))
    p.close()
    assert p.problems == []
    assert p.scripts == ["app.js"], p.scripts
    # The sign-in form posts (never a GET that would put the token in a
    # URL) and the token is a password field.
    form = p.ids.get("signin")
    assert form and form[0] == "form" and form[1].get("method", "").lower() == "post"
    tok = p.ids.get("token")
    assert tok and tok[0] == "input" and tok[1].get("type") == "password"
    canvas = p.ids.get("map")
    assert canvas and canvas[0] == "canvas"
    for needed in ("signin-error", "signout", "who", "legend", "unit-info",
                   "log", "log-fill", "log-generation", "tenants", "agents",
                   "live", "tree", "stat", "stat-path", "extents"):
        assert needed in p.ids, f"#{needed} missing from index.html"


def test_checker_sees_inline_code():
    """The checker above fails on what it looks for."""
    for bad in ('<script>alert(1)</script>', '<p onclick="x()">',
                '<div style="color:red">', '<style>p{}</style>',
                '<script src="https://cdn.example/x.js"></script>',
                '<link href="//cdn.example/x.css">'):
        p = PageChecker()
        p.feed(bad)
        p.close()
        assert p.problems, bad


def test_script_builds_no_html_from_strings():
    """Names reach the page as text only: the script never parses HTML or
    code from strings, and calls nothing off the origin."""
    js = ui_file("app.js").decode("utf-8")
    for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML",
                   "document.write", "eval(", "new Function", "setTimeout(\"",
                   "://", "localStorage", "document.cookie"):
        assert banned not in js, banned
    assert "sessionStorage" in js
    assert "encodeURIComponent" in js


def wait_until(what, fn, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.02)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def active_slot(m):
    status, _, body = raw_request(m.url, "GET", "/v1/masters",
                                  token=ADMIN_TOKEN)
    if status != 200:
        return None
    return json.loads(body)


def test_standby_sends_the_page_to_the_active_master(pool, master_factory):
    """Loaded from a standby, the page's API calls would go to another
    origin, which its CSP forbids: the page itself is redirected."""
    p1, p2 = free_port(), free_port()

    def args(slot, port):
        return ["--slot", str(slot), "--lease-seconds", "2",
                "--advertise", f"http://127.0.0.1:{port}"]

    m1 = master_factory(pool, args=args(1, p1), port=p1)
    wait_until("slot 1 active",
               lambda: (active_slot(m1) or {}).get("active") == 1)
    m2 = master_factory(pool, args=args(2, p2), port=p2)
    wait_until("slot 2 a standby", lambda: any(
        s["slot"] == 2 and s["state"] == "standby"
        for s in (active_slot(m1) or {}).get("masters", [])))
    for path in ("/ui/", "/ui/app.js", "/ui"):
        status, headers, _ = raw_request(m2.url, "GET", path)
        assert status == 307, (path, status)
        assert header(headers, "Location") == m1.url + path, headers
    # The active master serves it.
    status, _, body = raw_request(m1.url, "GET", "/ui/")
    assert status == 200 and body == ui_file("index.html")
