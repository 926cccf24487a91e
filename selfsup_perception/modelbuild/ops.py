"""Read the operators of a .tflite file (no TensorFlow needed) and check them against the Edge TPU.

The allowlist is Coral's table of operations the Edge TPU compiler maps
(https://coral.ai/docs/edgetpu/models-intro/#supported-operations), in TFLite builtin names.
DEQUANTIZE is not in that table (it runs on the CPU), so a full-integer model must not need it.
Ops that compute shapes at run time (SHAPE, and the STRIDED_SLICE/PACK that assemble a shape from
it) mean the graph is not static; this project's models never need them (fixed crops use SLICE),
so they are rejected even where Coral maps a static instance. Run as ``selfsup check-model MODEL...``
(exit status 1 if any model fails).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ai_edge_litert import schema_py_generated as schema

EDGETPU_OPS = frozenset(
    {
        'ADD',
        'AVERAGE_POOL_2D',
        'CONCATENATION',
        'CONV_2D',
        'DEPTHWISE_CONV_2D',
        'EXPAND_DIMS',
        'FULLY_CONNECTED',
        'L2_NORMALIZATION',
        'LOGISTIC',
        'UNIDIRECTIONAL_SEQUENCE_LSTM',
        'MAXIMUM',
        'MAX_POOL_2D',
        'MEAN',
        'MINIMUM',
        'MUL',
        'PACK',
        'PAD',
        'PRELU',
        'QUANTIZE',
        'REDUCE_MAX',
        'REDUCE_MIN',
        'RELU',
        'RELU6',
        'RELU_N1_TO_1',
        'RESHAPE',
        'RESIZE_BILINEAR',
        'RESIZE_NEAREST_NEIGHBOR',
        'RSQRT',
        'SLICE',
        'SOFTMAX',
        'SPACE_TO_DEPTH',
        'SPLIT',
        'SQUEEZE',
        'STRIDED_SLICE',
        'SUB',
        'SUM',
        'SQUARED_DIFFERENCE',
        'TANH',
        'TRANSPOSE',
        'TRANSPOSE_CONV',
    }
)
DYNAMIC_SHAPE_OPS = frozenset(
    {
        'SHAPE',
        'RANK',
        'STRIDED_SLICE',
        'PACK',
        'UNPACK',
        'FILL',
        'RANGE',
        'BROADCAST_ARGS',
        'WHERE',
    }
)
_QUANTISED_TYPES = frozenset({schema.TensorType.INT8, schema.TensorType.UINT8, schema.TensorType.INT32})
_OP_NAMES = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith('_')}


@dataclass(frozen=True)
class OpsReport:
    """What in a .tflite file keeps it off the Edge TPU; ``ok`` when nothing does."""

    path: Path
    ops: tuple[str, ...]
    offending: dict[str, str]
    dynamic_tensors: tuple[str, ...]
    float_tensors: tuple[str, ...]
    subgraphs: int

    @property
    def ok(self) -> bool:
        return not (self.offending or self.dynamic_tensors or self.float_tensors) and self.subgraphs == 1

    def problems(self) -> list[str]:
        """One line per problem, for messages and logs."""
        lines = [f'{op}: {reason}' for op, reason in sorted(self.offending.items())]
        if self.dynamic_tensors:
            lines.append(
                f'{len(self.dynamic_tensors)} tensors of dynamic shape (-1 in the signature): '
                f'{", ".join(self.dynamic_tensors[:3])}'
            )
        if self.float_tensors:
            lines.append(
                f'{len(self.float_tensors)} float tensors (not fully integer): {self.float_tensors[0]}, ...'
            )
        if self.subgraphs != 1:
            lines.append(f'{self.subgraphs} subgraphs (the Edge TPU compiler maps one)')
        return lines


def _op_name(code: schema.OperatorCode) -> str:
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    if builtin == schema.BuiltinOperator.CUSTOM:
        return f'CUSTOM:{(code.CustomCode() or b"").decode()}'
    return _OP_NAMES.get(builtin, f'BUILTIN_{builtin}')


def read_ops(path: str | Path) -> list[str]:
    """Builtin operator names of every operator in the model, in graph order (custom ops as CUSTOM:name)."""
    return list(check_edgetpu(path).ops)


def check_edgetpu(
    path: str | Path, allowed: frozenset[str] = EDGETPU_OPS, forbidden: frozenset[str] = DYNAMIC_SHAPE_OPS
) -> OpsReport:
    """Parse the .tflite flatbuffer and report ops outside ``allowed`` or in ``forbidden``, tensors with
    dynamic dimensions, float activations and extra subgraphs."""
    path = Path(path)
    buffer = path.read_bytes()
    if not schema.Model.ModelBufferHasIdentifier(buffer, 0):
        raise ValueError(f'{path} is not a TFLite flatbuffer')
    model = schema.Model.GetRootAs(buffer, 0)
    codes = [_op_name(model.OperatorCodes(i)) for i in range(model.OperatorCodesLength())]
    ops, dynamic, floats = [], [], []
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        activations: set[int] = set()
        for o in range(graph.OperatorsLength()):
            op = graph.Operators(o)
            ops.append(codes[op.OpcodeIndex()])
            activations.update(int(i) for i in op.InputsAsNumpy() if i >= 0)
            activations.update(int(i) for i in op.OutputsAsNumpy())
        for t in range(graph.TensorsLength()):
            tensor = graph.Tensors(t)
            name = (tensor.Name() or b'').decode()
            if not tensor.ShapeSignatureIsNone() and (tensor.ShapeSignatureAsNumpy() < 0).any():
                dynamic.append(name)
            if t in activations and tensor.Type() not in _QUANTISED_TYPES:
                floats.append(name)
    offending = {}
    for op in sorted(set(ops)):
        if op in forbidden:
            offending[op] = 'computes shapes at run time (the graph must be static)'
        elif op not in allowed:
            offending[op] = 'not mapped by the Edge TPU compiler'
    return OpsReport(path, tuple(ops), offending, tuple(dynamic), tuple(floats), model.SubgraphsLength())
