#!/usr/bin/env python3
"""Write small ONNX models with the real layouts markpilot reads, for its tests.

    make_models.py OUT_DIR

- yolo.onnx: input `images` f32[1,3,640,640]; output `output0` f32[1,6,16] (Ultralytics
  layout: cx, cy, w, h, then one score per class; classes "icon" and "button" in the
  `names` metadata). The candidates are fixed (the graph adds 0 × the input's mean), so
  a test knows exactly what decoding must give.
- sam_encoder.onnx: `image` f32[1,3,1024,1024] -> `image_embeddings` f32[1,256,64,64]
  (16×16 average pooling and a 1×1 convolution).
- sam_decoder.onnx: the standard SAM decoder signature; `masks` is +8 inside the box given
  by the first two prompt points (labels 2 and 3: top-left, bottom-right) and -8 outside,
  at `orig_im_size`, four times; `iou_predictions` is [0.95, 0.5, 0.4, 0.3].
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = [helper.make_opsetid("", 17)]


def save(graph, path, metadata=None):
    model = helper.make_model(graph, opset_imports=OPSET, producer_name="markpilot-tests")
    model.ir_version = 8
    for k, v in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.checker.check_model(model)
    onnx.save(model, path)


def yolo_narrow(path):
    """An output of [1, 3, 16]: fewer fields than a box needs (a broken export)."""
    const = numpy_helper.from_array(np.zeros((1, 3, 16), dtype=np.float32), "candidates")
    zero = numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero")
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["candidates", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "yolo_narrow",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 640, 640])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 3, 16])],
        [const, zero],
    )
    save(graph, path)


def yolo(path):
    # Candidates in the 640×640 letterboxed input: (cx, cy, w, h, score icon, score button).
    cands = [
        (100, 240, 40, 20, 0.05, 0.90),  # a button
        (102, 241, 40, 20, 0.10, 0.80),  # the same button again: suppressed by NMS
        (101, 240, 38, 20, 0.70, 0.02),  # an icon at the same place: another class, kept
        (400, 300, 30, 30, 0.85, 0.10),  # an icon
        (500, 200, 30, 30, 0.20, 0.10),  # below the confidence threshold
    ]
    n = 16
    data = np.zeros((1, 6, n), dtype=np.float32)
    for i, c in enumerate(cands):
        data[0, :, i] = c
    const = numpy_helper.from_array(data, "candidates")
    zero = numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero")
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["candidates", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 640, 640])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 6, n])],
        [const, zero],
    )
    save(graph, path, {"names": "{0: 'icon', 1: 'button'}"})


def sam_encoder(path):
    weight = numpy_helper.from_array(np.full((256, 3, 1, 1), 0.1, dtype=np.float32), "w")
    nodes = [
        helper.make_node("AveragePool", ["image"], ["pooled"], kernel_shape=[16, 16], strides=[16, 16]),
        helper.make_node("Conv", ["pooled", "w"], ["image_embeddings"]),
    ]
    graph = helper.make_graph(
        nodes,
        "sam_encoder",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 1024, 1024])],
        [helper.make_tensor_value_info("image_embeddings", TensorProto.FLOAT, [1, 256, 64, 64])],
        [weight],
    )
    save(graph, path)


def sam_decoder(path):
    c = lambda name, value, dtype=np.int64: numpy_helper.from_array(np.array(value, dtype=dtype), name)
    inits = [
        c("i0", 0), c("i1", 1), c("zero_i", 0), c("one_i", 1), c("ax0", [0]), c("ax1", [1]),
        c("inside", 8.0, np.float32), c("outside", -8.0, np.float32),
        c("ious", [[0.95, 0.5, 0.4, 0.3]], np.float32),
        c("low_res_shape", [1, 4, 256, 256]), c("zero_f", [0.0], np.float32),
    ]
    n = helper.make_node
    nodes = [
        n("Cast", ["orig_im_size"], ["size_i"], to=TensorProto.INT64),
        n("Gather", ["size_i", "i0"], ["H"], axis=0),
        n("Gather", ["size_i", "i1"], ["W"], axis=0),
        n("Range", ["zero_i", "H", "one_i"], ["ys_i"]),
        n("Range", ["zero_i", "W", "one_i"], ["xs_i"]),
        n("Cast", ["ys_i"], ["ys"], to=TensorProto.FLOAT),
        n("Cast", ["xs_i"], ["xs"], to=TensorProto.FLOAT),
        n("Squeeze", ["point_coords", "ax0"], ["points"]),
        n("Gather", ["points", "i0"], ["p0"], axis=0),
        n("Gather", ["points", "i1"], ["p1"], axis=0),
        n("Gather", ["p0", "i0"], ["x0"], axis=0),
        n("Gather", ["p0", "i1"], ["y0"], axis=0),
        n("Gather", ["p1", "i0"], ["x1"], axis=0),
        n("Gather", ["p1", "i1"], ["y1"], axis=0),
        n("GreaterOrEqual", ["xs", "x0"], ["gx"]),
        n("Less", ["xs", "x1"], ["lx"]),
        n("And", ["gx", "lx"], ["in_x"]),
        n("GreaterOrEqual", ["ys", "y0"], ["gy"]),
        n("Less", ["ys", "y1"], ["ly"]),
        n("And", ["gy", "ly"], ["in_y"]),
        n("Unsqueeze", ["in_y", "ax1"], ["in_y_col"]),
        n("Unsqueeze", ["in_x", "ax0"], ["in_x_row"]),
        n("And", ["in_y_col", "in_x_row"], ["in_box"]),
        n("Where", ["in_box", "inside", "outside"], ["mask2d"]),
        n("Unsqueeze", ["mask2d", "ax0"], ["mask3d"]),
        n("Unsqueeze", ["mask3d", "ax0"], ["mask4d"]),
        n("Concat", ["mask4d", "mask4d", "mask4d", "mask4d"], ["masks"], axis=1),
        n("Identity", ["ious"], ["iou_predictions"]),
        n("Expand", ["zero_f", "low_res_shape"], ["low_res_masks"]),
    ]
    f = TensorProto.FLOAT
    graph = helper.make_graph(
        nodes,
        "sam_decoder",
        [
            helper.make_tensor_value_info("image_embeddings", f, [1, 256, 64, 64]),
            helper.make_tensor_value_info("point_coords", f, [1, "num_points", 2]),
            helper.make_tensor_value_info("point_labels", f, [1, "num_points"]),
            helper.make_tensor_value_info("mask_input", f, [1, 1, 256, 256]),
            helper.make_tensor_value_info("has_mask_input", f, [1]),
            helper.make_tensor_value_info("orig_im_size", f, [2]),
        ],
        [
            helper.make_tensor_value_info("masks", f, [1, 4, "H", "W"]),
            helper.make_tensor_value_info("iou_predictions", f, [1, 4]),
            helper.make_tensor_value_info("low_res_masks", f, [1, 4, 256, 256]),
        ],
        inits,
    )
    save(graph, path)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    yolo(os.path.join(out, "yolo.onnx"))
    yolo_narrow(os.path.join(out, "yolo_narrow.onnx"))
    sam_encoder(os.path.join(out, "sam_encoder.onnx"))
    sam_decoder(os.path.join(out, "sam_decoder.onnx"))


if __name__ == "__main__":
    main()
