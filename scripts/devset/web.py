"""Web screens: a page rendered by Chromium (headless, through ChromeDriver), captured, with
ground truth from the DOM: the browser's own geometry × devicePixelRatio."""
import base64
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TRUTH_JS = open(os.path.join(HERE, "web_truth.js")).read()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Driver:
    """A minimal WebDriver client over ChromeDriver."""

    def __init__(self, width, height, scale, dark):
        self.port = free_port()
        self.proc = subprocess.Popen(["chromedriver", f"--port={self.port}"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        self.profile = tempfile.mkdtemp(prefix="markpilot-devset-chromium-")
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--hide-scrollbars=false", f"--window-size={width},{height}",
                f"--force-device-scale-factor={scale}", f"--user-data-dir={self.profile}", "--lang=en-US",
                "--font-render-hinting=none"]
        if dark:
            args += ["--force-dark-mode", "--enable-features=WebContentsForceDark"]
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": "/usr/bin/chromium", "args": args}}}}
        end = time.time() + 30
        while True:
            try:
                r = self.call("POST", "/session", caps)
                break
            except OSError:
                if time.time() > end:
                    raise
                time.sleep(0.3)
        self.sid = r["value"]["sessionId"]

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as resp:
            return json.loads(resp.read())

    def s(self, method, path, body=None):
        return self.call(method, f"/session/{self.sid}{path}", body)["value"]

    def go(self, url):
        self.s("POST", "/url", {"url": url})

    def js(self, script, *args):
        return self.s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def screenshot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.s("GET", "/screenshot")))

    def set_viewport(self, width, height):
        """Resize the window so the page's viewport is width×height CSS pixels."""
        for _ in range(3):
            iw, ih = self.js("return [window.innerWidth, window.innerHeight]")
            if (iw, ih) == (width, height):
                return
            r = self.s("GET", "/window/rect")
            self.s("POST", "/window/rect", {"width": r["width"] + width - iw, "height": r["height"] + height - ih})

    def close(self):
        try:
            self.call("DELETE", f"/session/{self.sid}")
        except Exception:
            pass
        try:
            os.killpg(self.proc.pid, 15)
        except Exception:
            pass
        self.proc.wait(timeout=10)
        shutil.rmtree(self.profile, ignore_errors=True)


class Web:
    """One screen of a web page. `url`: file:// or a callable building the page and
    returning its URL; `js`: run before the capture (open a menu, scroll, set a theme);
    `site`: the 'app' of the screen (the site or kit)."""

    source = "web"
    toolkit = "web"

    def __init__(self, name, site, url, size=(1280, 800), scale=1, dark=False, js=None, wait=0.8):
        self.name, self.app, self.url = name, site, url
        self.size, self.scale, self.dark, self.js, self.wait = size, scale, dark, js, wait

    def take(self, png):
        d = Driver(*self.size, self.scale, self.dark)
        try:
            d.set_viewport(*self.size)
            url = self.url() if callable(self.url) else self.url
            if url.startswith("file://") and not os.path.exists(url[len("file://"):].split("#")[0]):
                raise RuntimeError(f"no such page: {url}")
            d.go(url)
            end = time.time() + 20
            while d.js("return document.readyState") != "complete" and time.time() < end:
                time.sleep(0.2)
            d.js("return document.fonts ? document.fonts.ready.then(() => true) : true")
            if self.js:
                d.js(self.js)
            time.sleep(self.wait)
            # The page's own animations (transitions, carets) settle before the capture.
            d.js("document.getAnimations && document.getAnimations().forEach(a => a.finish && a.finish())")
            time.sleep(0.2)
            truth = d.js(TRUTH_JS)
            d.screenshot(png)
        finally:
            d.close()
        w, h = png_size(png)
        elements = [e for e in truth["elements"]]
        texts = truth["texts"]
        image = {"width": w, "height": h, "source": "web", "app": self.app, "toolkit": "web",
                 "theme": "dark" if self.dark else "light", "scale": self.scale}
        return image, elements, texts


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


# Pages built from Bootstrap's examples (libjs-bootstrap5-doc): Hugo front matter and
# shortcodes turned into plain HTML with the Debian copy of Bootstrap.
BOOTSTRAP_EXAMPLES = "/usr/share/doc/libjs-bootstrap5/examples"
BOOTSTRAP_CSS = "/usr/share/javascript/bootstrap5/css/bootstrap.min.css"
BOOTSTRAP_JS = "/usr/share/javascript/bootstrap5/js/bootstrap.bundle.min.js"
BUILD = os.path.join(tempfile.gettempdir(), "markpilot-devset-pages")


def placeholder(m):
    attrs = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
    w, h = attrs.get("width", "100%"), attrs.get("height", "180")
    bg, fg = attrs.get("background", "#868e96"), attrs.get("color", "#dee2e6")
    text = attrs.get("text", f"{w}x{h}")
    label = "" if text == "false" else f'<text x="50%" y="50%" fill="{fg}" dy=".3em">{text}</text>'
    return (f'<svg class="bd-placeholder-img {attrs.get("class", "")}" width="{w}" height="{h}" '
            f'xmlns="http://www.w3.org/2000/svg" role="img" preserveAspectRatio="xMidYMid slice" focusable="false">'
            f'<title>Placeholder</title><rect width="100%" height="100%" fill="{bg}"/>{label}</svg>')


def bootstrap(example):
    def build():
        src = os.path.join(BOOTSTRAP_EXAMPLES, example)
        out = os.path.join(BUILD, "bootstrap", example)
        os.makedirs(out, exist_ok=True)
        for f in os.listdir(src):
            if f != "index.html":
                shutil.copy(os.path.join(src, f), out)
        shutil.copy(BOOTSTRAP_CSS, os.path.join(BUILD, "bootstrap", "bootstrap.min.css"))
        shutil.copy(BOOTSTRAP_JS, os.path.join(BUILD, "bootstrap", "bootstrap.bundle.min.js"))
        text = open(os.path.join(src, "index.html")).read()
        front, body = "", text
        if text.startswith("---"):
            _, front, body = text.split("---", 2)
        title = re.search(r"^title:\s*(.*)$", front, re.M)
        body_class = re.search(r'^body_class:\s*"(.*)"$', front, re.M)
        css = re.findall(r'^\s+- "([^"]+\.css)"', front, re.M)
        js = [j for j in re.findall(r'src:\s*"([^"]+)"', front) if not j.startswith("http")]
        body = re.sub(r"{{<\s*placeholder(.*?)>}}", placeholder, body)
        body = re.sub(r"{{<\s*year\s*>}}", "2026", body)
        body = re.sub(r"{{<\s*param docs_version\s*>}}", "5.2", body)
        body = re.sub(r'{{<\s*docsref\s+"[^"]*"\s*>}}', "#", body)
        body = re.sub(r"{{<.*?>}}", "", body)
        head = "".join(f'<link href="{c}" rel="stylesheet">' for c in css)
        scripts = "".join(f'<script src="{j}"></script>' for j in js)
        html = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f'<title>{title.group(1) if title else example}</title>'
                f'<link href="../bootstrap.min.css" rel="stylesheet">'
                f'<style>.bd-placeholder-img{{font-size:1.125rem;text-anchor:middle;user-select:none}}'
                f'@media (min-width:768px){{.bd-placeholder-img-lg{{font-size:3.5rem}}}}</style>{head}</head>'
                f'<body class="{body_class.group(1) if body_class else ""}">{body}'
                f'<script src="../bootstrap.bundle.min.js"></script>{scripts}</body></html>')
        with open(os.path.join(out, "index.html"), "w") as f:
            f.write(html)
        return "file://" + os.path.join(out, "index.html")
    return build
