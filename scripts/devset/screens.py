"""Every screen of the development set. Names are unique and become the PNG's file name.

Breadth over depth: many applications, toolkits, themes and scales, a few screens each;
dense screens (file and process lists, tables, long menus, editors with content) on
purpose. zenity and gtk3-widget-factory stay below 15% of the set.
"""
import os

from desktop import Desktop, TkApp
from session import HERE, ROOT
from web import Web, bootstrap

D = Desktop


def demo3(name, demo, title, **kw):
    return D(f"gtk3-demo-{name}", "gtk3-demo", "gtk3", ["gtk3-demo", f"--run={demo}"], maximize=False,
             title=title, **kw)


def demo4(name, demo, title, **kw):
    return D(f"gtk4-demo-{name}", "gtk4-demo", "gtk4", ["gtk4-demo", f"--run={demo}"], maximize=False,
             title=title, **kw)


GTK3 = [
    D("gtk3-taskmanager", "xfce4-taskmanager", "gtk3", ["xfce4-taskmanager"]),
    D("gtk3-taskmanager-dark", "xfce4-taskmanager", "gtk3", ["xfce4-taskmanager"], dark=True, size=(1024, 700)),
    D("gtk3-mousepad-text", "mousepad", "gtk3", ["mousepad", "{work}/textwrap.py"]),
    D("gtk3-mousepad-menu", "mousepad", "gtk3", ["mousepad", "{work}/notes.txt"], size=(1024, 700),
      steps=[("key", "alt+e")]),
    D("gtk3-mousepad-2x-dark", "mousepad", "gtk3", ["mousepad", "{work}/notes.txt"], size=(800, 560), scale=2,
      dark=True),
    D("gtk3-thunar-list", "thunar", "gtk3", ["thunar", "{work}/Documents"], steps=[("key", "ctrl+2")]),
    D("gtk3-thunar-icons-dark", "thunar", "gtk3", ["thunar", "/usr/share/doc/python3.11-doc/html"], dark=True,
      size=(1024, 700)),
    D("gtk3-geany-code", "geany", "gtk3", ["geany", "-i", "{work}/textwrap.py"]),
    D("gtk3-geany-find-dark", "geany", "gtk3", ["geany", "-i", "{work}/notes.txt"], dark=True, size=(1024, 700),
      steps=[("key", "ctrl+h")]),
    D("gtk3-galculator", "galculator", "gtk3", ["galculator"], maximize=False),
    # gucharmap is left out: its character grid is one canvas to AT-SPI (no cells), so the
    # ground truth would call every mark on it a stray.
    D("gtk3-meld-new", "meld", "gtk3", ["meld"], size=(1024, 700)),
    D("gtk3-transmission", "transmission-gtk", "gtk3", ["transmission-gtk"], size=(1024, 640), atspi="transmission-gtk"),
    D("gtk3-dconf-editor", "dconf-editor", "gtk3", ["dconf-editor"], size=(1024, 700)),
    D("gtk3-system-monitor", "gnome-system-monitor", "gtk3", ["gnome-system-monitor", "-p"], size=(1280, 800)),
    D("gtk3-system-monitor-dark", "gnome-system-monitor", "gtk3", ["gnome-system-monitor", "-f"], dark=True,
      size=(1024, 700)),
    demo3("liststore", "list_store", "List Store"),
    demo3("treestore-dark", "tree_store", "Tree Store", dark=True),
    demo3("editable-cells", "editable_cells", "Editable Cells"),
    demo3("spinbutton", "spinbutton", "Spin Buttons"),
    demo3("dialog-2x", "dialog", "Dialogs and Message Boxes", scale=2),
    demo3("builder", "builder", "Builder"),
    demo3("infobar", "infobar", "Info Bars"),
    demo3("combobox", "combobox", "Combo Boxes"),
    demo3("iconview-dark", "iconview", "Icon View Basics", dark=True),
    demo3("listbox", "listbox", "List Box"),
    demo3("sidebar", "sidebar", "Stack Sidebar"),
    demo3("toolpalette", "toolpalette", "Tool Palette"),
    D("gtk3-widget-factory-1", "gtk3-widget-factory", "gtk3", ["gtk3-widget-factory"], size=(1600, 1000)),
    D("gtk3-zenity-list", "zenity", "gtk3", [
        "zenity", "--list", "--title", "Mirrors", "--width", "560", "--height", "420", "--column", "Host",
        "--column", "Country", "--column", "Speed", "deb.debian.org", "Global", "fast", "ftp.kr.debian.org",
        "Korea", "fast", "ftp.de.debian.org", "Germany", "medium", "ftp.fr.debian.org", "France", "medium",
        "mirror.kakao.com", "Korea", "fast", "ftp.jp.debian.org", "Japan", "slow"], maximize=False),
]

GTK4 = [
    D("gtk4-text-editor", "gnome-text-editor", "gtk4", ["gnome-text-editor", "{work}/notes.txt"]),
    D("gtk4-text-editor-dark", "gnome-text-editor", "gtk4", ["gnome-text-editor", "{work}/textwrap.py"],
      dark=True, size=(1024, 700)),
    D("gtk4-calculator", "gnome-calculator", "gtk4", ["gnome-calculator"], maximize=False),
    D("gtk4-calculator-dark-2x", "gnome-calculator", "gtk4", ["gnome-calculator"], maximize=False, dark=True,
      scale=2),
    D("gtk4-baobab", "baobab", "gtk4", ["baobab"], size=(1024, 700)),
    D("gtk4-font-viewer", "gnome-font-viewer", "gtk4", ["gnome-font-viewer"], size=(1024, 700)),
    D("gtk4-clocks-dark", "gnome-clocks", "gtk4", ["gnome-clocks"], dark=True, size=(1024, 700)),
    demo4("listview-settings", "listview_settings", "Settings"),
    demo4("listview-files", "listview_filebrowser", "File browser"),
    demo4("dropdown", "dropdown", "Selections"),
    demo4("spinbutton-dark", "spinbutton", "Spin Buttons", dark=True),
    demo4("listbox-controls", "listbox_controls", "List Box"),
]

# qBittorrent asks to accept its legal notice on the first start.
QBT = ("mkdir -p ../config/qBittorrent && printf '[LegalNotice]\\nAccepted=true\\n' "
       "> ../config/qBittorrent/qBittorrent.conf")

QT = [
    D("qt5-featherpad", "featherpad", "qt5", ["featherpad", "{work}/textwrap.py"]),
    D("qt5-featherpad-dark", "featherpad", "qt5", ["featherpad", "{work}/notes.txt"], dark=True, size=(1024, 700)),
    D("qt5-qt5ct", "qt5ct", "qt5", ["qt5ct"], maximize=False),
    D("qt6-qt6ct-dark", "qt6ct", "qt6", ["qt6ct"], maximize=False, dark=True),
    D("qt6-qt6ct-2x", "qt6ct", "qt6", ["qt6ct"], maximize=False, scale=2),
    D("qt5-pcmanfm-qt-dark", "pcmanfm-qt", "qt5", ["pcmanfm-qt", "{work}/Documents"], dark=True),
    D("qt5-pcmanfm-qt", "pcmanfm-qt", "qt5", ["pcmanfm-qt", "/usr/share/applications"], size=(1024, 700)),
    D("qt5-featherpad-2x", "featherpad", "qt5", ["featherpad", "{work}/notes.txt"], scale=2, size=(800, 520)),
    D("qt5-qbittorrent", "qbittorrent", "qt5", ["qbittorrent"], size=(1280, 800), setup=QBT),
    D("qt5-keepassxc", "keepassxc", "qt5", ["keepassxc"], size=(1024, 700)),
    D("qt5-designer", "designer", "qt5", ["designer"], size=(1440, 900)),
    D("qt5-speedcrunch", "speedcrunch", "qt5", ["speedcrunch"], size=(1024, 700)),
    D("qt5-qterminal", "qterminal", "qt5", ["qterminal"], size=(1024, 700), steps=[("type", "ls -la /etc | head -40\n")]),
    D("qt5-assistant", "assistant", "qt5", ["assistant"], size=(1024, 700)),
]

TK_WISH = os.path.join(HERE, "tk_wish.tcl")
TK_PY = os.path.join(HERE, "tk_python.py")
TK_DEMOS = "/usr/share/doc/tk8.6-doc/demos"
# A clone of this repository (real history for gitk) with a few changes (for git gui).
REPO = (f"git clone -q {ROOT} repo && cd repo && echo '- one more line' >> README.md && "
        "cp ../notes.txt docs-notes.txt && git rm -q --cached Cargo.lock")
GIT = {"GIT_DIR": "{work}/repo/.git", "GIT_WORK_TREE": "{work}/repo"}


def tkdemo(name, script, title, **kw):
    return TkApp(f"tk-demo-{name}", "tk-widget-demo", ["wish", TK_WISH, f"{TK_DEMOS}/widget"],
                 tk_eval=f"source {{{TK_DEMOS}/{script}}}", title=title, maximize=False, **kw)


TK = [
    TkApp("tk-gitk", "gitk", ["wish", TK_WISH, "/usr/bin/gitk", "--all"], setup=REPO, env=GIT, settle=4),
    TkApp("tk-gitk-small", "gitk", ["wish", TK_WISH, "/usr/bin/gitk"], setup=REPO, env=GIT, settle=4,
          size=(1024, 700)),
    TkApp("tk-git-gui", "git-gui", ["wish", TK_WISH, "/usr/lib/git-core/git-gui"], setup=REPO, env=GIT,
          settle=4),
    TkApp("tk-idle-shell", "idle", ["/usr/bin/python3", TK_PY, "-m", "idlelib"], size=(1024, 700)),
    TkApp("tk-idle-editor", "idle", ["/usr/bin/python3", TK_PY, "-m", "idlelib", "{work}/textwrap.py"],
          title="textwrap.py"),
    TkApp("tk-turtledemo", "turtledemo", ["/usr/bin/python3", TK_PY, "-m", "turtledemo"], size=(1280, 800)),
    TkApp("tk-widget-demo", "tk-widget-demo", ["wish", TK_WISH, f"{TK_DEMOS}/widget"], size=(1024, 768)),
    tkdemo("mclist", "mclist.tcl", "Multi-Column List"),
    tkdemo("tree", "tree.tcl", "Directory Browser"),
    tkdemo("ttknote", "ttknote.tcl", "Notebook"),
    tkdemo("form", "form.tcl", "Form"),
    tkdemo("combo", "combo.tcl", "Combobox"),
    tkdemo("spin", "spin.tcl", "Spinbox"),
    tkdemo("check", "check.tcl", "Checkbutton"),
    TkApp("tk-tkcon", "tkcon", ["wish", TK_WISH, "/usr/bin/tkcon"], size=(1024, 700)),
    TkApp("tk-tkcvs", "tkcvs", ["wish", TK_WISH, "/usr/bin/tkcvs"], setup=REPO, env=GIT, size=(1024, 700),
          settle=4),
    TkApp("tk-rolodex", "rolodex", ["wish", TK_WISH, f"{TK_DEMOS}/rolodex"], maximize=False),
    TkApp("tk-tcolor", "tcolor", ["wish", TK_WISH, f"{TK_DEMOS}/tcolor"], maximize=False),
    TkApp("tk-browse", "browse", ["wish", TK_WISH, f"{TK_DEMOS}/browse", "/usr/share/doc"], maximize=False),
]

W = Web
PY = "file:///usr/share/doc/python3.11-doc/html/"
RUST = "file:///usr/share/doc/rust-doc/html/"
DOC = "file:///usr/share/doc/"

WEB = [
    W("web-python-os", "python-docs", PY + "library/os.html", js="window.scrollTo(0, 2600)"),
    W("web-python-tutorial-2x", "python-docs", PY + "tutorial/controlflow.html", scale=2, size=(960, 600)),
    W("web-python-genindex", "python-docs", PY + "genindex-A.html", size=(1440, 900)),
    W("web-python-library-dark", "python-docs", PY + "library/index.html", dark=True),
    W("web-rustdoc-vec", "rustdoc", RUST + "std/vec/struct.Vec.html", size=(1440, 900)),
    W("web-rustdoc-collections-dark", "rustdoc", RUST + "std/collections/index.html", dark=True),
    W("web-mdbook-ownership", "mdbook", RUST + "book/ch04-01-what-is-ownership.html"),
    W("web-mdbook-vectors-dark", "mdbook", RUST + "book/ch08-01-vectors.html", dark=True, size=(1024, 700)),
    W("web-debian-reference", "debian-reference", DOC + "debian-reference-en/docs/ch02.en.html",
      js="window.scrollTo(0, 900)"),
    W("web-sphinx-quickstart", "sphinx-docs", DOC + "sphinx-doc/html/usage/quickstart.html"),
    W("web-flask-quickstart", "flask-docs", DOC + "python-flask-doc/html/quickstart.html"),
    W("web-requests-dark", "requests-docs", DOC + "python-requests-doc/html/user/quickstart.html", dark=True),
    W("web-attrs-examples-2x", "attrs-docs", DOC + "python-attr-doc/html/examples.html", scale=2, size=(900, 640)),
    W("web-mkdocs-config", "mkdocs-docs", DOC + "mkdocs/html/user-guide/configuration.html"),
    W("web-node-fs", "nodejs-docs", DOC + "nodejs/api/fs.html", size=(1440, 900), js="window.scrollTo(0, 3000)"),
    W("web-git-commit", "git-docs", DOC + "git-doc/git-commit.html"),
    W("web-bootstrap-dashboard", "bootstrap-dashboard", bootstrap("dashboard"), size=(1440, 900)),
    W("web-bootstrap-dashboard-dark-2x", "bootstrap-dashboard", bootstrap("dashboard"), dark=True, scale=2,
      size=(960, 600), js="window.scrollTo(0, 400)"),
    W("web-bootstrap-checkout", "bootstrap-checkout", bootstrap("checkout"), js="window.scrollTo(0, 300)"),
    W("web-bootstrap-checkout-dark", "bootstrap-checkout", bootstrap("checkout"), dark=True, size=(1024, 700),
      js="window.scrollTo(0, 900)"),
    W("web-bootstrap-sign-in", "bootstrap-sign-in", bootstrap("sign-in"), size=(1024, 700)),
    W("web-bootstrap-album", "bootstrap-album", bootstrap("album"), js="window.scrollTo(0, 500)"),
    W("web-bootstrap-dropdowns", "bootstrap-dropdowns", bootstrap("dropdowns"), size=(1440, 900)),
    W("web-bootstrap-modals", "bootstrap-modals", bootstrap("modals")),
    W("web-bootstrap-sidebars", "bootstrap-sidebars", bootstrap("sidebars"), size=(1440, 900)),
    W("web-bootstrap-pricing-dark", "bootstrap-pricing", bootstrap("pricing"), dark=True),
    W("web-bootstrap-list-groups", "bootstrap-list-groups", bootstrap("list-groups"), size=(1280, 900)),
    W("web-bootstrap-headers", "bootstrap-headers", bootstrap("headers"), size=(1440, 900)),
    W("web-bootstrap-blog", "bootstrap-blog", bootstrap("blog"), js="window.scrollTo(0, 700)"),
    W("web-bootstrap-features-2x", "bootstrap-features", bootstrap("features"), scale=2, size=(960, 600),
      js="window.scrollTo(0, 300)"),
]

ALL = GTK3 + GTK4 + QT + TK + WEB
