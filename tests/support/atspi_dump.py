#!/usr/bin/python3
"""Dump the accessibility tree (AT-SPI) of running applications as JSON.

Ground truth for the built-in detector's quality tests: every object that is showing on
screen, with its role, name, states and screen extents. Usage:

    atspi_dump.py APP_NAME [APP_NAME...]   # e.g. gtk3-widget-factory zenity
    atspi_dump.py --activate APP ROLE NAME  # run the first action of a matching object
    atspi_dump.py --text APP ROLE           # the texts of such objects, a JSON list
    atspi_dump.py --set-text APP ROLE TEXT  # replace it (editable text)

Prints one JSON document: {"apps": [{"name": ..., "nodes": [...]}]} where each node has
id, parent (id or null), role, name, x, y, w, h and a list of state names.
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
    Atspi.StateType.CHECKED: "checked",
    Atspi.StateType.SELECTABLE: "selectable",
    Atspi.StateType.SELECTED: "selected",
    Atspi.StateType.ACTIVE: "active",
}


def walk(acc, parent, nodes, depth):
    if depth > 60 or len(nodes) > 20000:
        return
    try:
        role = acc.get_role_name()
        name = acc.get_name() or ""
        states = acc.get_state_set()
        names = [label for st, label in STATES.items() if states.contains(st)]
        ext = acc.get_extents(Atspi.CoordType.SCREEN)
        try:
            iface = acc.get_action_iface()
            actions = iface.get_n_actions() if iface is not None else 0
        except Exception:
            actions = 0
        n = acc.get_child_count()
    except Exception:
        return
    me = len(nodes)
    nodes.append({
        "id": me, "parent": parent, "role": role, "name": name,
        "x": ext.x, "y": ext.y, "w": ext.width, "h": ext.height,
        "states": names, "actions": actions,
    })
    if "showing" not in names and parent is not None:
        return  # hidden subtrees (other stack pages, closed menus) are not on screen
    for i in range(n):
        try:
            child = acc.get_child_at_index(i)
        except Exception:
            continue
        if child is not None:
            walk(child, me, nodes, depth + 1)


def find(acc, role, name, depth=0):
    if depth > 60:
        return None
    try:
        if acc.get_role_name() == role and (acc.get_name() or "") == name:
            return acc
        n = acc.get_child_count()
    except Exception:
        return None
    for i in range(n):
        try:
            child = acc.get_child_at_index(i)
        except Exception:
            continue
        if child is not None:
            hit = find(child, role, name, depth + 1)
            if hit is not None:
                return hit
    return None


def activate(app_name, role, name):
    desktop = Atspi.get_desktop(0)
    for i in range(desktop.get_child_count()):
        app = desktop.get_child_at_index(i)
        if app is None or (app.get_name() or "") != app_name:
            continue
        target = find(app, role, name)
        if target is None:
            continue
        action = target.get_action_iface()
        if action is None or action.get_n_actions() == 0:
            sys.exit(f"{role} {name!r} has no action")
        action.do_action(0)
        return
    sys.exit(f"no {role} {name!r} in {app_name}")


def collect(acc, role, out, depth=0):
    if depth > 60:
        return
    try:
        if acc.get_role_name() == role:
            out.append(acc)
        n = acc.get_child_count()
    except Exception:
        return
    for i in range(n):
        try:
            child = acc.get_child_at_index(i)
        except Exception:
            continue
        if child is not None:
            collect(child, role, out, depth + 1)


def last_object(app_name, role):
    desktop = Atspi.get_desktop(0)
    found = []
    for i in range(desktop.get_child_count()):
        app = desktop.get_child_at_index(i)
        if app is None or (app.get_name() or "") != app_name:
            continue
        objs = []
        collect(app, role, objs)
        found.extend(objs)
    if not found:
        sys.exit(f"no {role} in {app_name}")
    return found[-1]


def set_text(app_name, role, value):
    editable = last_object(app_name, role).get_editable_text_iface()
    if editable is None or not editable.set_text_contents(value):
        sys.exit(f"the {role} in {app_name} is not editable")


def texts_of(app_name, role):
    """The texts of the matching objects, as a JSON list (last: the newest application's)."""
    desktop = Atspi.get_desktop(0)
    found = []
    for i in range(desktop.get_child_count()):
        app = desktop.get_child_at_index(i)
        if app is None or (app.get_name() or "") != app_name:
            continue
        collect(app, role, found)
    texts = []
    for obj in found:
        t = obj.get_text_iface()
        texts.append(t.get_text(0, t.get_character_count()) if t is not None else None)
    json.dump(texts, sys.stdout, ensure_ascii=False)


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--activate":
        activate(sys.argv[2], sys.argv[3], sys.argv[4])
        return
    if len(sys.argv) == 5 and sys.argv[1] == "--set-text":
        set_text(sys.argv[2], sys.argv[3], sys.argv[4])
        return
    if len(sys.argv) == 4 and sys.argv[1] == "--text":
        texts_of(sys.argv[2], sys.argv[3])
        return
    wanted = set(sys.argv[1:])
    desktop = Atspi.get_desktop(0)
    apps = []
    for i in range(desktop.get_child_count()):
        app = desktop.get_child_at_index(i)
        if app is None:
            continue
        name = app.get_name() or ""
        if wanted and name not in wanted:
            continue
        nodes = []
        walk(app, None, nodes, 0)
        apps.append({"name": name, "nodes": nodes})
    json.dump({"apps": apps}, sys.stdout)


if __name__ == "__main__":
    main()
