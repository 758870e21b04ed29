/**
 * The deployment manifests (deploy/kubernetes, deploy/kserve) and the Dockerfile as data, for the tests that
 * check them against the image and the server: only the fields those tests read are typed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));

export interface Probe {
  httpGet?: { path: string; port: number | string };
  periodSeconds?: number;
  failureThreshold?: number;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { resourceFieldRef?: { resource: string; divisor?: string } };
}

export interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean };
  volumeMounts?: { name: string; mountPath: string }[];
}

export interface Volume {
  name: string;
  emptyDir?: { medium?: string; sizeLimit?: string };
}

export interface PodSpec {
  containers: Container[];
  volumes?: Volume[];
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; runAsGroup?: number };
}

type Labels = Record<string, string>;

/** The specs the tests read, by kind. */
export interface Specs {
  Deployment: { selector: { matchLabels: Labels }; template: { metadata: { labels: Labels }; spec: PodSpec } };
  Service: { selector: Labels; ports: { name?: string; port: number; targetPort: number | string }[] };
  HorizontalPodAutoscaler: {
    scaleTargetRef: { apiVersion: string; kind: string; name: string };
    minReplicas: number;
    metrics: { type: string; resource?: { name: string } }[];
  };
  PodDisruptionBudget: { selector: { matchLabels: Labels }; maxUnavailable?: number; minAvailable?: number };
  ServingRuntime: PodSpec & { supportedModelFormats: { name: string }[]; protocolVersions: string[] };
  Job: { completionMode: string; completions: number; parallelism: number; template: { spec: PodSpec } };
  InferenceService: {
    predictor: { model: { runtime: string; modelFormat: { name: string }; protocolVersion: string; storageUri: string } };
  };
  Kustomization: never;
}

export interface Manifest<K extends keyof Specs = keyof Specs> {
  apiVersion: string;
  kind: K;
  metadata: { name: string; labels?: Labels };
  spec: Specs[K];
  file: string;
}

/** Every document of every .yaml file under deploy/<folder>, with the file it came from. */
export function loadManifests(folder: 'kubernetes' | 'kserve' | 'kserve-repository'): Manifest[] {
  const dir = join(REPO, 'deploy', folder);
  const manifests: Manifest[] = [];
  for (const file of readdirSync(dir)
    .filter((name) => name.endsWith('.yaml'))
    .sort()) {
    for (const document of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      if (document.errors.length > 0) throw new Error(`${folder}/${file}: ${document.errors.map((e) => e.message).join('; ')}`);
      manifests.push({ ...(document.toJS() as Omit<Manifest, 'file'>), file });
    }
  }
  return manifests;
}

export function byKind<K extends keyof Specs>(manifests: Manifest[], kind: K): Manifest<K> {
  const found = manifests.filter((m): m is Manifest<K> => m.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0]!;
}

/** Bytes of a Kubernetes memory quantity (`384Mi`, `512M`, `1Gi`). */
export function memoryBytes(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|k|M|G)?$/.exec(quantity);
  if (match === null) throw new Error(`not a memory quantity: ${quantity}`);
  const unit = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, k: 1e3, M: 1e6, G: 1e9 }[match[2] ?? ''] ?? 1;
  return Number(match[1]) * unit;
}

/** Cores of a Kubernetes CPU quantity (`2`, `500m`). */
export function cpuCores(quantity: string): number {
  return quantity.endsWith('m') ? Number(quantity.slice(0, -1)) / 1000 : Number(quantity);
}

/**
 * A container's environment as the kubelet gives it: values as written, `resourceFieldRef`s of CPU as the
 * downward API computes them (the limit divided by the divisor, rounded up).
 */
export function containerEnv(container: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const variable of container.env ?? []) {
    if (variable.value !== undefined) {
      env[variable.name] = variable.value;
      continue;
    }
    const ref = variable.valueFrom?.resourceFieldRef;
    if (ref === undefined || !ref.resource.endsWith('.cpu'))
      throw new Error(`${variable.name}: only values and CPU resourceFieldRefs are understood`);
    const [section, resource] = ref.resource.split('.') as ['limits' | 'requests', string];
    const quantity = container.resources?.[section]?.[resource];
    if (quantity === undefined) throw new Error(`${variable.name}: ${ref.resource} is not set`);
    env[variable.name] = String(Math.ceil(cpuCores(quantity) / cpuCores(ref.divisor ?? '1')));
  }
  return env;
}

/** What the Dockerfile's runtime stage declares: its exposed port, user id and environment. */
export interface ImageFacts {
  exposedPort: number;
  uid: number;
  env: Record<string, string>;
  entrypoint: string[];
}

export function dockerfileFacts(): ImageFacts {
  const text = readFileSync(join(REPO, 'Dockerfile'), 'utf8').replace(/\\\n(\s*#.*\n)*/g, ' ');
  const runtime = text.slice(text.lastIndexOf('\nFROM '));
  const exposed = /^EXPOSE\s+(\d+)/m.exec(runtime);
  const user = /^USER\s+(\d+)/m.exec(runtime);
  const entrypoint = /^ENTRYPOINT\s+(\[.*\])$/m.exec(runtime);
  if (exposed === null || user === null || entrypoint === null) throw new Error('the Dockerfile has no EXPOSE, numeric USER or ENTRYPOINT');
  const env: Record<string, string> = {};
  for (const line of runtime.split('\n').filter((l) => l.startsWith('ENV '))) {
    // Without build arguments, `${ARG:+word}` is empty.
    for (const [, key, value] of line.slice(4).matchAll(/([A-Za-z_][A-Za-z0-9_]*)=(\S*)/g))
      env[key!] = value!.replace(/\$\{[A-Z_]+:\+[^}]*\}/g, '');
  }
  return { exposedPort: Number(exposed[1]), uid: Number(user[1]), env, entrypoint: JSON.parse(entrypoint[1]!) as string[] };
}
