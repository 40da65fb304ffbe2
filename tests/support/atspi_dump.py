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


def children(acc):
    """The children of an accessible object, skipping ones that vanish while we look."""
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
            yield child


def apps(names=None):
    """(name, application) for the running applications, optionally only these names."""
    for app in children(Atspi.get_desktop(0)):
        name = app.get_name() or ""
        if not names or name in names:
            yield name, app


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
    for child in children(acc):
        walk(child, me, nodes, depth + 1)


def collect(acc, role, out, name=None, depth=0):
    """Every object below acc (inclusive) with this role (and name, if given), in tree order."""
    if depth > 60:
        return
    try:
        if acc.get_role_name() == role and (name is None or (acc.get_name() or "") == name):
            out.append(acc)
    except Exception:
        return
    for child in children(acc):
        collect(child, role, out, name, depth + 1)


def objects(app_name, role, name=None):
    found = []
    for _, app in apps({app_name}):
        collect(app, role, found, name)
    return found


def activate(app_name, role, name):
    for target in objects(app_name, role, name):
        action = target.get_action_iface()
        if action is None or action.get_n_actions() == 0:
            sys.exit(f"{role} {name!r} has no action")
        action.do_action(0)
        return
    sys.exit(f"no {role} {name!r} in {app_name}")


def set_text(app_name, role, value):
    found = objects(app_name, role)
    if not found:
        sys.exit(f"no {role} in {app_name}")
    editable = found[-1].get_editable_text_iface()
    if editable is None or not editable.set_text_contents(value):
        sys.exit(f"the {role} in {app_name} is not editable")


def texts_of(app_name, role):
    """The texts of the matching objects, as a JSON list (last: the newest application's)."""
    texts = []
    for obj in objects(app_name, role):
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
    dumped = []
    for name, app in apps(set(sys.argv[1:])):
        nodes = []
        walk(app, None, nodes, 0)
        dumped.append({"name": name, "nodes": nodes})
    json.dump({"apps": dumped}, sys.stdout)


if __name__ == "__main__":
    main()
