"""Backend selection (accelerators mocked through their probes) and the messages when one is missing."""

from __future__ import annotations

import logging
import sys
import types
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from ai_edge_litert import interpreter as litert

from selfsup_perception.core.modelcard import ModelLoadError
from selfsup_perception.inference import (
    BackendUnavailable,
    EdgeTPUBackend,
    auto_candidates,
    create_backend,
    model_file,
)
from selfsup_perception.inference.tflite import check_device, pycoral_edgetpu

ALL_PROVIDERS = ['TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider']


def no_delegate(library: str, options: dict | None = None) -> None:
    raise ValueError(f'Failed to load delegate from {library}')


@pytest.fixture(autouse=True)
def no_edgetpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Edge TPU runtime and no real pycoral, whatever the test machine has."""
    monkeypatch.setattr(litert, 'load_delegate', no_delegate)
    monkeypatch.setitem(sys.modules, 'pycoral', None)


def fake_pycoral(monkeypatch: pytest.MonkeyPatch, calls: list) -> None:
    """Install a stand-in for Coral's pycoral whose make_interpreter runs the model on the CPU."""

    def make_interpreter(model_path: str, device: str | None = None) -> litert.Interpreter:
        calls.append((model_path, device))
        return litert.Interpreter(model_path=model_path)

    edgetpu = types.ModuleType('pycoral.utils.edgetpu')
    edgetpu.make_interpreter = make_interpreter
    for name, module in (('pycoral', types.ModuleType('pycoral')), ('pycoral.utils', types.ModuleType('u'))):
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setitem(sys.modules, 'pycoral.utils.edgetpu', edgetpu)


def test_model_file_maps_every_format_to_its_siblings(tmp_path: Path) -> None:
    for given in ('net.v1.tflite', 'net.v1.onnx', 'net.v1_edgetpu.tflite'):
        assert model_file('edgetpu', tmp_path / given) == tmp_path / 'net.v1_edgetpu.tflite'
        assert model_file('tflite', tmp_path / given) == tmp_path / 'net.v1.tflite'
        assert model_file('onnx-cuda', tmp_path / given) == tmp_path / 'net.v1.onnx'
    with pytest.raises(ValueError, match='backend must be one of'):
        model_file('gpu', tmp_path / 'x.tflite')


def test_auto_candidates_follow_providers_and_files(
    model_dir: Path, edgetpu_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onnxruntime, 'get_available_providers', lambda: ALL_PROVIDERS)
    assert auto_candidates(model_dir / 'tiny_float.tflite') == [
        'onnx-tensorrt',
        'onnx-cuda',
        'tflite',
        'onnx-cpu',
    ]
    assert auto_candidates(edgetpu_model) == ['edgetpu', 'tflite']
    monkeypatch.setattr(onnxruntime, 'get_available_providers', lambda: ['CPUExecutionProvider'])
    assert auto_candidates(model_dir / 'tiny_nchw.onnx') == ['onnx-cpu']
    assert auto_candidates(model_dir / 'absent.tflite') == []


def test_auto_on_a_plain_cpu_picks_tflite_and_logs_it(
    model_dir: Path, edgetpu_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        backend = create_backend('auto', model_dir / 'tiny_int8.tflite')
    assert backend.name == 'tflite'
    assert 'skipping edgetpu' in caplog.text
    assert 'libedgetpu' in caplog.text
    assert 'auto -> tflite' in caplog.text


def test_auto_skips_a_gpu_provider_that_falls_back_to_cpu(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(onnxruntime, 'get_available_providers', lambda: ALL_PROVIDERS)
    (model_dir / 'tiny_float.tflite').unlink()
    with caplog.at_level(logging.INFO), pytest.warns(UserWarning, match='not in available provider'):
        backend = create_backend('auto', model_dir / 'tiny_float.onnx')
    assert backend.name == 'onnx-cpu'
    assert 'could not start TensorrtExecutionProvider' in caplog.text
    assert 'could not start CUDAExecutionProvider' in caplog.text


def test_auto_picks_the_edge_tpu_when_it_loads(
    edgetpu_model: Path, images: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list = []
    fake_pycoral(monkeypatch, calls)
    backend = create_backend('auto', edgetpu_model, device='usb:1')
    assert backend.name == 'edgetpu'
    assert calls == [(str(edgetpu_model), 'usb:1')]
    cpu = create_backend('tflite', edgetpu_model)
    np.testing.assert_array_equal(backend.run(images), cpu.run(images))


def test_edgetpu_without_pycoral_loads_the_delegate_with_the_device(
    edgetpu_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list = []

    def load_delegate(library: str, options: dict | None = None) -> None:
        calls.append((library, options))
        raise ValueError('no device')

    monkeypatch.setattr(litert, 'load_delegate', load_delegate)
    with pytest.raises(BackendUnavailable, match=r'libedgetpu\.so\.1 \(device pci:0\).*libedgetpu1-std'):
        create_backend('edgetpu', edgetpu_model, device='pci:0')
    assert calls == [('libedgetpu.so.1', {'device': 'pci:0'})]


def test_pypi_pycoral_is_not_taken_for_coral_pycoral(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, 'pycoral', types.ModuleType('pycoral'))  # the reef atlas: no .utils
    assert pycoral_edgetpu() is None


def test_edgetpu_refuses_a_model_not_compiled_for_it(model_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match=r'not compiled for the Edge TPU.*edgetpu_compiler'):
        EdgeTPUBackend().load(model_dir / 'tiny_int8.tflite')
    with pytest.raises(ModelLoadError, match=r'tiny_int8_edgetpu\.tflite, which does not exist; compile'):
        create_backend('edgetpu', model_dir / 'tiny_int8.tflite')


def test_device_strings() -> None:
    for good in (None, 'usb', 'pci', 'usb:0', 'pci:12', ':1'):
        assert check_device(good) == good
    for bad in ('', 'usb:', 'gpu:0', 'usb:x', 'usb0'):
        with pytest.raises(ValueError, match='Edge TPU device'):
            check_device(bad)
    with pytest.raises(ValueError, match='Edge TPU device'):
        create_backend('tflite', 'x.tflite', device='cuda')


@pytest.mark.parametrize(('name', 'hint'), [('onnx-tensorrt', 'TensorRT'), ('onnx-cuda', 'onnxruntime-gpu')])
def test_explicit_gpu_backend_without_its_provider(model_dir: Path, name: str, hint: str) -> None:
    with pytest.raises(BackendUnavailable, match=hint):
        create_backend(name, model_dir / 'tiny_float.onnx')


def test_missing_runtimes_say_what_to_install(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for package in ('ai_edge_litert', 'tflite_runtime'):
        monkeypatch.setitem(sys.modules, package, None)
        monkeypatch.setitem(sys.modules, f'{package}.interpreter', None)
    with pytest.raises(BackendUnavailable, match='pip install ai-edge-litert'):
        create_backend('tflite', model_dir / 'tiny_float.tflite')
    assert create_backend('auto', model_dir / 'tiny_float.tflite').name == 'onnx-cpu'
    monkeypatch.setitem(sys.modules, 'onnxruntime', None)
    with pytest.raises(BackendUnavailable, match='pip install onnxruntime'):
        create_backend('onnx-cpu', model_dir / 'tiny_float.onnx')
    with pytest.raises(BackendUnavailable, match='no backend can run tiny_float: tflite: no TFLite runtime'):
        create_backend('auto', model_dir / 'tiny_float.tflite')


def test_auto_without_any_model_file(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailable, match=r'no net\.tflite, net_edgetpu\.tflite or net\.onnx'):
        create_backend('auto', tmp_path / 'net.tflite')
    with pytest.raises(ValueError, match='backend must be one of'):
        create_backend('cuda', tmp_path / 'net.tflite')
