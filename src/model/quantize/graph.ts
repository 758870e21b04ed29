import { invalidArgument, ResnetServeError } from '../../errors.js';
import { attr, type OnnxGraph, type OnnxNode, type OnnxTensor } from '../onnx/graph.js';
import { type ActivationRanges, quantizeBias, quantizePerChannel, type UInt8Params, uint8Params } from './params.js';

/**
 * Which tensors of a float graph get quantised, mirroring what onnxruntime.quantization.quantize_static
 * (QuantFormat.QDQ, per_channel=True, QUInt8 activations, QInt8 weights) emits for a ResNet
 * (onnxruntime/python/tools/quantization/registry.py `QDQRegistry`, operators/activation.py, operators/maxpool.py),
 * and, for the other families, what it emits with `op_types_to_quantize` limited to the ops below: the
 * convolutions and matrix products run in int8, while Sigmoid, HardSigmoid, HardSwish, SiLU's Mul, the
 * squeeze-excitation Mul, LayerNormalization and GELU's Erf stay float between a DequantizeLinear and the next
 * QuantizeLinear.
 */
export interface QuantizationPlan {
  /**
   * Relu nodes folded into the Conv/Add before them (ORT `QDQRemovableActivation`): their output range starts at 0,
   * so its zero point is 0 and quantising already clamps at 0. The producer then writes the Relu's output name.
   */
  readonly droppedRelus: ReadonlySet<string>;
  /** Producer node name → the output name it takes over from its dropped Relu. */
  readonly foldedOutputs: ReadonlyMap<string, string>;
  /** Tensors with their own uint8 scale/zero point, by their name in the float graph: the ones to calibrate. */
  readonly rangeTensors: readonly string[];
  /** MaxPool/Flatten/Transpose outputs, which reuse their input's parameters so ORT runs them directly on uint8. */
  readonly sharedTensors: ReadonlyMap<string, string>;
}

/** Ops with int8 weights; their activation input is always quantised. */
const WEIGHTED_OPS = new Set(['Conv', 'Gemm', 'MatMul']);
const FOLDABLE_INTO_RELU = new Set(['Conv', 'Add']);
/** Ops whose output keeps the input's uint8 encoding (max, reshape and permutation do not change values). */
const PASS_THROUGH_OPS = new Set(['MaxPool', 'Flatten', 'Transpose']);
/**
 * Ops whose float output gets its own Q/DQ pair, so that ORT fuses them into QLinearConv, QLinearMatMul,
 * QLinearAdd and QLinearGlobalAveragePool. Gemm's output (the logits) stays float: QGemm still fuses. An Add of a
 * constant (ConvNeXt's Linear bias after MatMul, GELU's 1 + erf) is not among them: it stays float.
 */
const QUANTISED_OUTPUT_OPS = new Set(['Conv', 'MatMul', 'Add', 'Relu', 'GlobalAveragePool']);

/** Decides the QDQ placement for `graph` (any graph of the architectures/ builders, in topological order). */
export function planQuantization(graph: OnnxGraph): QuantizationPlan {
  const consumers = countConsumers(graph);
  const producers = new Map<string, OnnxNode>();
  for (const node of graph.nodes) for (const output of node.outputs) producers.set(output, node);
  const graphOutputs = new Set(graph.outputs.map((output) => output.name));

  const droppedRelus = new Set<string>();
  const foldedOutputs = new Map<string, string>();
  for (const node of graph.nodes) {
    const input = node.inputs[0];
    if (node.opType !== 'Relu' || input === undefined) continue;
    const producer = producers.get(input);
    if (producer !== undefined && FOLDABLE_INTO_RELU.has(producer.opType) && consumers.get(input) === 1 && !graphOutputs.has(input)) {
      droppedRelus.add(node.name);
      foldedOutputs.set(producer.name, outputOf(node));
    }
  }

  const rangeTensors = graph.inputs.filter((input) => input.elemType === 'float32').map((input) => input.name);
  const sharedTensors = new Map<string, string>();
  const quantised = new Set(rangeTensors);
  const quantiseOwn = (tensor: string): void => {
    rangeTensors.push(tensor);
    quantised.add(tensor);
  };
  for (const node of graph.nodes) {
    if (droppedRelus.has(node.name)) continue;
    const input = node.inputs[0] ?? '';
    // A float op (HardSwish, SE's Mul, LayerNorm…) feeding a Conv/MatMul/Gemm: its output is quantised there.
    if (WEIGHTED_OPS.has(node.opType) && !quantised.has(input)) quantiseOwn(input);
    const output = foldedOutputs.get(node.name) ?? outputOf(node);
    if (PASS_THROUGH_OPS.has(node.opType) && quantised.has(input)) {
      sharedTensors.set(output, sharedTensors.get(input) ?? input);
      quantised.add(output);
    } else if (QUANTISED_OUTPUT_OPS.has(node.opType) && !(node.opType === 'Add' && node.inputs.some((i) => graph.initializers.has(i)))) {
      quantiseOwn(output);
    }
  }
  return { droppedRelus, foldedOutputs, rangeTensors, sharedTensors };
}

/**
 * Rewrites a float graph into ONNX QDQ form that ONNX Runtime's CPU provider fuses into QLinearConv, QLinearAdd,
 * QLinearMatMul, QLinearGlobalAveragePool, uint8 MaxPool and QGemm
 * (onnxruntime/core/optimizer/qdq_transformer/selectors_actions):
 * - activations: QuantizeLinear → DequantizeLinear (uint8, per tensor) on the graph input and on every tensor
 *   of `plan.rangeTensors`; MaxPool/Flatten/Transpose outputs reuse their input's parameters;
 * - Conv/Gemm/MatMul weights: int8 per output channel (DequantizeLinear axis 0, MatMul's [in, out] axis 1, zero
 *   points 0);
 * - Conv/Gemm biases: int32, scale = input scale × weight scale, zero points 0.
 * The input graph is not modified; untouched initializers are shared, not copied.
 *
 * @param graph - float graph in topological order, Conv/Gemm weights and biases as initializers.
 * @param ranges - a range for every tensor of `planQuantization(graph).rangeTensors`.
 * @throws ResnetServeError INVALID_ARGUMENT when a range is missing or not finite.
 */
export function quantizeGraph(graph: OnnxGraph, ranges: ActivationRanges): OnnxGraph {
  const plan = planQuantization(graph);
  const params = new Map<string, UInt8Params>();
  for (const name of plan.rangeTensors) {
    params.set(name, uint8Params(finiteRange(`ranges.get(${JSON.stringify(name)})`, ranges.get(name))));
  }
  const paramsOf = (tensor: string): UInt8Params | undefined => params.get(plan.sharedTensors.get(tensor) ?? tensor);

  const initializers = new Map(graph.initializers);
  const nodes: OnnxNode[] = [];
  const quantised = new Set<string>();
  const addPair = (tensor: string, p: UInt8Params, shared: string | undefined): void => {
    const base = shared ?? tensor;
    if (shared === undefined) {
      initializers.set(`${base}.scale`, { dtype: 'float32', dims: [], data: new Float32Array([p.scale]) });
      initializers.set(`${base}.zero_point`, { dtype: 'uint8', dims: [], data: new Uint8Array([p.zeroPoint]) });
    }
    nodes.push(
      {
        opType: 'QuantizeLinear',
        name: `${tensor}.quantize`,
        inputs: [tensor, `${base}.scale`, `${base}.zero_point`],
        outputs: [`${tensor}.q`],
        attributes: {},
      },
      {
        opType: 'DequantizeLinear',
        name: `${tensor}.dequantize`,
        inputs: [`${tensor}.q`, `${base}.scale`, `${base}.zero_point`],
        outputs: [`${tensor}.dq`],
        attributes: {},
      },
    );
    quantised.add(tensor);
  };
  const quantiseIfPlanned = (tensor: string): void => {
    const p = paramsOf(tensor);
    if (p !== undefined) addPair(tensor, p, plan.sharedTensors.get(tensor));
  };

  for (const input of graph.inputs) quantiseIfPlanned(input.name);
  for (const node of graph.nodes) {
    if (plan.droppedRelus.has(node.name)) continue;
    let inputs = node.inputs.map((input) => (quantised.has(input) ? `${input}.dq` : input));
    if (WEIGHTED_OPS.has(node.opType)) inputs = quantizeWeights(node, inputs, paramsOf(node.inputs[0] ?? ''), initializers, nodes);
    const output = plan.foldedOutputs.get(node.name) ?? outputOf(node);
    nodes.push({ ...node, inputs, outputs: [output] });
    quantiseIfPlanned(output);
  }
  return { ...graph, name: `${graph.name}-int8-qdq`, initializers, nodes };
}

/** Replaces a Conv/Gemm/MatMul's float weight and bias initializers by int8/int32 ones behind DequantizeLinear nodes. */
function quantizeWeights(
  node: OnnxNode,
  inputs: string[],
  inputParams: UInt8Params | undefined,
  initializers: Map<string, OnnxTensor>,
  nodes: OnnxNode[],
): string[] {
  const [, weightName = '', biasName] = node.inputs;
  const weight = initializers.get(weightName);
  if (inputParams === undefined || weight?.dtype !== 'float32') {
    throw new ResnetServeError(
      'INTERNAL',
      `Cannot quantise ${node.opType} ${node.name}: its input is not quantised or its weight is not a float initializer.`,
    );
  }
  if (node.opType === 'Gemm' && node.attributes.transB?.value !== 1) {
    throw new ResnetServeError(
      'INTERNAL',
      `Cannot quantise Gemm ${node.name}: per-channel weights need transB=1 (output channels on axis 0).`,
    );
  }
  const axis = node.opType === 'MatMul' ? 1 : 0;
  const channels = weight.dims[axis] ?? 1;
  const q = quantizePerChannel(weight.data, channels, axis);
  const dequantize = (name: string, tensor: OnnxTensor, scales: Float32Array, zeroPoint: OnnxTensor): string => {
    initializers.delete(name);
    initializers.set(`${name}.quantized`, tensor);
    initializers.set(`${name}.scale`, { dtype: 'float32', dims: [channels], data: scales });
    initializers.set(`${name}.zero_point`, zeroPoint);
    nodes.push({
      opType: 'DequantizeLinear',
      name: `${name}.dequantize`,
      inputs: [`${name}.quantized`, `${name}.scale`, `${name}.zero_point`],
      outputs: [`${name}.dq`],
      attributes: { axis: attr.int(name === weightName ? axis : 0) },
    });
    return `${name}.dq`;
  };
  const result = [...inputs];
  result[1] = dequantize(weightName, { dtype: 'int8', dims: weight.dims, data: q.data }, q.scales, {
    dtype: 'int8',
    dims: [channels],
    data: new Int8Array(channels),
  });
  const bias = biasName === undefined ? undefined : initializers.get(biasName);
  if (biasName !== undefined && bias?.dtype === 'float32') {
    const b = quantizeBias(bias.data, inputParams.scale, q.scales);
    result[2] = dequantize(biasName, { dtype: 'int32', dims: [channels], data: b.data }, b.scales, {
      dtype: 'int32',
      dims: [channels],
      data: new Int32Array(channels),
    });
  }
  return result;
}

function countConsumers(graph: OnnxGraph): Map<string, number> {
  const counts = new Map<string, number>();
  for (const node of graph.nodes) for (const input of node.inputs) counts.set(input, (counts.get(input) ?? 0) + 1);
  return counts;
}

function outputOf(node: OnnxNode): string {
  const output = node.outputs[0];
  if (output === undefined) throw new ResnetServeError('INTERNAL', `Node ${node.name} has no output.`);
  return output;
}

/** A `{ min, max }` of finite numbers: an activation range calibration measured. */
function finiteRange<T extends { min: number; max: number }>(name: string, value: T | undefined): T {
  if (value === undefined || !Number.isFinite(value.min) || !Number.isFinite(value.max))
    throw invalidArgument(name, 'a finite { min, max }', value);
  return value;
}
