import { ResnetServeError } from '../errors.js';
import { checkRecipe, IMAGENET_RECIPE, type PreprocessRecipe } from '../image/recipe.js';
import { ARCHITECTURES, type ArchitectureFamily } from './architectures/index.js';
import { FEATURES_NAME } from './features.js';
import { type ModelOutline, ONNX_TYPE, type ValueInfo } from './onnx/model-reader.js';
import { IMAGENET_1K_CLASSES, type Precision } from './types.js';

/**
 * The one description of a served model that every layer reads: the engine checks its session against it, the
 * classifier sizes its tensors, decode budget and maps by it, the protocols publish it (OIP model metadata, /config,
 * TorchServe's version), the page's on-device mode repeats its recipe, and every answer names `id`.
 *
 * It lives in the model file: the converter writes it into the ONNX `metadata_props` (keys {@link CONTRACT_KEYS})
 * when it builds the model, and {@link contractOf} reads it back with the graph's own shapes. For an `.onnx` made
 * elsewhere the shapes give the input size, classes and outputs, and ResNet-18 IMAGENET1K_V1's recipe applies unless
 * a `<stem>.json` beside the file says otherwise (model/read-contract.ts).
 */
export interface ModelContract {
  /** What answers name the model by: `<name>-<version>`, e.g. `resnet50-11ad3fa6`. */
  readonly id: string;
  /** The TorchVision builder (`resnet50`), or the `.onnx` file's stem for a model made elsewhere. */
  readonly name: string;
  /** First 8 hex digits of the SHA-256 of the weights it was converted from (of the `.onnx` itself when made elsewhere). */
  readonly version: string;
  /** TorchVision's builder name, when resnet-serve built the model. */
  readonly architecture: string | undefined;
  /** The file the model came from: the weights it was converted from, or the `.onnx` made elsewhere. */
  readonly source: { readonly file: string; readonly sha256: string };
  readonly precision: Precision;
  /** The preprocessing its inputs need: the weights' `transforms()`. */
  readonly recipe: PreprocessRecipe;
  readonly classes: number;
  /** The label set of its classes; undefined: numbered (`class_17`). */
  readonly labels: LabelSetName | undefined;
  /** The graph's image input, float32 [N, 3, recipe.cropSize, recipe.cropSize]. */
  readonly input: string;
  /** The graph's logits output, float32 [N, classes]. */
  readonly output: string;
  /** The `features` output explanations read, [N, channels, grid, grid]; undefined when the model has none. */
  readonly features: { readonly channels: number; readonly grid: number } | undefined;
  /** Why the model cannot explain its answers (EXPLAIN_UNAVAILABLE's reason); undefined when it can. */
  readonly unexplainable: string | undefined;
}

/** The label sets resnet-serve has names for (labels/): torchvision's `_IMAGENET_CATEGORIES` and their Chinese. */
export type LabelSetName = 'imagenet-1k';

/** The label set of a model with `classes` outputs: ImageNet-1k's names for 1000, none (numbered) otherwise. */
export function labelsFor(classes: number): LabelSetName | undefined {
  return classes === IMAGENET_1K_CLASSES ? 'imagenet-1k' : undefined;
}

/** The `metadata_props` keys of the contract, as the converter writes them. */
export const CONTRACT_KEYS = Object.freeze({
  architecture: 'resnet-serve.architecture',
  weights: 'resnet-serve.weights',
  weightsSha256: 'resnet-serve.weights_sha256',
  precision: 'resnet-serve.precision',
  recipe: 'resnet-serve.recipe',
  labels: 'resnet-serve.labels',
});

/** Hex digits of a SHA-256 in a model's version, as TorchVision's file names carry them (`resnet50-11ad3fa6.pth`). */
export const VERSION_DIGITS = 8;

/** A model's id: its name and the first {@link VERSION_DIGITS} hex digits of a SHA-256 (`resnet50-11ad3fa6`). */
export function modelId(name: string, sha256: string): string {
  return `${name}-${sha256.slice(0, VERSION_DIGITS)}`;
}

/** What the converter knows when it builds a model, which {@link contractMetadata} writes into the file. */
export interface ConvertedModel {
  readonly architecture: string;
  readonly weights: { readonly file: string; readonly sha256: string };
  readonly precision: Precision;
  readonly recipe: PreprocessRecipe;
  readonly labels: LabelSetName | undefined;
}

/** The contract as `metadata_props` entries, for `encodeModel(graph, metadata)`. */
export function contractMetadata(model: ConvertedModel): Record<string, string> {
  return {
    [CONTRACT_KEYS.architecture]: model.architecture,
    [CONTRACT_KEYS.weights]: model.weights.file,
    [CONTRACT_KEYS.weightsSha256]: model.weights.sha256,
    [CONTRACT_KEYS.precision]: model.precision,
    [CONTRACT_KEYS.recipe]: JSON.stringify(model.recipe),
    ...(model.labels === undefined ? {} : { [CONTRACT_KEYS.labels]: model.labels }),
  };
}

/** How a model made elsewhere is described: what its file is, and what a `<stem>.json` beside it says. */
export interface ForeignModel {
  /** The `.onnx` file's stem, the model's name. */
  readonly stem: string;
  readonly file: string;
  readonly sha256: string;
  /** From `<stem>.json`; default ResNet-18 IMAGENET1K_V1's ({@link IMAGENET_RECIPE}). */
  readonly recipe?: PreprocessRecipe;
}

/** Why a family's head gives no map that adds up to its logits (torchvision/models/<family>.py). */
const UNEXPLAINABLE_HEADS: Partial<Record<ArchitectureFamily, string>> = {
  convnext: "ConvNeXt's head normalises the pooled features (LayerNorm2d) before its linear layer",
  mobilenet_v3: "MobileNetV3's head is Linear → Hardswish → Linear after the pool",
};

/**
 * The contract of an ONNX model from its outline: the metadata the converter wrote when there is any (the
 * architecture and weights it came from, precision, recipe, labels), else `foreign`; and from the graph itself the
 * input, logits and features, which must be what resnet-serve runs.
 *
 * @param recipe - a recipe that overrides the file's (a `<stem>.json` beside it).
 * @throws ResnetServeError MODEL_INVALID when the graph's inputs or outputs are not one float32 [N, 3, S, S] image
 *   input, one float32 [N, classes] output and optionally `features` [N, K, g, g], or S is not the recipe's crop
 *   size, or the metadata is malformed; INVALID_ARGUMENT when the recipe is.
 */
export function contractOf(outline: ModelOutline, foreign: ForeignModel): ModelContract {
  const io = graphContract(outline);
  const meta = outline.metadata;
  const architecture = meta.get(CONTRACT_KEYS.architecture);
  const sha256 = meta.get(CONTRACT_KEYS.weightsSha256);
  const recipeText = meta.get(CONTRACT_KEYS.recipe);
  const ours = architecture !== undefined && sha256 !== undefined && recipeText !== undefined;
  const invalid = (why: string): never => {
    throw new ResnetServeError('MODEL_INVALID', `The ONNX model ${foreign.file} does not fit resnet-serve: ${why}.`);
  };
  if (ours && !/^[0-9a-f]{64}$/.test(sha256)) invalid(`its ${CONTRACT_KEYS.weightsSha256} is not a SHA-256`);
  const recipe =
    foreign.recipe ?? (ours ? checkRecipe(parseJson(recipeText, invalid), `${CONTRACT_KEYS.recipe} of ${foreign.file}`) : IMAGENET_RECIPE);
  if (io.inputSize !== undefined && io.inputSize !== recipe.cropSize) {
    invalid(
      `its input is ${io.inputSize} px square but the recipe crops ${recipe.cropSize} px` +
        (ours ? '' : ` (ResNet-18's, unless ${foreign.stem}.json beside it gives the model's own recipe)`),
    );
  }
  const labelsText = meta.get(CONTRACT_KEYS.labels);
  if (labelsText !== undefined && labelsText !== 'imagenet-1k') invalid(`its label set ${JSON.stringify(labelsText)} is not imagenet-1k`);
  const labels: LabelSetName | undefined = labelsText !== undefined || !ours ? labelsFor(io.classes) : undefined;
  const name = ours ? architecture : foreign.stem;
  const version = (ours ? sha256 : foreign.sha256).slice(0, VERSION_DIGITS);
  const precisionText = meta.get(CONTRACT_KEYS.precision);
  if (precisionText !== undefined && precisionText !== 'fp32' && precisionText !== 'int8')
    invalid(`its precision ${precisionText} is not fp32 or int8`);
  return Object.freeze({
    id: modelId(name, version),
    name,
    version,
    architecture: ours ? architecture : undefined,
    source: Object.freeze(ours ? { file: meta.get(CONTRACT_KEYS.weights) ?? '', sha256 } : { file: foreign.file, sha256: foreign.sha256 }),
    precision: (precisionText as Precision | undefined) ?? (isQuantised(outline) ? 'int8' : 'fp32'),
    recipe,
    classes: io.classes,
    labels,
    input: io.input,
    output: io.output,
    features: io.features,
    unexplainable: io.features !== undefined ? undefined : unexplainable(ours ? architecture : undefined),
  });
}

/** The converter wrote a contract into this model: `foreign.sha256` is then not read. */
export function isConverted(outline: ModelOutline): boolean {
  return [CONTRACT_KEYS.architecture, CONTRACT_KEYS.weightsSha256, CONTRACT_KEYS.recipe].every((key) => outline.metadata.has(key));
}

function parseJson(text: string, invalid: (why: string) => never): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return invalid(`its ${CONTRACT_KEYS.recipe} is not JSON`);
  }
}

/** A graph with QDQ or QLinear nodes computes in int8, whoever made it. */
function isQuantised(outline: ModelOutline): boolean {
  return outline.nodes.some((node) => node.opType === 'DequantizeLinear' || node.opType.startsWith('QLinear'));
}

function unexplainable(architecture: string | undefined): string {
  if (architecture === undefined) return `it has no ${FEATURES_NAME} output [N, channels, g, g] (an .onnx made elsewhere)`;
  const family = ARCHITECTURES.get(architecture)?.family;
  const head =
    (family === undefined ? undefined : UNEXPLAINABLE_HEADS[family]) ?? `the head of ${architecture} is not global-average-pool → linear`;
  return `${head}, so no map adds up to its logits`;
}

interface GraphContract {
  input: string;
  /** undefined when the graph's height and width are symbolic: the recipe's crop size is then used. */
  inputSize: number | undefined;
  output: string;
  classes: number;
  features: { channels: number; grid: number } | undefined;
}

/** The input, logits and features of a graph, checked against what the classifier runs. */
function graphContract(outline: ModelOutline): GraphContract {
  const fail = (why: string): never => {
    throw new ResnetServeError(
      'MODEL_INVALID',
      `The ONNX model does not fit resnet-serve: ${why}. Expected one input float32 [N,3,S,S] and one output float32 [N,classes] (plus, optionally, ${FEATURES_NAME} [N,K,g,g]).`,
    );
  };
  const { inputs } = outline;
  const outputs = outline.outputs.filter((o) => o.name !== FEATURES_NAME);
  const [input] = inputs;
  const [output] = outputs;
  if (inputs.length !== 1 || input === undefined) return fail(`it has ${inputs.length} inputs`);
  if (outputs.length !== 1 || output === undefined) return fail(`it has ${outline.outputs.length} outputs`);
  if (input.elemType !== ONNX_TYPE.float32) return fail(`input ${input.name} is not float32`);
  if (output.elemType !== ONNX_TYPE.float32) return fail(`output ${output.name} is not float32`);
  const [, channels, height, width] = input.shape ?? [];
  const fixed = typeof height === 'number' && height === width;
  const symbolic = typeof height !== 'number' && typeof width !== 'number';
  if (input.shape?.length !== 4 || channels !== 3 || !(fixed || symbolic)) return fail(`input ${input.name} has shape ${shapeText(input)}`);
  const classes = output.shape?.[1];
  if (output.shape?.length !== 2 || typeof classes !== 'number' || classes < 1)
    return fail(`output ${output.name} has shape ${shapeText(output)}`);
  return { input: input.name, inputSize: fixed ? height : undefined, output: output.name, classes, features: featuresOf(outline.outputs) };
}

/** The `features` output's channels and grid when it is a square float32 map; otherwise the model cannot explain. */
function featuresOf(outputs: readonly ValueInfo[]): GraphContract['features'] {
  const features = outputs.find((o) => o.name === FEATURES_NAME);
  const [, channels, height, width] = features?.shape ?? [];
  const fits =
    features?.elemType === ONNX_TYPE.float32 &&
    features.shape?.length === 4 &&
    typeof channels === 'number' &&
    channels > 0 &&
    typeof height === 'number' &&
    height > 0 &&
    height === width;
  return fits ? { channels, grid: height } : undefined;
}

function shapeText(info: ValueInfo): string {
  return `[${(info.shape ?? []).map((d) => d ?? '?').join(',')}]`;
}
