// Fallback when no Python with torch is around: the same synthetic ResNet-18 checkpoint recipe as
// bench/baseline/make_weights.py (torchvision names and shapes, seeded random values), written as
// .safetensors from JS. Different values than the .pth, same shapes, so the same compute.
import { writeFile } from 'node:fs/promises';
import { rng } from './random.mjs';

/** torchvision resnet18 state_dict entries: [name, shape, kind]. */
function resnet18Entries() {
  const entries = [];
  const bn = (prefix, c) => {
    for (const [field, kind] of [
      ['weight', 'bnWeight'],
      ['bias', 'bnBias'],
      ['running_mean', 'bnMean'],
      ['running_var', 'bnVar'],
    ]) {
      entries.push([`${prefix}.${field}`, [c], kind]);
    }
    entries.push([`${prefix}.num_batches_tracked`, [], 'count']);
  };
  entries.push(['conv1.weight', [64, 3, 7, 7], 'conv']);
  bn('bn1', 64);
  let inplanes = 64;
  for (const [layer, planes] of [
    [1, 64],
    [2, 128],
    [3, 256],
    [4, 512],
  ]) {
    for (const block of [0, 1]) {
      const p = `layer${layer}.${block}`;
      const cin = block === 0 ? inplanes : planes;
      entries.push([`${p}.conv1.weight`, [planes, cin, 3, 3], 'conv']);
      bn(`${p}.bn1`, planes);
      entries.push([`${p}.conv2.weight`, [planes, planes, 3, 3], 'conv']);
      bn(`${p}.bn2`, planes);
      if (block === 0 && layer > 1) {
        entries.push([`${p}.downsample.0.weight`, [planes, inplanes, 1, 1], 'conv']);
        bn(`${p}.downsample.1`, planes);
      }
    }
    inplanes = planes;
  }
  entries.push(['fc.weight', [1000, 512], 'fc'], ['fc.bias', [1000], 'fc']);
  return entries;
}

/** Writes the checkpoint to `path` (safetensors: u64 header length, JSON header, little-endian data). */
export async function writeSyntheticWeights(path) {
  const random = rng(20240601);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const header = {};
  const chunks = [];
  let offset = 0;
  for (const [name, shape, kind] of resnet18Entries()) {
    const count = shape.reduce((a, b) => a * b, 1);
    let data;
    if (kind === 'count') {
      data = new Uint8Array(8);
    } else {
      const values = new Float32Array(count);
      // Same recipe as make_weights.py: Kaiming-normal (fan_out) convs, trained-looking BatchNorm statistics.
      const fanOut = shape[0] * (shape[2] ?? 1) * (shape[3] ?? 1);
      const gen = {
        conv: () => normal() * Math.sqrt(2 / fanOut),
        fc: () => (random() * 2 - 1) / Math.sqrt(512),
        bnWeight: () => 0.5 + random() * 0.5,
        bnBias: () => normal() * 0.05,
        bnMean: () => normal() * 0.1,
        bnVar: () => 0.5 + random(),
      }[kind];
      for (let i = 0; i < count; i++) values[i] = gen();
      data = new Uint8Array(values.buffer);
    }
    header[name] = { dtype: kind === 'count' ? 'I64' : 'F32', shape, data_offsets: [offset, offset + data.byteLength] };
    chunks.push(data);
    offset += data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  await writeFile(path, Buffer.concat([length, Buffer.from(json), ...chunks]));
}
