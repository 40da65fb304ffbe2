"""Desktop screens: an application started in a private X session, brought to a state by a
few steps, captured, and its accessibility tree turned into ground truth."""
import json
import os
import shutil
import subprocess
import time

import truth
from session import HERE, Session

# Qt takes its style, palette and icons from a platform theme, as on a desktop: qt5ct /
# qt6ct with Breeze icons (without one, Qt draws toolbar buttons with no icon at all).
QTCT = """[Appearance]
style=Fusion
icon_theme={icons}
custom_palette={dark}
color_scheme_path=/usr/share/{tool}/colors/darker.conf
"""


def theme_env(toolkit, dark, scale, home):
    env = {}
    if toolkit in ("gtk3", "gtk4"):
        env["GTK_THEME"] = "Adwaita:dark" if dark else "Adwaita"
        if dark:
            env["ADW_DEBUG_COLOR_SCHEME"] = "prefer-dark"
        if scale != 1:
            env["GDK_SCALE"] = str(scale)
    elif toolkit in ("qt5", "qt6"):
        tool = "qt5ct" if toolkit == "qt5" else "qt6ct"
        os.makedirs(os.path.join(home, "config", tool), exist_ok=True)
        with open(os.path.join(home, "config", tool, f"{tool}.conf"), "w") as f:
            f.write(QTCT.format(icons="breeze-dark" if dark else "breeze", dark="true" if dark else "false", tool=tool))
        env["QT_QPA_PLATFORMTHEME"] = tool
        # Qt 6 scales by the screen's DPI (Xft.dpi) by itself; Qt 5 is told.
        if scale != 1 and toolkit == "qt5":
            env["QT_SCALE_FACTOR"] = str(scale)
    return env


class Desktop:
    """One screen of a desktop application.

    steps: ("sleep", s) | ("key", "ctrl+o") | ("type", text) | ("click", x, y) (window
    pixels) | ("activate", role, name) (AT-SPI action) | ("sh", command) (in the session's
    home) | ("resize", w, h) (the newest window).
    """

    def __init__(self, name, app, toolkit, cmd, atspi=None, size=(1280, 800), maximize=True, dark=False, scale=1,
                 steps=(), title=None, env=None, settle=2.0, setup=None):
        self.name, self.app, self.toolkit, self.cmd = name, app, toolkit, cmd
        self.source = {"gtk3": "gtk", "gtk4": "gtk4", "qt5": "qt", "qt6": "qt"}.get(toolkit, toolkit)
        self.atspi = atspi or app
        self.size, self.maximize, self.dark, self.scale = size, maximize, dark, scale
        self.steps, self.title, self.env, self.settle, self.setup = steps, title, env or {}, settle, setup

    def take(self, png):
        w, h = self.size[0] * self.scale, self.size[1] * self.scale
        s = Session(w, h, maximize=self.maximize, dpi=96 * self.scale)
        # GTK 4.8 sets "showing" on windows only; "visible" is what it keeps right.
        s.walk_visible = self.toolkit == "gtk4"
        try:
            fixtures = os.path.join(s.home, "work")
            os.makedirs(fixtures, exist_ok=True)
            make_fixtures(fixtures)
            if self.setup:
                subprocess.run(self.setup, shell=True, cwd=fixtures, env=s.env(), check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            s.xdo("mousemove", w - 1, h - 1)
            env = theme_env(self.toolkit, self.dark, self.scale, s.home)
            env.update({k: v.replace("{work}", fixtures) for k, v in self.env.items()})
            cmd = [c.replace("{work}", fixtures).replace("{home}", s.home) for c in self.cmd]
            proc = s.spawn(cmd, env, cwd=fixtures)
            win = s.window(self.title, timeout=60)
            if self.maximize and (win["width"], win["height"]) != (w, h):
                # Client-side decorated windows (GTK 4) ignore the window manager's rule.
                s.xdo("windowmove", win["id"], 0, 0)
                s.xdo("windowsize", win["id"], w, h)
                time.sleep(0.5)
            time.sleep(self.settle)
            for step in self.steps:
                run_step(s, step, win, fixtures)
            s.xdo("mousemove", w - 1, h - 1)
            time.sleep(0.5)
            s.wait_still()
            elements, texts, crop = self.ground_truth(s, proc, png, w, h)
            if not elements:
                raise RuntimeError("no interactive elements in the tree")
            image = {"width": crop[2], "height": crop[3], "source": self.source, "app": self.app,
                     "toolkit": self.toolkit, "theme": "dark" if self.dark else "light", "scale": self.scale}
            return image, elements, texts
        finally:
            s.close()

    def capture(self, s, png, w, h):
        """Capture the screen into `png` (the window only when not maximised): the crop."""
        full = os.path.join(s.home, "full.png")
        s.capture(full)
        if self.maximize:
            shutil.copy(full, png)
            return (0, 0, w, h)
        win = s.window(self.title)
        crop = (win["x"], win["y"], win["width"], win["height"])
        subprocess.run(["convert", full, "-crop", f"{crop[2]}x{crop[3]}+{crop[0]}+{crop[1]}", "+repage", png],
                       check=True)
        return crop

    def ground_truth(self, s, proc, png, w, h):
        """The accessibility tree, once settled, then the capture: (elements, texts, crop)."""
        tree = s.settled_atspi(self.atspi, proc.pid)
        # Toolkits give extents in logical pixels (× scale for the screen's); GTK 4.8
        # gives them relative to the window whatever was asked.
        origin = (0, 0)
        if s.walk_visible:
            win = s.window(self.title)
            origin = (win["x"], win["y"])
        for a in tree["apps"]:
            for n in a["nodes"]:
                if n["w"] > 0 and n["x"] > -100000:
                    n["x"] = origin[0] + n["x"] * self.scale
                    n["y"] = origin[1] + n["y"] * self.scale
                    n["w"] *= self.scale
                    n["h"] *= self.scale
        if os.environ.get("DEVSET_TREES"):
            with open(os.path.join(os.environ["DEVSET_TREES"], self.name + ".json"), "w") as f:
                json.dump(tree, f)
        s.wait_still()
        crop = self.capture(s, png, w, h)
        elements, texts = truth.convert(tree, self.atspi, crop, pid=proc.pid,
                                        showing_state="visible" if s.walk_visible else "showing",
                                        window=None if self.maximize else self.title,
                                        drawn=lambda box: drawn(png, box))
        return elements, texts, crop


def drawn(png, box):
    """Whether anything is drawn in the image box (x, y, w, h): its pixels are not all one
    colour (ImageMagick's standard deviation)."""
    x, y, w, h = box
    out = subprocess.run(["convert", png, "-crop", f"{w}x{h}+{x}+{y}", "+repage", "-format",
                          "%[fx:standard_deviation]", "info:"], check=True, capture_output=True, text=True)
    return float(out.stdout.strip() or 0) > 0.01


def run_step(s, step, win, fixtures):
    kind = step[0]
    if kind == "sleep":
        time.sleep(step[1])
    elif kind == "key":
        s.xdo("key", "--clearmodifiers", step[1])
        time.sleep(0.4)
    elif kind == "type":
        s.xdo("type", "--delay", "20", step[1])
        time.sleep(0.3)
    elif kind == "click":
        s.xdo("mousemove", win["x"] + step[1], win["y"] + step[2])
        time.sleep(0.2)
        s.xdo("click", "1")
        time.sleep(0.5)
    elif kind == "activate":
        subprocess.run(["/usr/bin/python3", os.path.join(HERE, "atspi_tree.py"), "--activate", step[1], step[2],
                        step[3]], env=s.env(), check=True, timeout=60)
        time.sleep(0.6)
    elif kind == "sh":
        subprocess.run(step[1], shell=True, cwd=fixtures, env=s.env(), check=False)
        time.sleep(0.3)
    elif kind == "resize":
        cur = s.window()
        s.xdo("windowsize", cur["id"], step[1], step[2])
        time.sleep(0.5)
    else:
        raise ValueError(f"unknown step {step!r}")


SAMPLE_CODE = os.path.join(os.path.dirname(os.__file__), "textwrap.py")


def make_fixtures(d):
    """Files the applications open: source code, a folder of documents, a table."""
    with open(os.path.join(d, "notes.txt"), "w") as f:
        f.write("Meeting notes, 1 December\n\n"
                "- Ship the release candidate on Friday; freeze strings on Wednesday.\n"
                "- Perception: one mark per row in dense lists; links inside text get their own mark.\n"
                "- Replay: re-find targets by role and name when the tree is there.\n\n"
                "Action items\n  1. Kim: write the release notes (draft by Thursday).\n"
                "  2. Lee: check the Korean translations of the settings page.\n"
                "  3. Park: measure step time on the 2-core machine.\n")
    src = SAMPLE_CODE if os.path.exists(SAMPLE_CODE) else "/usr/lib/python3.11/textwrap.py"
    shutil.copy(src, os.path.join(d, "textwrap.py"))
    docs = os.path.join(d, "Documents")
    os.makedirs(docs, exist_ok=True)
    names = ["Budget 2026.ods", "Invoice-0042.pdf", "photo-berlin.jpg", "report-final.docx", "README.md",
             "meeting-notes.txt", "archive.tar.gz", "slides.odp", "todo.txt", "contacts.csv", "scan-001.png",
             "scan-002.png", "letter.odt", "backup.zip", "recipes.md", "travel-plan.txt", "song.ogg", "video.webm",
             "script.sh", "config.toml", "data.json", "notes-korean.txt", "Projects", "Photos", "Music"]
    for i, n in enumerate(names):
        p = os.path.join(docs, n)
        if "." not in n:
            os.makedirs(p, exist_ok=True)
        else:
            with open(p, "w") as f:
                f.write("x" * (37 * (i + 1) ** 2))
    with open(os.path.join(d, "contacts.csv"), "w") as f:
        f.write("Name,City,Phone,Email,Balance\n")
        people = [("Ada Kim", "Seoul"), ("Ben Lee", "Busan"), ("Cleo Park", "Berlin"), ("Dan Choi", "Lyon"),
                  ("Eva Jung", "Oslo"), ("Finn Kang", "Porto"), ("Gil Yoon", "Austin"), ("Hana Lim", "Daegu"),
                  ("Ivan Song", "Prague"), ("Jin Han", "Quebec"), ("Kai Seo", "Riga"), ("Lia Moon", "Turin"),
                  ("Max Shin", "Utrecht"), ("Nia Oh", "Vienna"), ("Oli Baek", "Warsaw"), ("Pia Ryu", "Zagreb")]
        for i, (n, c) in enumerate(people):
            f.write(f"{n},{c},+82 10-{1000 + 37 * i}-{2000 + 91 * i},{n.split()[0].lower()}@example.org,"
                    f"{(i * 7919) % 5000 / 7:.2f}\n")


class TkApp(Desktop):
    """A Tk application: Tk 8.6 publishes no accessibility tree, so the truth comes from Tk's
    own widget geometry (tk_truth.tcl, loaded into the application: `wish` scripts through
    tk_wish.tcl, tkinter programs through tk_python.py)."""

    def __init__(self, name, app, cmd, tk_eval=None, **kw):
        super().__init__(name, app, "tk", cmd, **kw)
        self.tk_eval = tk_eval

    def take(self, png):
        self.env = dict(self.env, MARKPILOT_TK_OUT="{work}/.tk-truth.json", MARKPILOT_TK_TRIGGER="{work}/.tk-trigger")
        if self.tk_eval:
            self.env["MARKPILOT_TK_EVAL"] = self.tk_eval
        return super().take(png)

    def ground_truth(self, s, proc, png, w, h):
        out = os.path.join(s.home, "work", ".tk-truth.json")
        trigger = os.path.join(s.home, "work", ".tk-trigger")
        last = None
        for _ in range(6):
            if os.path.exists(out):
                os.remove(out)
            open(trigger, "w").close()
            s.wait(lambda: os.path.exists(out), 30, "the Tk truth")
            with open(out) as f:
                tk = json.load(f)
            if "error" in tk:
                raise RuntimeError(f"Tk truth failed: {tk['error']}")
            if tk == last:
                break
            last = tk
            time.sleep(0.5)
        crop = self.capture(s, png, w, h)
        elements, texts = tk_convert(tk, crop, self.title)
        return elements, texts, crop


def tk_convert(tk, crop, title):
    """Tk widgets → (elements, texts) in image pixels; windows stacked above the captured one
    cover it."""
    wins = tk["windows"]
    main = next((i for i, win in enumerate(wins) if title and title.lower() in win["title"].lower()), None)
    if main is None:
        main = max(range(len(wins)), key=lambda i: wins[i]["w"] * wins[i]["h"])
    above = [(win["x"], win["y"], win["w"], win["h"]) for win in wins[main + 1:]]
    elements, texts = [], []
    for tree in tk["trees"]:
        if tree["path"] != wins[main]["path"]:
            continue
        for it in tree["items"]:
            box = truth.inter((it["x"], it["y"], it["w"], it["h"]), crop)
            if box[2] < 4 or box[3] < 4 or any(truth.centre_in(box, a) for a in above):
                continue
            box = [box[0] - crop[0], box[1] - crop[1], box[2], box[3]]
            if it["kind"] == "element":
                elements.append({"bbox": box, "role": it["role"], "name": it["name"], "enabled": it["enabled"]})
            else:
                texts.append({"bbox": box, "role": it["role"], "name": it["name"]})
    return elements, texts
