"""The hybrid's query graph: the backbone, its multi pooling and the head in one ONNX graph.

A photo query runs one image through the backbone, pools its maps in numpy and runs the
head's 9,584 x 512 first layer (20 MB of float32 weights, memory-bound) on one BLAS thread.
Here the pooling (:mod:`lookalike.encoders.pooling` ``multi``), the per-cell normalisation,
the input scaling (:func:`lookalike.encoders.pretrained.scale_input`) and the head
(:func:`lookalike.encoders.hybrid.head.head_outputs`) are appended to the bundle's backbone
graph in memory, so ONNX Runtime runs all of it on the query session's threads. The bundle's
files are never changed and the outputs match the unfused path within float rounding (a test
holds them to 1e-5); the class probabilities, fusion and projection stay in numpy (tiny).

Only the ``multi`` pooling with a head is fused; anything else keeps the unfused path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lookalike.encoders.pooling import LAST_CHANNELS

#: Inputs and outputs of the fused graph.
PIXELS, COLOUR = "pixels", "colour"
OUTPUTS = ("backbone", "z", "instance")
# As in lookalike.encoders.base.l2_normalize and pooling.describe.
_NORM_EPS = 1e-12
_GEM_FLOOR = 1e-6


def fused_query_model(backbone_path: Path, head: dict[str, np.ndarray]) -> bytes:
    """The serialized graph: uint8 ``pixels`` (n, s, s, 3) and float32 ``colour``
    (n, bins**3) -> ``backbone`` (n, 1280; the unit-length average block), ``z``
    (n, head_dim) and ``instance`` (n, instance_dim; (n, 0) without an instance output).

    Args:
        backbone_path: a ``multi``-pooled backbone graph (outputs ``map`` and ``mid``).
        head: folded head parameters (:func:`~lookalike.encoders.hybrid.head.head_to_numpy`).

    Returns:
        The ONNX model's bytes, to open with ``onnxruntime.InferenceSession``.

    Raises:
        ValueError: the graph is not a ``multi``-pooled backbone.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(backbone_path))
    graph = model.graph
    outputs = {o.name: o for o in graph.output}
    if set(outputs) != {"map", "mid"} or [i.name for i in graph.input] != ["images"]:
        raise ValueError(f"{backbone_path} is not a multi-pooled backbone graph")
    dims = outputs["map"].type.tensor_type.shape.dim
    h, w = dims[2].dim_value, dims[3].dim_value
    side = graph.input[0].type.tensor_type.shape.dim[2].dim_value
    if not (h and w and side):
        raise ValueError(f"{backbone_path} has no static feature-map size")
    nodes: list = []
    inits: list = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op: str, inputs: list[str], output: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=f"fused/{output}", **attrs))
        return output

    # Input scaling, exactly scale_input's float32 arithmetic: (x - 127) * (1 / 128). These
    # nodes feed the backbone, so they go first (a graph's nodes are in topological order).
    node("Cast", [PIXELS], "f/pixels", to=TensorProto.FLOAT)
    node("Sub", ["f/pixels", const("f/127", np.float32(127.0))], "f/centred")
    node("Mul", ["f/centred", const("f/inv128", np.float32(1.0 / 128.0))], "f/scaled")
    node("Transpose", ["f/scaled"], "images", perm=[0, 3, 1, 2])
    front, nodes = nodes, []

    def unit(x: str, name: str, scale: float = 1.0) -> str:
        """x / max(||x||, eps) (* scale), per row: l2_normalize, then normalize_blocks."""
        norm = node("ReduceL2", [x], f"{name}/norm", axes=[1], keepdims=1)
        floor = node("Max", [norm, const(f"{name}/eps", np.float32(_NORM_EPS))], f"{name}/n")
        out = node("Div", [x, floor], f"{name}/unit")
        if scale != 1.0:
            out = node("Mul", [out, const(f"{name}/scale", np.float32(scale))], f"{name}/s")
        return out

    mean = node("ReduceMean", ["map"], "f/avg", axes=[2, 3], keepdims=0)
    floor = node("Max", ["map", const("f/gem_floor", np.float32(_GEM_FLOOR))], "f/pos")
    square = node("Mul", [floor, floor], "f/sq")
    cube = node("Mul", [square, floor], "f/cube")
    cube_mean = node("ReduceMean", [cube], "f/cube_mean", axes=[2, 3], keepdims=0)
    gem = node("Pow", [cube_mean, const("f/third", np.float32(1.0 / 3.0))], "f/gem")
    peak = node("ReduceMax", ["map"], "f/max", axes=[2, 3], keepdims=0)
    # The 2x2 grid, cell-major (top-left, top-right, bottom-left, bottom-right); odd sides
    # give the first half the middle row/column, as pooling._mean_weights does.
    hh, hw = (h + 1) // 2, (w + 1) // 2
    cells = []
    for number, (rows, cols) in enumerate(
        (r, c) for r in ((0, hh), (hh, h)) for c in ((0, hw), (hw, w))
    ):
        start = const(f"f/g{number}/start", np.array([rows[0], cols[0]], np.int64))
        end = const(f"f/g{number}/end", np.array([rows[1], cols[1]], np.int64))
        axes = const(f"f/g{number}/axes", np.array([2, 3], np.int64))
        part = node("Slice", ["map", start, end, axes], f"f/g{number}/map")
        cells.append(node("ReduceMean", [part], f"f/g{number}", axes=[2, 3], keepdims=0))
    blocks = [unit(mean, "f/avg_n"), unit(gem, "f/gem_n"), unit(peak, "f/max_n")]
    blocks += [unit(cell, f"f/g{n}_n", 0.5) for n, cell in enumerate(cells)]
    blocks.append(unit("mid", "f/mid_n"))
    features = node("Concat", [*blocks, COLOUR], "f/features", axis=1)
    # The head: hidden = relu(x W1' + b1); z = unit(hidden W2' + b2); i = unit(hidden W3' + b3).
    hidden = node(
        "Gemm", [features, const("f/w1", head["w1"]), const("f/b1", head["b1"])], "f/h", transB=1
    )
    hidden = node("Relu", [hidden], "f/hidden")
    z = node(
        "Gemm", [hidden, const("f/w2", head["w2"]), const("f/b2", head["b2"])], "f/z", transB=1
    )
    node("Identity", [unit(z, "f/z_n")], "z")
    if "w3" in head:
        inst = node(
            "Gemm", [hidden, const("f/w3", head["w3"]), const("f/b3", head["b3"])], "f/i", transB=1
        )
        node("Identity", [unit(inst, "f/i_n")], "instance")
    else:
        shape = node("Shape", [features], "f/shape", start=0, end=1)
        width = const("f/zero", np.array([0], np.int64))
        node(
            "ConstantOfShape",
            [node("Concat", [shape, width], "f/empty", axis=0)],
            "instance",
            value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.0]),
        )
    node("Identity", [blocks[0]], "backbone")

    backbone = list(graph.node)
    del graph.node[:]
    graph.node.extend([*front, *backbone, *nodes])
    graph.initializer.extend(inits)
    del graph.input[:]
    graph.input.extend(
        [
            helper.make_tensor_value_info(PIXELS, TensorProto.UINT8, ["n", side, side, 3]),
            helper.make_tensor_value_info(COLOUR, TensorProto.FLOAT, ["n", None]),
        ]
    )
    del graph.output[:]
    graph.output.extend(
        [
            helper.make_tensor_value_info("backbone", TensorProto.FLOAT, ["n", LAST_CHANNELS]),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, ["n", None]),
            helper.make_tensor_value_info("instance", TensorProto.FLOAT, ["n", None]),
        ]
    )
    return model.SerializeToString()
