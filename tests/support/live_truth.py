#!/usr/bin/python3
"""Ground truth of one live application for the accessibility-tree tests, taken through
libatspi (pyatspi), independently of markpilot's own reader, with the conventions of the
perception metric (scripts/devset/truth.py: a row is one element, compound controls are one,
covered and clipped parts are left out).

    live_truth.py APP SCREEN_W SCREEN_H [--visible] [--window X,Y,W,H]

--visible: walk objects that are visible (GTK 4.8 leaves "showing" off below its windows).
--window: the application's window on screen; with it, boxes that the toolkit gives relative
to its window (GTK 4.8) are moved there, the window's invisible resize border (the same on
every side) taken off.

Prints {"elements": [{"bbox": [x, y, w, h], "role", "name"}], "texts": [{"bbox"}]} in screen
pixels.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts", "devset"))

import atspi_tree  # noqa: E402
import truth  # noqa: E402
from atspi_tree import Atspi  # noqa: E402


def main():
    app, sw, sh = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    visible = "--visible" in sys.argv
    window = None
    if "--window" in sys.argv:
        window = [int(v) for v in sys.argv[sys.argv.index("--window") + 1].split(",")]
    atspi_tree.WALK_VISIBLE = visible
    apps = []
    for _, a in atspi_tree.children(Atspi.get_desktop(0)):
        if (a.get_name() or "") == app:
            nodes = []
            atspi_tree.walk(a, None, None, None, nodes, 0)
            apps.append({"name": app, "pid": a.get_process_id(), "nodes": nodes})
    # What a container of no size holds is not on screen, whatever its states say (Qt keeps a
    # closed combo box's list "showing", at 0x0, with its items at the window's corner).
    for a in apps:
        hidden = set()
        for n in a["nodes"]:
            if n["parent"] in hidden or (n["parent"] is not None and (n["w"] == 0 or n["h"] == 0)):
                hidden.add(n["id"])
        a["nodes"] = [dict(n, states=[s for s in n["states"] if s != "showing"]) if n["id"] in hidden else n
                      for n in a["nodes"]]
    tree = {"apps": apps}
    if window is not None:
        frames = [n for a in apps for n in a["nodes"] if n["parent"] == 0 and n["w"] > 0]
        if frames and frames[0]["x"] == 0 and frames[0]["y"] == 0:
            f = frames[0]
            ox = window[0] + (window[2] - f["w"]) // 2
            oy = window[1] + (window[3] - f["h"]) // 2
            for a in apps:
                for n in a["nodes"]:
                    if n["w"] > 0 and n["x"] > -100000:
                        n["x"] += ox
                        n["y"] += oy
    elements, texts = truth.convert(tree, app, (0, 0, sw, sh), showing_state="visible" if visible else "showing")
    json.dump({"elements": elements, "texts": texts}, sys.stdout)


if __name__ == "__main__":
    main()
