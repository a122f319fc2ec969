#!/usr/bin/env node
'use strict';
/**
 * Builds models/lung-nodule-reference/model.onnx: a hand-written, weight-free lung-nodule
 * CANDIDATE detector for slice-wise CT (a reference/demo model, not a diagnostic device).
 *
 * The ONNX protobuf is encoded here byte by byte (field numbers from onnx.proto), so the file is
 * the same on every run and every machine: no Python, no download, nothing trained.
 *
 * Graph (input "ct" float32 [N,1,512,512], CT windowed to [0,1] with -600/1500):
 *   for 7 scales sigma = 1.41 .. 11.3 px (sqrt(2) steps; blob diameters ~2.8..22 mm at 0.7 mm):
 *     AveragePool 2x2 / 4x4 (sigma >= 2.8 / >= 5.6 px: same response, 4 / 16 times fewer pixels)
 *     -> Gaussian blur as two 1-D Convs -> one 3x3 Conv giving the Hessian terms
 *        A = (Dxx + Dyy) / 2, B = (Dxx - Dyy) / 2, C = Dxy, scale-normalised by sigma^2
 *     -> blob response R = Relu(-(A + sqrt(B^2 + C^2))) = -(larger Hessian eigenvalue): high
 *        only where the image curves down in BOTH directions (bright blob), ~0 along a
 *        bright ridge (a vessel lying in the slice) and negative for dark blobs
 *     -> Resize (linear) back to 512x512
 *   Concat -> ReduceMax over scales (blob) and ArgMax -> Gather (sigma of the best scale)
 * Output "nodule" float32 [N,2,512,512]: channel 0 blob score (response x SCORE_GAIN), channel 1
 * the best scale's sigma in model pixels. (No channel of local maxima: the post-processor finds
 * them in channel 0 for the few pixels over its threshold. A third dense plane per slice cost
 * more in fresh memory, 1 MB per slice kept until post-processing, than the search saves.)
 *
 * Telling a nodule from a vessel seen end-on needs the neighbouring slices: that is the
 * post-processor's job (src/inference/postprocess/lung-nodules.ts).
 *
 * Usage: node scripts/build-reference-model.js [--out FILE] [--verify] [--bench]
 *   --verify  runs the model in onnxruntime-node on a synthetic image and compares it with
 *             referenceForward() below (a plain JS implementation of the same graph)
 *   --bench   CPU time per slice at batch 1 and 8
 */
const fs = require('node:fs');
const path = require('node:path');

const SIZE = 512;
/** Full-resolution sigmas (model pixels) and the pooling factor each is computed at. */
const SCALES = [
  { sigma: Math.SQRT2, f: 1 },
  { sigma: 2, f: 1 },
  { sigma: 2 * Math.SQRT2, f: 2 },
  { sigma: 4, f: 2 },
  { sigma: 4 * Math.SQRT2, f: 4 },
  { sigma: 8, f: 4 },
  { sigma: 8 * Math.SQRT2, f: 4 },
];
/** Multiplies the response so a solid nodule scores ~0.5-1 and a faint ground-glass one ~0.1-0.3. */
const SCORE_GAIN = 4;

// ---------------------------------------------------------------------------------------------
// Kernels (computed in float64, stored as float32)

function scaleParams(s) {
  // Average pooling by f is itself a blur of variance (f^2 - 1) / 12 (full-res pixels^2).
  const sigmaLevel = Math.sqrt(s.sigma * s.sigma - (s.f * s.f - 1) / 12) / s.f;
  const radius = Math.ceil(3 * sigmaLevel);
  const g = [];
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    const v = Math.exp(-(i * i) / (2 * sigmaLevel * sigmaLevel));
    g.push(v);
    sum += v;
  }
  const gauss = Float32Array.from(g.map((v) => v / sum));
  // Scale normalisation: sigma^2 in the level's pixel units (derivatives are in level pixels).
  const t = (s.sigma / s.f) ** 2;
  const hess = new Float32Array(27);
  // channel 0: A = t (Dxx + Dyy) / 2; channel 1: B = t (Dxx - Dyy) / 2; channel 2: C = t Dxy
  const at = (c, dy, dx) => c * 9 + (dy + 1) * 3 + (dx + 1);
  const dxx = [
    [0, -1, 1],
    [0, 0, -2],
    [0, 1, 1],
  ];
  const dyy = [
    [-1, 0, 1],
    [0, 0, -2],
    [1, 0, 1],
  ];
  for (const [dy, dx, w] of dxx) {
    hess[at(0, dy, dx)] += (t * w) / 2;
    hess[at(1, dy, dx)] += (t * w) / 2;
  }
  for (const [dy, dx, w] of dyy) {
    hess[at(0, dy, dx)] += (t * w) / 2;
    hess[at(1, dy, dx)] -= (t * w) / 2;
  }
  for (const [dy, dx, w] of [
    [-1, -1, 0.25],
    [-1, 1, -0.25],
    [1, -1, -0.25],
    [1, 1, 0.25],
  ])
    hess[at(2, dy, dx)] += t * w;
  return { sigmaLevel, radius, gauss, hess };
}

// ---------------------------------------------------------------------------------------------
// Protobuf encoding (proto2 wire format; onnx.proto field numbers)

function varint(value) {
  let v = BigInt.asUintN(64, BigInt(value));
  const out = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) b |= 0x80;
    out.push(b);
  } while (v !== 0n);
  return Buffer.from(out);
}
const tag = (field, wire) => varint((field << 3) | wire);
const fVarint = (field, v) => Buffer.concat([tag(field, 0), varint(v)]);
const fBytes = (field, buf) => Buffer.concat([tag(field, 2), varint(buf.length), buf]);
const fString = (field, s) => fBytes(field, Buffer.from(s, 'utf8'));
const fFloat = (field, x) => {
  const b = Buffer.alloc(4);
  b.writeFloatLE(x);
  return Buffer.concat([tag(field, 5), b]);
};
const msg = (...parts) => Buffer.concat(parts.flat());

const DT_FLOAT = 1;

function tensor(name, dims, dataType, values) {
  let raw;
  if (dataType === DT_FLOAT) {
    raw = Buffer.alloc(values.length * 4);
    values.forEach((v, i) => raw.writeFloatLE(v, i * 4));
  } else {
    // Any other type is written as INT64 (ONNX data type 7), the only other one the graph uses.
    raw = Buffer.alloc(values.length * 8);
    values.forEach((v, i) => raw.writeBigInt64LE(BigInt(v), i * 8));
  }
  // TensorProto: dims=1, data_type=2, name=8, raw_data=9
  return msg(
    dims.map((d) => fVarint(1, d)),
    fVarint(2, dataType),
    fString(8, name),
    fBytes(9, raw),
  );
}

// AttributeProto: name=1, f=2, i=3, s=4, t=5, floats=7, ints=8, type=20
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, INTS: 7 };
function attr(name, value) {
  if (typeof value === 'string') return msg(fString(1, name), fBytes(4, Buffer.from(value)), fVarint(20, ATTR.STRING));
  if (Array.isArray(value))
    return msg(
      fString(1, name),
      value.map((v) => fVarint(8, v)),
      fVarint(20, ATTR.INTS),
    );
  if (Number.isInteger(value)) return msg(fString(1, name), fVarint(3, value), fVarint(20, ATTR.INT));
  return msg(fString(1, name), fFloat(2, value), fVarint(20, ATTR.FLOAT));
}

// NodeProto: input=1, output=2, name=3, op_type=4, attribute=5
function node(opType, inputs, outputs, name, attrs = {}) {
  return msg(
    inputs.map((i) => fString(1, i)),
    outputs.map((o) => fString(2, o)),
    fString(3, name),
    fString(4, opType),
    Object.keys(attrs).map((k) => fBytes(5, attr(k, attrs[k]))),
  );
}

// ValueInfoProto: name=1, type=2; TypeProto.tensor_type=1; Tensor: elem_type=1, shape=2;
// TensorShapeProto.dim=1; Dimension: dim_value=1, dim_param=2
function valueInfo(name, dims) {
  const shape = msg(dims.map((d) => fBytes(1, typeof d === 'string' ? fString(2, d) : fVarint(1, d))));
  return msg(fString(1, name), fBytes(2, fBytes(1, msg(fVarint(1, DT_FLOAT), fBytes(2, shape)))));
}

// ---------------------------------------------------------------------------------------------
// The graph

function buildModelBytes() {
  const nodes = [];
  const inits = [];
  const responses = [];
  const pooled = new Map();
  const upScales = new Set();
  let n = 0;
  const add = (op, inputs, outputs, attrs) => nodes.push(node(op, inputs, outputs, `${op.toLowerCase()}_${n++}`, attrs));

  SCALES.forEach((s, i) => {
    const p = scaleParams(s);
    let src = 'ct';
    if (s.f > 1) {
      if (!pooled.has(s.f)) {
        add('AveragePool', ['ct'], [`pool${s.f}`], { kernel_shape: [s.f, s.f], strides: [s.f, s.f] });
        pooled.set(s.f, `pool${s.f}`);
      }
      src = pooled.get(s.f);
    }
    const K = p.gauss.length;
    inits.push(tensor(`s${i}_gx`, [1, 1, 1, K], DT_FLOAT, [...p.gauss]));
    inits.push(tensor(`s${i}_gy`, [1, 1, K, 1], DT_FLOAT, [...p.gauss]));
    inits.push(tensor(`s${i}_hess`, [3, 1, 3, 3], DT_FLOAT, [...p.hess]));
    add('Conv', [src, `s${i}_gx`], [`s${i}_h`], { pads: [0, p.radius, 0, p.radius] });
    add('Conv', [`s${i}_h`, `s${i}_gy`], [`s${i}_g`], { pads: [p.radius, 0, p.radius, 0] });
    add('Conv', [`s${i}_g`, `s${i}_hess`], [`s${i}_abc`], { pads: [1, 1, 1, 1] });
    add('Split', [`s${i}_abc`], [`s${i}_a`, `s${i}_b`, `s${i}_c`], { axis: 1 });
    add('Mul', [`s${i}_b`, `s${i}_b`], [`s${i}_bb`]);
    add('Mul', [`s${i}_c`, `s${i}_c`], [`s${i}_cc`]);
    add('Add', [`s${i}_bb`, `s${i}_cc`], [`s${i}_q2`]);
    add('Sqrt', [`s${i}_q2`], [`s${i}_q`]);
    add('Add', [`s${i}_a`, `s${i}_q`], [`s${i}_lmax`]);
    add('Neg', [`s${i}_lmax`], [`s${i}_nl`]);
    add('Relu', [`s${i}_nl`], [s.f === 1 ? `r${i}` : `s${i}_r`]);
    if (s.f > 1) {
      if (!upScales.has(s.f)) {
        upScales.add(s.f);
        inits.push(tensor(`up${s.f}`, [4], DT_FLOAT, [1, 1, s.f, s.f]));
      }
      add('Resize', [`s${i}_r`, '', `up${s.f}`], [`r${i}`], { mode: 'linear' });
    }
    responses.push(`r${i}`);
  });

  inits.push(
    tensor(
      'sigmas',
      [SCALES.length],
      DT_FLOAT,
      SCALES.map((s) => s.sigma),
    ),
  );
  inits.push(tensor('gain', [], DT_FLOAT, [SCORE_GAIN]));
  add('Concat', responses, ['all'], { axis: 1 });
  add('ReduceMax', ['all'], ['best'], { axes: [1], keepdims: 1 });
  add('Mul', ['best', 'gain'], ['blob']);
  add('ArgMax', ['all'], ['best_index'], { axis: 1, keepdims: 1 });
  add('Gather', ['sigmas', 'best_index'], ['sigma'], { axis: 0 });
  add('Concat', ['blob', 'sigma'], ['nodule'], { axis: 1 });

  const graph = msg(
    nodes.map((nd) => fBytes(1, nd)),
    fString(2, 'lung_nodule_reference'),
    inits.map((t) => fBytes(5, t)),
    fString(10, 'Multi-scale Hessian blob detector (see scripts/build-reference-model.js). Reference/demo model, not a diagnostic device.'),
    fBytes(11, valueInfo('ct', ['batch', 1, SIZE, SIZE])),
    fBytes(12, valueInfo('nodule', ['batch', 2, SIZE, SIZE])),
  );
  const meta = (k, v) => fBytes(14, msg(fString(1, k), fString(2, v)));
  return msg(
    fVarint(1, 8), // ir_version
    fString(2, 'dicom-ai-node scripts/build-reference-model.js'),
    fString(3, '1.0.0'),
    fString(4, 'org.dicom-ai-node'),
    fVarint(5, 1),
    fString(6, 'lung-nodule-reference: hand-built lung nodule candidate detector for slice-wise CT. NOT FOR CLINICAL USE.'),
    fBytes(7, graph),
    fBytes(8, msg(fString(1, ''), fVarint(2, 17))), // opset_import ai.onnx 17
    meta('channels', 'nodule[:,0]=blob score; nodule[:,1]=sigma of the best scale (model pixels)'),
    meta('window', '-600/1500'),
  );
}

// ---------------------------------------------------------------------------------------------
// The same computation in plain JS (float64), to check the ONNX graph against

function conv2d(src, H, W, kernel, kh, kw, ph, pw) {
  const out = new Float64Array(H * W);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let acc = 0;
      for (let i = 0; i < kh; i++) {
        const yy = y + i - ph;
        if (yy < 0 || yy >= H) continue;
        for (let j = 0; j < kw; j++) {
          const xx = x + j - pw;
          if (xx < 0 || xx >= W) continue;
          acc += kernel[i * kw + j] * src[yy * W + xx];
        }
      }
      out[y * W + x] = acc;
    }
  }
  return out;
}

function avgPool(src, H, W, f) {
  const h = Math.floor(H / f);
  const w = Math.floor(W / f);
  const out = new Float64Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let acc = 0;
      for (let i = 0; i < f; i++) for (let j = 0; j < f; j++) acc += src[(y * f + i) * W + x * f + j];
      out[y * w + x] = acc / (f * f);
    }
  }
  return out;
}

/** ONNX Resize, mode linear, half_pixel coordinates (clamped at the borders). */
function resizeLinear(src, h, w, f) {
  const H = h * f;
  const W = w * f;
  const out = new Float64Array(H * W);
  const coord = (o, n) => Math.min(n - 1, Math.max(0, (o + 0.5) / f - 0.5));
  for (let y = 0; y < H; y++) {
    const cy = coord(y, h);
    const y0 = Math.floor(cy);
    const y1 = Math.min(h - 1, y0 + 1);
    const fy = cy - y0;
    for (let x = 0; x < W; x++) {
      const cx = coord(x, w);
      const x0 = Math.floor(cx);
      const x1 = Math.min(w - 1, x0 + 1);
      const fx = cx - x0;
      const a = src[y0 * w + x0] * (1 - fx) + src[y0 * w + x1] * fx;
      const b = src[y1 * w + x0] * (1 - fx) + src[y1 * w + x1] * fx;
      out[y * W + x] = a * (1 - fy) + b * fy;
    }
  }
  return out;
}

/** One image (H x W, windowed [0,1]) -> the model's two output planes, in float64. */
function referenceForward(img, H = SIZE, W = SIZE) {
  const input = Float64Array.from(img);
  const responses = SCALES.map((s) => {
    const p = scaleParams(s);
    const h = H / s.f;
    const w = W / s.f;
    const src = s.f > 1 ? avgPool(input, H, W, s.f) : input;
    const K = p.gauss.length;
    const g = conv2d(conv2d(src, h, w, p.gauss, 1, K, 0, p.radius), h, w, p.gauss, K, 1, p.radius, 0);
    const A = conv2d(g, h, w, p.hess.subarray(0, 9), 3, 3, 1, 1);
    const B = conv2d(g, h, w, p.hess.subarray(9, 18), 3, 3, 1, 1);
    const C = conv2d(g, h, w, p.hess.subarray(18, 27), 3, 3, 1, 1);
    const r = new Float64Array(h * w);
    for (let i = 0; i < r.length; i++) r[i] = Math.max(0, -(A[i] + Math.sqrt(B[i] * B[i] + C[i] * C[i])));
    return s.f > 1 ? resizeLinear(r, h, w, s.f) : r;
  });
  const blob = new Float64Array(H * W);
  const sigma = new Float64Array(H * W);
  for (let i = 0; i < H * W; i++) {
    let best = -Infinity;
    let bi = 0;
    responses.forEach((r, k) => {
      if (r[i] > best) {
        best = r[i];
        bi = k;
      }
    });
    blob[i] = best * SCORE_GAIN;
    sigma[i] = SCALES[bi].sigma;
  }
  return { blob, sigma };
}

/** A test image: lung background with a disc, a ridge (vessel in plane), noise-free. */
function syntheticImage(H = SIZE, W = SIZE) {
  const img = new Float32Array(H * W);
  const win = (hu) => Math.min(1, Math.max(0, (hu + 600) / 1500 + 0.5));
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let hu = -850;
      const d1 = Math.hypot(x - 150, y - 200);
      hu += Math.max(0, Math.min(1, 6 - d1 + 0.5)) * 890; // solid nodule r = 6 px
      const d2 = Math.hypot(x - 330, y - 300);
      hu = Math.max(hu, -850 + Math.max(0, Math.min(1, 12 - d2 + 0.5)) * 350); // ground glass r = 12 px
      const ridge = Math.abs(y - 0.5 * x - 60) / Math.hypot(1, 0.5);
      if (x > 200 && x < 480) hu = Math.max(hu, -850 + Math.max(0, Math.min(1, 2.5 - ridge + 0.5)) * 890); // vessel
      img[y * W + x] = win(hu);
    }
  }
  return img;
}

// ---------------------------------------------------------------------------------------------

async function verify(modelPath) {
  const ort = require('onnxruntime-node');
  const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1 });
  const img = syntheticImage();
  const out = await session.run({ ct: new ort.Tensor('float32', img, [1, 1, SIZE, SIZE]) });
  const t = out.nodule;
  if (t.dims.join(',') !== `1,2,${SIZE},${SIZE}`) throw new Error(`output dims ${t.dims}`);
  const ref = referenceForward(img);
  const P = SIZE * SIZE;
  let maxBlob = 0;
  let errBlob = 0;
  let sigmaMismatch = 0;
  for (let i = 0; i < P; i++) {
    maxBlob = Math.max(maxBlob, ref.blob[i]);
    errBlob = Math.max(errBlob, Math.abs(t.data[i] - ref.blob[i]));
    // Ties between scales (flat regions) and near-equal neighbours may break differently in float32.
    if (t.data[P + i] !== Math.fround(ref.sigma[i]) && ref.blob[i] > 1e-3) sigmaMismatch++;
  }
  const at = (x, y) => ({ blob: t.data[y * SIZE + x], sigma: t.data[P + y * SIZE + x] });
  return { maxBlob, errBlob, sigmaMismatch, nodule: at(150, 200), groundGlass: at(330, 300), vessel: at(340, 230) };
}

async function bench(modelPath) {
  const ort = require('onnxruntime-node');
  const results = {};
  for (const threads of [1, 2]) {
    const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: threads });
    for (const batch of [1, 8]) {
      const data = new Float32Array(batch * SIZE * SIZE);
      const one = syntheticImage();
      for (let b = 0; b < batch; b++) data.set(one, b * SIZE * SIZE);
      const feeds = { ct: new ort.Tensor('float32', data, [batch, 1, SIZE, SIZE]) };
      await session.run(feeds);
      const runs = batch === 1 ? 10 : 3;
      const t0 = process.hrtime.bigint();
      for (let r = 0; r < runs; r++) await session.run(feeds);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6 / runs / batch;
      results[`threads ${threads}, batch ${batch}`] = `${ms.toFixed(1)} ms/slice`;
    }
    await session.release();
  }
  return results;
}

module.exports = { buildModelBytes, referenceForward, syntheticImage, SCALES, SCORE_GAIN, SIZE };

if (require.main === module) {
  (async () => {
    const args = process.argv.slice(2);
    const outAt = args.indexOf('--out');
    const out = outAt >= 0 ? path.resolve(args[outAt + 1]) : path.resolve(__dirname, '..', 'models', 'lung-nodule-reference', 'model.onnx');
    const bytes = buildModelBytes();
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, bytes);
    const sha = require('node:crypto').createHash('sha256').update(bytes).digest('hex');
    console.log(`wrote ${out} (${bytes.length} bytes, sha256 ${sha})`);
    if (args.includes('--verify')) {
      const v = await verify(out);
      console.log('verify:', JSON.stringify(v));
      if (!(v.errBlob <= 1e-4 * Math.max(1, v.maxBlob)) || v.sigmaMismatch > 50) {
        console.error('the ONNX output differs from the JS reference');
        process.exit(1);
      }
    }
    if (args.includes('--bench')) console.log('bench:', JSON.stringify(await bench(out)));
  })().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
