"""Accessibility tree → ground truth in the format of the perception metric
(`../shared/notes/perception-metric.md`): interactive elements and text regions, in image
pixels, visible part only.

Conventions:
- a table or tree row is one element (its cells' names joined); a cell that is a control
  of its own (a check box, a toggle, a button) adds that control;
- compound controls are what the toolkit says they are: one spin button, one combo box,
  one scroll bar, one slider;
- a text area (editable multi-line text, a terminal) is one element;
- disabled controls are elements with `enabled: false`;
- objects are clipped to the scrolled areas, tables and windows that hold them and to the
  image; what a popup (a menu, a combo's list) covers is dropped.
"""

INTERACTIVE = {
    "push button", "toggle button", "check box", "radio button", "combo box", "spin button",
    "slider", "scroll bar", "menu item", "check menu item", "radio menu item", "menu",
    "tear off menu item", "page tab", "link", "list item", "tree item", "table row",
    "table column header", "column header", "table row header", "row header", "password text",
    "entry", "switch", "calendar", "terminal", "push button menu", "toggle", "dial",
    "date editor", "color chooser", "font chooser",
}
TEXTUAL = {"label", "static", "heading", "caption", "paragraph", "description term", "description value",
           "text", "status bar", "accelerator label", "footer", "header", "block quote", "title bar"}
PICTURES = {"image", "icon", "animation", "drawing area", "canvas"}
CLIPPERS = {"scroll pane", "viewport", "table", "tree table", "tree", "list", "list box", "tool bar",
            "window", "frame", "dialog", "alert", "file chooser", "menu", "popup menu", "page tab list",
            "split pane", "layered pane"}
TOPLEVEL = {"frame", "dialog", "window", "alert", "file chooser", "popup menu"}
CELL = {"table cell"}
CONTROL_CELL = {"check box", "radio button", "toggle button", "push button", "spin button", "combo box",
                "slider", "switch", "link", "entry", "text"}


def inter(a, b):
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    return (x0, y0, max(0, x1 - x0), max(0, y1 - y0))


def union(a, b):
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return (x0, y0, x1 - x0, y1 - y0)


def centre_in(b, r):
    cx, cy = b[0] + b[2] / 2, b[1] + b[3] / 2
    return r[0] <= cx < r[0] + r[2] and r[1] <= cy < r[1] + r[3]


def has(n, s):
    return s in n["states"]


def convert(tree, app, crop, pid=None, min_side=4, showing_state="showing", window=None, drawn=None):
    """(elements, text_regions) of application `app` (or process `pid`) in the image that is
    the screen region `crop` (x, y, w, h). Elements: dicts with bbox (image pixels), role,
    name, enabled. `drawn(box)`, given, says whether anything is drawn in an image box: a
    toggle cell with nothing drawn (a parent row's hidden toggle) is no check box."""
    nodes = []
    for a in tree["apps"]:
        if a["name"] == app or (pid is not None and a.get("pid") == pid):
            base = len(nodes)
            for n in a["nodes"]:
                m = dict(n)
                m["id"] = n["id"] + base
                m["parent"] = None if n["parent"] is None else n["parent"] + base
                nodes.append(m)
    by_id = {n["id"]: n for n in nodes}
    kids = {}
    for n in nodes:
        kids.setdefault(n["parent"], []).append(n["id"])

    def showing(n):
        return has(n, showing_state) and has(n, "visible") and not has(n, "defunct") \
            and n["w"] > 0 and n["h"] > 0 and n["x"] > -100000 and n["y"] > -100000

    # Visible box: own extents within every clipping ancestor, within the image.
    vis = {}

    def visible_box(n):
        if n["id"] in vis:
            return vis[n["id"]]
        box = (n["x"], n["y"], n["w"], n["h"])
        box = inter(box, crop)
        p = by_id.get(n["parent"])
        while p is not None:
            if p["role"] in CLIPPERS and showing(p):
                box = inter(box, (p["x"], p["y"], p["w"], p["h"]))
            p = by_id.get(p["parent"])
        vis[n["id"]] = box
        return box

    def all_showing(n):
        # Ancestors by their states only: some report no extents (a notebook's page tab).
        p = by_id.get(n["parent"])
        while p is not None:
            if p["parent"] is not None and not (has(p, showing_state) and not has(p, "defunct")):
                return False
            p = by_id.get(p["parent"])
        return True

    def ancestors(n):
        p = by_id.get(n["parent"])
        while p is not None:
            yield p
            p = by_id.get(p["parent"])

    # Popups (menus, combo lists, tooltips are not popups) cover what lies below them.
    toplevels = [n for n in nodes if n["parent"] is not None and by_id[n["parent"]]["parent"] is None
                 and showing(n) and n["role"] in TOPLEVEL]
    named = [n for n in toplevels if window and window.lower() in n["name"].lower()]
    main = max(named or toplevels, key=lambda n: n["w"] * n["h"], default=None)
    popups = [n for n in toplevels if n is not main and n["role"] in {"window", "popup menu"}
              and any(by_id[k]["role"] in {"menu", "popup menu", "list", "tree table", "table", "list box",
                                           "scroll pane", "panel", "filler"} for k in kids.get(n["id"], []))]
    dialogs = [n for n in toplevels if n is not main and n not in popups]
    if window:
        # The image is that window: other windows of the application lie behind it.
        hidden = {n["id"] for n in dialogs}
        dialogs = []
    else:
        hidden = set()

    def toplevel_of(n):
        last = n
        for p in ancestors(n):
            if p["parent"] is not None and by_id[p["parent"]]["parent"] is None:
                return p
            last = p
        return last

    def covered(n, box):
        top = toplevel_of(n)
        if top["id"] in hidden:
            return True
        layers = popups + dialogs
        if top in popups:
            layers = popups[popups.index(top) + 1:]
        elif top in dialogs:
            layers = popups + dialogs[dialogs.index(top) + 1:]
        return any(centre_in(box, (o["x"], o["y"], o["w"], o["h"])) for o in layers if o is not top)

    elements, texts = [], []
    rows = {}  # (table id, row) -> [cells]

    def emit(n, box, role=None, name=None):
        elements.append({"bbox": box, "role": role or n["role"], "name": (name if name is not None else n["name"]),
                         "enabled": has(n, "sensitive") or has(n, "enabled")})

    for n in nodes:
        if n["parent"] is None or not showing(n) or not all_showing(n):
            continue
        box = visible_box(n)
        if box[2] < min_side or box[3] < min_side or covered(n, box):
            continue
        role = n["role"]
        anc = list(ancestors(n))
        cell_ancestor = next((a for a in anc if a["role"] in CELL), None)
        if role in CELL:
            if cell_ancestor is not None:
                continue  # a part of a composite cell: the top cell stands for it
            table = by_id.get(n["parent"])
            if n.get("row") is not None and n["row"] >= 0:
                rows.setdefault((n["parent"], n["row"]), []).append(n)
            elif table is not None and table["role"] in {"table row", "list item", "tree item"}:
                continue  # the row itself is the element
            else:
                rows.setdefault((n["parent"], ("y", n["y"], n["h"])), []).append(n)
            # GTK 3's toggle cells (check boxes and radios in a tree view) are not
            # "checkable"; their "toggle" action says what they are.
            toggle = has(n, "checkable") or "toggle" in n.get("action_names", [])
            if toggle and not has(n, "checkable") and drawn is not None:
                toggle = drawn((box[0] - crop[0], box[1] - crop[1], box[2], box[3]))
            if toggle or any(by_id[k]["role"] in CONTROL_CELL for k in kids.get(n["id"], [])):
                if toggle:
                    emit(n, box, role="check box")
            continue
        if cell_ancestor is not None and role not in CONTROL_CELL:
            continue
        editable_text = role in {"text", "entry", "password text", "paragraph"} and has(n, "editable")
        icon_item = role == "icon" and has(n, "selectable")
        clickable_label = role == "label" and n.get("actions", 0) > 0 and has(n, "focusable")
        if role in INTERACTIVE or editable_text or icon_item or clickable_label:
            if role == "menu" and not any(a["role"] in {"menu bar", "menu", "popup menu"} for a in anc):
                continue  # a combo box's or a menu button's own (closed) menu
            name = n["name"]
            if editable_text and not name:
                name = n.get("text", "")[:80]
            emit(n, box, role="text" if editable_text and role == "paragraph" else None, name=name)
            continue
        if role in TEXTUAL and (n["name"].strip() or n.get("text", "").strip()):
            texts.append({"bbox": box, "role": role, "name": (n["name"] or n.get("text", ""))[:80]})
        elif role in PICTURES and role != "drawing area":
            texts.append({"bbox": box, "role": role, "name": n["name"]})

    for (table, _), cells in rows.items():
        box = None
        for c in cells:
            b = visible_box(c)
            if b[2] > 0 and b[3] > 0:
                box = b if box is None else union(box, b)
        if box is None or box[2] < min_side or box[3] < min_side:
            continue
        cells.sort(key=lambda c: c["x"])
        names = []
        for c in cells:
            nm = c["name"].strip()
            if not nm:
                nm = " ".join(by_id[k]["name"].strip() for k in kids.get(c["id"], []) if by_id[k]["name"].strip())
            if nm:
                names.append(nm)
        # Everything in a table is in a row: header cells have their own role.
        elements.append({"bbox": box, "role": "table row", "name": " | ".join(names),
                         "enabled": any(has(c, "sensitive") or has(c, "enabled") for c in cells)})
    # Image pixels.
    for e in elements + texts:
        x, y, w, h = e["bbox"]
        e["bbox"] = [x - crop[0], y - crop[1], w, h]
    return elements, texts
