"""A window whose only feedback comes late or never stops, for the settling tests.

    repaint_app.py late      grey; a click turns it blue 300 ms later (nothing at once)
    repaint_app.py forever   repaints all of itself every 30 ms, changing colour each time
"""
import sys

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk, GLib, Gtk  # noqa: E402

mode = sys.argv[1]
state = {"colour": (0.85, 0.85, 0.85), "tick": 0}

win = Gtk.Window(title=f"Repaint {mode}")
win.set_default_size(400, 300)
area = Gtk.DrawingArea()
area.add_events(Gdk.EventMask.BUTTON_PRESS_MASK)


def draw(_widget, cr):
    cr.set_source_rgb(*state["colour"])
    cr.paint()
    return False


def turn_blue():
    state["colour"] = (0.1, 0.3, 0.85)
    area.queue_draw()
    return False


def press(_widget, _event):
    if mode == "late":
        GLib.timeout_add(300, turn_blue)
    return True


def tick():
    state["tick"] += 1
    v = 0.3 + 0.5 * (state["tick"] % 10) / 10
    state["colour"] = (v, 1 - v, 0.5)
    area.queue_draw()
    return True


area.connect("draw", draw)
area.connect("button-press-event", press)
if mode == "forever":
    GLib.timeout_add(30, tick)
win.add(area)
win.connect("destroy", Gtk.main_quit)
win.show_all()
Gtk.main()
