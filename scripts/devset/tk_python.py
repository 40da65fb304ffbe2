"""python3 tk_python.py -m MODULE [ARGS...] | SCRIPT [ARGS...]: run a tkinter program with
tk_truth.tcl loaded into every Tk interpreter it creates."""
import os
import runpy
import sys
import tkinter

TRUTH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tk_truth.tcl")
_init = tkinter.Tk.__init__


def init(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    if self.tk.eval("info commands wm"):  # an interpreter with Tk (some are made without)
        self.tk.eval(f"source {{{TRUTH}}}")


tkinter.Tk.__init__ = init
if sys.argv[1] == "-m":
    sys.argv = sys.argv[2:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
else:
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
