"""lookalike.encoders.quantize: which CPUs saturate int8 sums, and 7-bit weights there."""

from __future__ import annotations

import warnings

import numpy as np

from lookalike.encoders import pretrained, quantize
from lookalike.encoders.quantize import int8_saturates, int8_weight_bits


def test_only_x86_cpus_without_vnni_or_amx_saturate(monkeypatch):
    avx2 = {"sse2", "avx", "avx2", "fma"}
    assert int8_saturates("x86_64", avx2)
    assert not int8_saturates("x86_64", avx2 | {"avx512f", "avx512_vnni"})
    assert not int8_saturates("x86_64", avx2 | {"avx_vnni"})
    assert not int8_saturates("AMD64", avx2 | {"amx_int8"})
    assert not int8_saturates("aarch64", set())  # other kernels: no int16 pair sums
    monkeypatch.setattr(quantize, "cpu_flags", lambda: None)  # flags unreadable: no claim
    assert not int8_saturates("x86_64")


def test_an_8_bit_graph_warns_only_on_a_saturating_cpu(tmp_path, monkeypatch):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def graph(name: str, weights: np.ndarray):
        init = numpy_helper.from_array(weights.astype(np.int8), "w")
        node = helper.make_node("Identity", ["w"], ["y"])
        out = helper.make_tensor_value_info("y", TensorProto.INT8, list(weights.shape))
        model = helper.make_model(helper.make_graph([node], "g", [], [out], [init]))
        path = tmp_path / name
        onnx.save(model, str(path))
        return path

    seven = graph("backbone-int8.onnx", np.array([-64, 3, 64]))
    eight = graph("backbone-multi-int8.onnx", np.array([-127, 5]))
    assert int8_weight_bits(seven) == 7 and int8_weight_bits(eight) == 8
    monkeypatch.setattr(pretrained, "int8_saturates", lambda: True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pretrained.warn_if_int8_saturates(seven)
        pretrained.warn_if_int8_saturates(eight)
    assert [str(w.message).split(":")[0] for w in caught] == [str(eight)]
    monkeypatch.setattr(pretrained, "int8_saturates", lambda: False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pretrained.warn_if_int8_saturates(eight)
    assert caught == []
