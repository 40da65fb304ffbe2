#!/usr/bin/python3
"""Dump the showing part of an application's accessibility tree (AT-SPI) as JSON.

    atspi_tree.py APP_NAME [--pid PID]
    atspi_tree.py --activate APP_NAME ROLE NAME

Ground truth for the development set (scripts/make-screens): every object that is showing,
with its role, name, states, screen extents, its row when it is a cell of a table, and
the text it shows when it is a text object. Hidden subtrees (other stack pages, closed
menus) are not walked. Runs once per dump: an AT-SPI connection belongs to one process
and one session bus.
"""
import json
import sys

import gi

gi.require_version("Atspi", "2.0")
from gi.repository import Atspi  # noqa: E402

STATES = {
    Atspi.StateType.SHOWING: "showing",
    Atspi.StateType.VISIBLE: "visible",
    Atspi.StateType.SENSITIVE: "sensitive",
    Atspi.StateType.ENABLED: "enabled",
    Atspi.StateType.FOCUSABLE: "focusable",
    Atspi.StateType.EDITABLE: "editable",
    Atspi.StateType.CHECKABLE: "checkable",
    Atspi.StateType.CHECKED: "checked",
    Atspi.StateType.SELECTABLE: "selectable",
    Atspi.StateType.SELECTED: "selected",
    Atspi.StateType.EXPANDABLE: "expandable",
    Atspi.StateType.MULTI_LINE: "multi line",
    Atspi.StateType.SINGLE_LINE: "single line",
    Atspi.StateType.FOCUSED: "focused",
    Atspi.StateType.DEFUNCT: "defunct",
}

# Roles whose text is content to keep (a text view's paragraph, a terminal).
TEXT_ROLES = {"text", "paragraph", "terminal", "label", "static", "heading", "entry", "password text"}
MAX_NODES = 40000
# GTK 4.8 leaves "showing" off most objects that are on screen: walk what is "visible".
WALK_VISIBLE = "--visible" in sys.argv


def children(acc):
    try:
        n = acc.get_child_count()
    except Exception:
        return
    for i in range(n):
        try:
            child = acc.get_child_at_index(i)
        except Exception:
            continue
        if child is not None:
            yield i, child


def walk(acc, parent, index, table, nodes, depth):
    if depth > 80 or len(nodes) >= MAX_NODES:
        return
    try:
        role = acc.get_role_name()
        name = acc.get_name() or ""
        st = acc.get_state_set()
        states = [label for s, label in STATES.items() if st.contains(s)]
    except Exception:
        return
    try:
        ext = acc.get_extents(Atspi.CoordType.SCREEN)
        x, y, w, h = ext.x, ext.y, ext.width, ext.height
    except Exception:
        x, y, w, h = -1, -1, -1, -1  # no Component interface (an application's root)
    node = {
        "id": len(nodes), "parent": parent, "role": role, "name": name,
        "x": x, "y": y, "w": w, "h": h, "states": states,
    }
    if table is not None and index is not None:
        try:
            node["row"] = table.get_row_at_index(index)
            node["col"] = table.get_column_at_index(index)
        except Exception:
            pass
    if role in TEXT_ROLES:
        try:
            t = acc.get_text_iface()
            if t is not None:
                n = t.get_character_count()
                node["text"] = t.get_text(0, min(n, 400))
        except Exception:
            pass
    try:
        action = acc.get_action_iface()
        node["actions"] = action.get_n_actions() if action is not None else 0
        node["action_names"] = [action.get_action_name(i) for i in range(node["actions"])]
    except Exception:
        node["actions"] = 0
        node["action_names"] = []
    me = len(nodes)
    nodes.append(node)
    if "showing" not in states and parent is not None and not (WALK_VISIBLE and "visible" in states):
        return
    try:
        tbl = acc.get_table_iface()
    except Exception:
        tbl = None
    for i, child in children(acc):
        walk(child, me, i, tbl, nodes, depth + 1)


def find(acc, role, name, depth=0):
    """The first showing object below acc with this role and name, in tree order."""
    if depth > 80:
        return None
    try:
        if acc.get_role_name() == role and (acc.get_name() or "") == name:
            return acc
        if depth > 0 and not acc.get_state_set().contains(Atspi.StateType.SHOWING):
            return None
    except Exception:
        return None
    for _, child in children(acc):
        hit = find(child, role, name, depth + 1)
        if hit is not None:
            return hit
    return None


def activate(app_name, role, name):
    """Run the first action of a matching object (select a tab, press a button)."""
    for _, app in children(Atspi.get_desktop(0)):
        if (app.get_name() or "") != app_name:
            continue
        target = find(app, role, name)
        if target is None:
            continue
        action = target.get_action_iface()
        if action is not None and action.get_n_actions() > 0:
            action.do_action(0)
            return
        sel = target.get_parent().get_selection_iface() if target.get_parent() else None
        if sel is not None:
            sel.select_child(target.get_index_in_parent())
            return
        sys.exit(f"{role} {name!r} has no action")
    sys.exit(f"no {role} {name!r} in {app_name}")


def main():
    if sys.argv[1] == "--activate":
        activate(sys.argv[2], sys.argv[3], sys.argv[4])
        return
    want = sys.argv[1]
    pid = None
    if "--pid" in sys.argv:
        pid = int(sys.argv[sys.argv.index("--pid") + 1])
    out = []
    seen = []
    for _, app in children(Atspi.get_desktop(0)):
        try:
            name = app.get_name() or ""
            app_pid = app.get_process_id()
        except Exception:
            continue
        seen.append(f"{name} (pid {app_pid})")
        if name == want or (pid is not None and app_pid == pid):
            nodes = []
            walk(app, None, None, None, nodes, 0)
            out.append({"name": name, "pid": app_pid, "nodes": nodes})
    if not out:
        print("applications on the bus: " + ", ".join(seen), file=sys.stderr)
    json.dump({"apps": out}, sys.stdout)


if __name__ == "__main__":
    main()
