#!/usr/bin/python3
"""Make the perception development set: real screens of real applications and web pages,
with ground truth from the accessibility tree (desktop), Tk's own widget geometry (Tk) or
the DOM (web). Run through `scripts/make-screens`, which installs what this needs.

    make_screens.py [--out DIR] [--only SUBSTRING ...] [--list]

Writes DIR/NAME.png for every screen and DIR/annotations.json (the format of the
perception metric). Screens not selected with --only keep their earlier entries.
"""
import argparse
import json
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import screens as specs  # noqa: E402
from session import ROOT  # noqa: E402

DEFAULT_OUT = os.path.join(ROOT, "tests", "devset")


def load(path):
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return {"images": [], "annotations": [], "text_regions": []}


def merge(ann, name, image, elements, texts):
    """Replace screen `name` in `ann` with this take."""
    old = [im["id"] for im in ann["images"] if im["file"] == f"{name}.png"]
    ann["images"] = [im for im in ann["images"] if im["id"] not in old]
    ann["annotations"] = [a for a in ann["annotations"] if a["image_id"] not in old]
    ann["text_regions"] = [t for t in ann["text_regions"] if t["image_id"] not in old]
    iid = max([im["id"] for im in ann["images"]], default=0) + 1
    image = dict(image, id=iid, file=f"{name}.png")
    ann["images"].append(image)
    aid = max([a["id"] for a in ann["annotations"]], default=0)
    for e in elements:
        aid += 1
        ann["annotations"].append({"id": aid, "image_id": iid, "bbox": [int(v) for v in e["bbox"]],
                                   "role": e["role"], "name": e.get("name", ""),
                                   "enabled": bool(e.get("enabled", True))})
    for t in texts:
        ann["text_regions"].append({"image_id": iid, "bbox": [int(v) for v in t["bbox"]]})


def tidy(ann):
    ann["images"].sort(key=lambda im: im["file"])
    order = {im["id"]: i + 1 for i, im in enumerate(ann["images"])}
    for im in ann["images"]:
        im["id"] = order[im["id"]]
    for a in ann["annotations"]:
        a["image_id"] = order[a["image_id"]]
    for t in ann["text_regions"]:
        t["image_id"] = order[t["image_id"]]
    ann["annotations"].sort(key=lambda a: (a["image_id"], a["bbox"][1], a["bbox"][0]))
    for i, a in enumerate(ann["annotations"]):
        a["id"] = i + 1
    ann["text_regions"].sort(key=lambda t: (t["image_id"], t["bbox"][1], t["bbox"][0]))


def write(ann, path):
    tidy(ann)
    with open(path + ".tmp", "w") as f:
        f.write("{\n")
        f.write(' "images": [\n  ' + ",\n  ".join(json.dumps(im, ensure_ascii=False) for im in ann["images"]) + "\n ],\n")
        f.write(' "annotations": [\n  ' + ",\n  ".join(json.dumps(a, ensure_ascii=False) for a in ann["annotations"])
                + "\n ],\n")
        f.write(' "text_regions": [\n  ' + ",\n  ".join(json.dumps(t) for t in ann["text_regions"]) + "\n ]\n")
        f.write("}\n")
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    all_specs = specs.ALL
    if args.list:
        for s in all_specs:
            print(f"{s.name:<40} {s.source:<6} {s.app}")
        return
    chosen = [s for s in all_specs if not args.only or any(o in s.name for o in args.only)]
    os.makedirs(args.out, exist_ok=True)
    ann_path = os.path.join(args.out, "annotations.json")
    ann = load(ann_path)
    failed = []
    for s in chosen:
        t = time.time()
        print(f"==> {s.name}", flush=True)
        try:
            image, elements, texts = s.take(os.path.join(args.out, f"{s.name}.png"))
        except Exception as e:
            traceback.print_exc()
            failed.append((s.name, str(e)))
            continue
        merge(ann, s.name, image, elements, texts)
        write(ann, ann_path)
        print(f"    {len(elements)} elements, {len(texts)} text regions, {image['width']}x{image['height']}"
              f" ({time.time() - t:.1f} s)", flush=True)
    for name, err in failed:
        print(f"FAILED {name}: {err}", file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
