/**
 * The Kubernetes and KServe manifests checked against the Dockerfile and the real server: each pod's container
 * is started on this machine with exactly its args and environment (as the image's entrypoint would run them,
 * volumes as folders, the port and address made local), its probes are asked, its variables must each be a
 * setting the server reads. What needs the image itself (the memory limit against the measured peak, the
 * preStop command) is checked by the container test.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DEFAULTS } from '../../src/cli/settings.js';
import { DEFAULT_WEIGHTS } from '../../src/weights/default-weights.js';
import { CLI, startCli } from '../helpers/cli-process.js';
import { getStatus } from '../helpers/http.js';
import { byKind, type Container, containerEnv, dockerfileFacts, loadManifests, type Manifest, type PodSpec } from '../helpers/manifests.js';
import { encodeSafetensors } from '../helpers/safetensors.js';
import { syntheticResNet18StateDict } from '../helpers/synthetic-weights.js';

const image = dockerfileFacts();
const kubernetes = loadManifests('kubernetes');
const kserve = loadManifests('kserve');
const deployment = byKind(kubernetes, 'Deployment');
const pod = deployment.spec.template.spec;
const container = pod.containers[0]!;
const runtime = byKind(kserve, 'ServingRuntime');
const inferenceService = byKind(kserve, 'InferenceService');
/** Where KServe's storage initializer puts the storageUri's file. */
const KSERVE_MODELS = '/mnt/models';

let dir: string;
let checkpoint: Buffer;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'resnet-serve-manifests-'));
  checkpoint = encodeSafetensors(syntheticResNet18StateDict(4242));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('deploy/kubernetes', () => {
  test('every file parses, and the kustomization lists every manifest but the Job', () => {
    const files = new Set(kubernetes.filter((m) => m.kind !== 'Kustomization').map((m) => m.file));
    const kustomization = kubernetes.find((m) => m.kind === 'Kustomization') as unknown as { resources: string[] };
    expect(new Set(kustomization.resources)).toEqual(new Set([...files].filter((f) => !f.startsWith('classify-job'))));
  });

  test('the Deployment runs the image as its non-root user on a read-only root, caches in an emptyDir on disk', () => {
    expect(deployment.spec.selector.matchLabels).toEqual(deployment.spec.template.metadata.labels);
    expect(pod.securityContext?.runAsNonRoot).toBe(true);
    expect(pod.securityContext?.runAsUser).toBe(image.uid);
    expect(container.securityContext?.readOnlyRootFilesystem).toBe(true);
    expect(container.securityContext?.allowPrivilegeEscalation).toBe(false);
    expect(container.ports?.map((p) => p.containerPort)).toEqual([image.exposedPort]);
    const home = containerEnv(container).RESNET_SERVE_HOME ?? image.env.RESNET_SERVE_HOME;
    const mount = container.volumeMounts?.find((m) => m.mountPath === home);
    const volume = pod.volumes?.find((v) => v.name === mount?.name);
    expect(volume?.emptyDir).toBeDefined();
    // A tmpfs would count the ~140 MB of cached models against the memory limit.
    expect(volume?.emptyDir?.medium).toBeUndefined();
    expect(container.resources?.limits?.memory).toBeDefined();
    expect(container.resources?.limits?.cpu).toBeDefined();
  });

  test('the grace period covers the preStop pause and the longest drain the server allows', () => {
    const command = container.lifecycle?.preStop?.exec?.command ?? [];
    expect(command[0]).toBe('sleep');
    const pause = Number(command[1]);
    expect(pause).toBeGreaterThan(0);
    const requestTimeoutMs = Number(containerEnv(container).RESNET_SERVE_REQUEST_TIMEOUT ?? DEFAULTS.requestTimeoutMs);
    // installShutdownHandlers gives up draining requestTimeoutMs + 5 s after SIGTERM (src/server/start.ts).
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(pause + (requestTimeoutMs + 5000) / 1000);
  });

  test('the Service, the HorizontalPodAutoscaler and the PodDisruptionBudget point at the Deployment', () => {
    const labels = deployment.spec.template.metadata.labels;
    const service = byKind(kubernetes, 'Service');
    expect(labels).toMatchObject(service.spec.selector);
    const named = container.ports?.map((p) => p.name);
    for (const port of service.spec.ports) expect(named).toContain(port.targetPort);
    const hpa = byKind(kubernetes, 'HorizontalPodAutoscaler');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: deployment.apiVersion, kind: 'Deployment', name: deployment.metadata.name });
    expect(hpa.spec.metrics.map((m) => m.resource?.name)).toEqual(['cpu']);
    // HPA's utilisation is of the request: without one it cannot scale.
    expect(container.resources?.requests?.cpu).toBeDefined();
    const pdb = byKind(kubernetes, 'PodDisruptionBudget');
    expect(labels).toMatchObject(pdb.spec.selector.matchLabels);
    expect(pdb.spec.maxUnavailable ?? 0).toBeLessThan(hpa.spec.minReplicas);
  });

  test('the Deployment container, started with exactly its args and env: readiness 503 then 200, every probe 200, SIGTERM exits 0', async () => {
    await checkContainer(deployment, pod, container, {});
  }, 120_000);
});

describe('deploy/kserve', () => {
  const served = runtime.spec.containers[0]!;

  test('the InferenceService names the runtime, a format and a protocol it declares, and the file it reads', () => {
    const model = inferenceService.spec.predictor.model;
    expect(model.runtime).toBe(runtime.metadata.name);
    expect(runtime.spec.supportedModelFormats.map((f) => f.name)).toContain(model.modelFormat.name);
    expect(runtime.spec.protocolVersions).toContain(model.protocolVersion);
    expect(runtime.spec.protocolVersions).toContain('v2');
    const weights = containerEnv(served).RESNET_SERVE_WEIGHTS ?? '';
    expect(dirname(weights)).toBe(KSERVE_MODELS);
    expect(basename(new URL(model.storageUri).pathname)).toBe(basename(weights));
  });

  test('the runtime container serves on the image port as the image user, on a read-only root', () => {
    expect(served.name).toBe('kserve-container');
    expect(served.ports?.map((p) => p.containerPort)).toEqual([image.exposedPort]);
    expect(served.securityContext?.runAsUser).toBe(image.uid);
    expect(served.securityContext?.readOnlyRootFilesystem).toBe(true);
  });

  test('the runtime container, started with exactly its args (the model name KServe fills in) and env, /mnt/models filled: probes answer, SIGTERM exits 0', async () => {
    await checkContainer(runtime, runtime.spec, served, { [KSERVE_MODELS]: 'kserve-models' }, inferenceService.metadata.name);
  }, 120_000);
});

describe('deploy/kserve-repository', () => {
  const repository = loadManifests('kserve-repository');
  const repositoryRuntime = byKind(repository, 'ServingRuntime');
  const service = byKind(repository, 'InferenceService');
  const served = repositoryRuntime.spec.containers[0]!;

  test('the InferenceService names the runtime and a folder as its storageUri; the runtime serves /mnt/models as a repository', () => {
    const model = service.spec.predictor.model;
    expect(model.runtime).toBe(repositoryRuntime.metadata.name);
    expect(repositoryRuntime.spec.supportedModelFormats.map((f) => f.name)).toContain(model.modelFormat.name);
    expect(repositoryRuntime.spec.protocolVersions).toContain(model.protocolVersion);
    expect(model.storageUri.endsWith('/')).toBe(true);
    expect(served.args).toEqual(['serve', `--model-repository=${KSERVE_MODELS}`]);
  });

  test('the runtime container, started with exactly its args and env and two models in /mnt/models: ready, both indexed, SIGTERM exits 0', async () => {
    const root = join(dir, 'kserve-repository');
    const env: Record<string, string> = { PATH: process.env.PATH ?? '' };
    const cache = join(root, 'cache');
    const models = join(root, 'models');
    for (const [name, value] of Object.entries({ ...image.env, ...containerEnv(served) })) {
      env[name] = value.startsWith(KSERVE_MODELS)
        ? models + value.slice(KSERVE_MODELS.length)
        : value === served.volumeMounts?.[0]?.mountPath
          ? cache
          : value;
    }
    Object.assign(env, { RESNET_SERVE_HOST: '127.0.0.1', PORT: '0' });
    await mkdir(models, { recursive: true });
    await writeFile(join(models, 'first.safetensors'), checkpoint);
    await writeFile(join(models, 'second.safetensors'), checkpoint);
    await writeFile(join(models, 'second.json'), JSON.stringify({ precision: 'int8' }));
    const [, ...nodeArgs] = image.entrypoint;
    const argv = [...nodeArgs.map((a) => (a === 'dist/cli.js' ? CLI : a)), ...(served.args ?? [])].map((a) =>
      a.replace(KSERVE_MODELS, models),
    );
    const printed = await run(argv.concat('--print-config', '--json'), env);
    const config = JSON.parse(printed.stdout) as Record<string, { value: unknown; source: string }>;
    const sources = new Set(Object.values(config).map((s) => s.source));
    for (const name of Object.keys(containerEnv(served))) expect(sources, `${name} is not a setting`).toContain(`env ${name}`);
    const server = startCli(argv, env);
    try {
      const url = await server.url;
      const deadline = Date.now() + 90_000;
      while ((await getStatus(`${url}${served.readinessProbe?.httpGet?.path}`)) !== 200 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(await getStatus(`${url}${served.livenessProbe?.httpGet?.path}`)).toBe(200);
      const index = (await (await fetch(`${url}/v2/repository/index`, { method: 'POST' })).json()) as { name: string; state: string }[];
      expect(index).toEqual([
        expect.objectContaining({ name: 'first', state: 'READY' }),
        expect.objectContaining({ name: 'second', state: 'READY' }),
      ]);
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
    } finally {
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
    }
  }, 120_000);
});

/**
 * Starts `container` as the image's entrypoint would, with the image's environment and then the container's,
 * each volume mount (and `extraMounts`, such as KServe's) a fresh folder. The checkpoint it reads is the
 * synthetic one, put where it looks: RESNET_SERVE_WEIGHTS, else the default weights' place in the cache.
 */
async function checkContainer(
  manifest: Manifest,
  spec: PodSpec,
  container: Container,
  extraMounts: Record<string, string>,
  modelName?: string,
): Promise<void> {
  const root = join(dir, `${manifest.kind}-${container.name}`);
  const mounts = new Map<string, string>();
  for (const mount of container.volumeMounts ?? []) {
    expect(spec.volumes?.map((v) => v.name)).toContain(mount.name);
    mounts.set(mount.mountPath, join(root, mount.name));
  }
  for (const [path, name] of Object.entries(extraMounts)) mounts.set(path, join(root, name));
  for (const folder of mounts.values()) await mkdir(folder, { recursive: true });
  const local = (value: string): string => {
    for (const [path, folder] of mounts) if (value === path || value.startsWith(`${path}/`)) return folder + value.slice(path.length);
    return value;
  };

  const manifestEnv = containerEnv(container);
  const env: Record<string, string> = { PATH: process.env.PATH ?? '' };
  for (const [name, value] of Object.entries({ ...image.env, ...manifestEnv })) env[name] = local(value);
  // Local only, on a free port: the one difference from the pod but the weights (below).
  Object.assign(env, { RESNET_SERVE_HOST: '127.0.0.1', PORT: '0' });

  const [node, ...nodeArgs] = image.entrypoint;
  expect(node).toBe('node');
  // KServe replaces {{.Name}} in a runtime's args with the InferenceService's name.
  const args = (container.args ?? []).map((a) => (modelName === undefined ? a : a.replaceAll('{{.Name}}', modelName)));
  const argv = [...nodeArgs.map((a) => (a === 'dist/cli.js' ? CLI : a)), ...args];

  // Every variable the manifest sets is one the server reads (an unknown one would be ignored, silently).
  const printed = await run(argv.concat('--print-config', '--json'), env);
  expect(printed.code, printed.stderr).toBe(0);
  const config = JSON.parse(printed.stdout) as Record<string, { value: unknown; source: string }>;
  const sources = new Set(Object.values(config).map((s) => s.source));
  for (const name of Object.keys(manifestEnv)) expect(sources, `${name} is not a setting`).toContain(`env ${name}`);
  if (modelName !== undefined) expect(config.modelName).toEqual({ value: modelName, source: 'flag' });

  // The pod reads TorchVision's file from where the manifest says (downloaded, or KServe's storageUri). The
  // synthetic checkpoint put there is refused by its hash, which shows that this is the path the server reads;
  // it is then served from a name of its own, the one setting added to the pod's.
  const official = env.RESNET_SERVE_WEIGHTS ?? join(env.RESNET_SERVE_HOME ?? '', DEFAULT_WEIGHTS.fileName);
  await mkdir(dirname(official), { recursive: true });
  await writeFile(official, checkpoint);
  const refused = await run(argv, env);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain(official);
  expect(refused.stderr).toContain('[WEIGHTS_INVALID]');
  env.RESNET_SERVE_WEIGHTS = join(dirname(official), 'synthetic-resnet18.safetensors');
  await writeFile(env.RESNET_SERVE_WEIGHTS, checkpoint);

  const server = startCli(argv, env);
  try {
    const url = await server.url;
    const readiness = container.readinessProbe?.httpGet?.path;
    expect(readiness).toBeDefined();
    const statuses: (number | string)[] = [];
    const deadline = Date.now() + 90_000;
    while (statuses.at(-1) !== 200 && Date.now() < deadline) {
      statuses.push(await getStatus(`${url}${readiness}`));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(statuses[0]).toBe(503);
    expect(statuses.at(-1)).toBe(200);
    for (const probe of [container.startupProbe, container.readinessProbe, container.livenessProbe]) {
      if (probe === undefined) continue;
      const port = probe.httpGet?.port;
      expect(typeof port === 'number' ? port : container.ports?.find((p) => p.name === port)?.containerPort).toBe(image.exposedPort);
      expect(await getStatus(`${url}${probe.httpGet?.path}`)).toBe(200);
    }
    if (modelName !== undefined) expect(await getStatus(`${url}/v2/models/${modelName}/ready`)).toBe(200);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  } finally {
    if (server.child.exitCode === null) server.child.kill('SIGKILL');
  }
}

function run(argv: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, argv, { env, timeout: 60_000 }, (_error, stdout, stderr) =>
      resolve({ code: child.exitCode, stdout, stderr }),
    );
  });
}
