/**
 * Virtual nodule insertion for `bench:nodules -- --real --insert` (fixtures/nodule-insertion,
 * fixtures/nodule-placement), on a small synthetic chest: two lungs of noisy −850 HU parenchyma,
 * a vessel along the slices in one of them, soft tissue around, air outside. No model run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { insertNodule, lungBackground, measureInsertedNodule, type NoduleModel } from '../fixtures/nodule-insertion';
import { DENSE_GROUND_GLASS_HU, FAINT_GROUND_GLASS_HU, lungMap, planNodules } from '../fixtures/nodule-placement';
import { mulberry32 } from '../fixtures/chest-phantom';

const ROWS = 160;
const COLUMNS = 160;
const SLICES = 48;
const SPACING = 0.7;
const SLICE_MM = 1.25;
/** The vessel: along the slices through the right lung, 1.5 mm radius. */
const VESSEL = { row: 80, column: 52, radiusMm: 1.5 };

/** Right lung centred at column 50, left at 110, row 80; semi-axes 18 × 30 mm; slices 4..43. */
function chest(): { rows: number; columns: number; pixelSpacing: [number, number]; sliceSpacing: number; values: Float32Array[] } {
  const random = mulberry32(7);
  const values = Array.from({ length: SLICES }, (_, k) => {
    const plane = new Float32Array(ROWS * COLUMNS);
    for (let r = 0; r < ROWS; r++)
      for (let c = 0; c < COLUMNS; c++) {
        const inBody = ((r - 80) / 75) ** 2 + ((c - 80) / 78) ** 2 <= 1;
        const inLung = (cx: number): boolean =>
          k >= 4 && k <= 43 && (((r - 80) * SPACING) / 30) ** 2 + (((c - cx) * SPACING) / 18) ** 2 <= 1;
        const noise = 20 * (random() + random() + random() - 1.5) * 2;
        let v = inBody ? 40 + noise : -1000 + noise;
        if (inLung(50) || inLung(110)) v = -850 + noise;
        if (Math.hypot((r - VESSEL.row) * SPACING, (c - VESSEL.column) * SPACING) <= VESSEL.radiusMm && inLung(50)) v = 40 + noise;
        plane[r * COLUMNS + c] = v;
      }
    return plane;
  });
  return { rows: ROWS, columns: COLUMNS, pixelSpacing: [SPACING, SPACING], sliceSpacing: SLICE_MM, values };
}

const model = (over: Partial<NoduleModel>): NoduleModel => ({
  k: 24,
  row: 80,
  column: 110,
  diameterMm: 10,
  type: 'solid',
  solidHu: 30,
  groundGlassHu: -550,
  coreFraction: 0.5,
  ...over,
});

/** Mean of the voxels whose distance (mm) from the model's centre passes `within`. */
function meanWhere(g: ReturnType<typeof chest>, m: NoduleModel, within: (d: number) => boolean): number {
  let sum = 0;
  let n = 0;
  g.values.forEach((plane, k) =>
    plane.forEach((v, i) => {
      const d = Math.hypot((k - m.k) * SLICE_MM, (Math.floor(i / COLUMNS) - m.row) * SPACING, ((i % COLUMNS) - m.column) * SPACING);
      if (within(d)) {
        sum += v;
        n++;
      }
    }),
  );
  return sum / n;
}

test('a solid nodule: its interior at its HU with the lung noise kept, the image beyond its edge untouched, its half-contrast diameter the nominal one, deterministic', () => {
  const original = chest();
  const g = chest();
  const m = model({});
  const bg = insertNodule(g, m);
  assert.ok(Math.abs(bg.medianHu + 850) < 10, `lung background ${bg.medianHu}`);
  assert.ok(bg.sdHu > 12 && bg.sdHu < 40, `lung noise SD ${bg.sdHu}`);
  const inner = meanWhere(g, m, (d) => d <= 3);
  assert.ok(Math.abs(inner - 30) < 10, `interior mean ${inner} HU, expected about 30`);
  // Noise stays: the interior is not flat.
  const spread = interiorSd(g, m);
  assert.ok(spread > 12, `interior SD ${spread} HU: the original's noise should ride on the nodule`);
  // Beyond the radius plus one slice spacing: every voxel exactly as it was.
  original.values.forEach((plane, k) =>
    plane.forEach((v, i) => {
      const d = Math.hypot((k - m.k) * SLICE_MM, (Math.floor(i / COLUMNS) - m.row) * SPACING, ((i % COLUMNS) - m.column) * SPACING);
      if (d > 5 + SLICE_MM) assert.equal(g.values[k]![i], v);
    }),
  );
  const profile = measureInsertedNodule(g, original, m, bg);
  assert.ok(Math.abs(profile.halfContrastDiameterMm - 10) < 1, `half-contrast diameter ${profile.halfContrastDiameterMm} mm`);
  const again = chest();
  insertNodule(again, m);
  assert.deepEqual(again.values, g.values);

  // A blurred edge (inPlaneBlurMm) is softer in-plane but the nodule keeps its half-contrast size.
  const blurred = chest();
  const bgBlurred = insertNodule(blurred, m, undefined, { inPlaneBlurMm: 0.6 });
  const rim = (x: ReturnType<typeof chest>): number => x.values[24]![80 * COLUMNS + 110 + 8]!; // 5.6 mm out along the row
  assert.ok(rim(blurred) > rim(g) + 50, `blurred rim ${rim(blurred)} HU vs sharp ${rim(g)} HU`);
  const d = measureInsertedNodule(blurred, original, m, bgBlurred).halfContrastDiameterMm;
  assert.ok(Math.abs(d - 10) < 1, `blurred half-contrast diameter ${d} mm`);
});

function interiorSd(g: ReturnType<typeof chest>, m: NoduleModel): number {
  const mean = meanWhere(g, m, (d) => d <= 3);
  const sq = meanWhere({ ...g, values: g.values.map((p) => p.map((v) => (v - mean) ** 2)) }, m, (d) => d <= 3);
  return Math.sqrt(sq);
}

test('ground glass over a vessel keeps the vessel (max rule); a part-solid nodule has a solid core in ground glass', () => {
  const original = chest();
  const g = chest();
  const ggo = model({ column: VESSEL.column + 3, type: 'ground-glass' });
  insertNodule(g, ggo);
  let vesselVoxels = 0;
  g.values.forEach((plane, k) =>
    plane.forEach((v, i) => {
      if (
        original.values[k]![i]! > 0 &&
        Math.hypot((k - ggo.k) * SLICE_MM, (Math.floor(i / COLUMNS) - ggo.row) * SPACING, ((i % COLUMNS) - ggo.column) * SPACING) < 4
      ) {
        vesselVoxels++;
        assert.equal(v, original.values[k]![i], 'a vessel voxel inside ground glass keeps its HU');
      }
    }),
  );
  assert.ok(vesselVoxels > 20, `the test nodule should cover part of the vessel (${vesselVoxels} voxels)`);
  const glass = meanWhere(g, ggo, (d) => d <= 4);
  assert.ok(glass > -600 && glass < -300, `ground glass with a vessel through it: mean ${glass} HU`);

  const ps = chest();
  const partSolid = model({ diameterMm: 14, type: 'part-solid', coreFraction: 0.5 });
  const bg = insertNodule(ps, partSolid);
  const core = meanWhere(ps, partSolid, (d) => d <= 2);
  const rim = meanWhere(ps, partSolid, (d) => d >= 4.5 && d <= 6);
  assert.ok(Math.abs(core - 30) < 15, `core mean ${core} HU`);
  assert.ok(Math.abs(rim + 550) < 25, `ground-glass rim mean ${rim} HU`);
  assert.equal(lungBackground(ps, partSolid, 7).medianHu > -900, true);
  assert.ok(Math.abs(measureInsertedNodule(ps, original, partSolid, bg).halfContrastDiameterMm - 14) < 1.5);
});

test('a faint ground-glass nodule in lung denser than its half-contrast level on three sides measures its own size (what the insertion added, not the image)', () => {
  // As beside the chest wall on thick slices: dependent lung and the wall's partial-volume layer
  // at about −700 HU, above the half level (about −740 HU) of ground glass at −630 over −850 HU lung.
  const m = model({ type: 'ground-glass', groundGlassHu: -630 });
  const denseSide = (k: number, i: number): boolean => {
    const dy = (Math.floor(i / COLUMNS) - m.row) * SPACING;
    const dz = (k - m.k) * SLICE_MM;
    const d = Math.hypot(dz, dy, ((i % COLUMNS) - m.column) * SPACING);
    return d > 4.6 && d < 9 && (dy > 3 || Math.abs(dz) > 3);
  };
  const original = chest();
  original.values.forEach((plane, k) => plane.forEach((v, i) => (plane[i] = denseSide(k, i) ? v + 150 : v)));
  const g = { ...original, values: original.values.map((p) => Float32Array.from(p)) };
  const bg = insertNodule(g, m);
  const d = measureInsertedNodule(g, original, m, bg).halfContrastDiameterMm;
  assert.ok(Math.abs(d - 10) < 1.5, `half-contrast diameter ${d} mm, nominal 10 mm`);
});

test('placement: an independent lung mask; nodules in the lungs, apart by their radii + 10 mm, juxtapleural ones touching the wall; the same seed the same plan', () => {
  const g = chest();
  const lungs = lungMap(g);
  // The lung mask's distance at the right lung's centre: 18 mm to its side wall (the ellipse's semi-minor axis).
  const centre = lungs.distanceMm[24]![80 * COLUMNS + 50]!;
  assert.ok(Math.abs(centre - 18) < 1.5, `distance to the pleura at the lung centre ${centre} mm`);
  assert.equal(lungs.mask[24]![80 * COLUMNS + 80], 0, 'the mediastinum is not lung');
  assert.equal(lungs.mask[24]![80 * COLUMNS + VESSEL.column], 1, 'a vessel inside the lung is lung (holes filled)');
  const plan = planNodules(g, lungs, { count: 6, seed: 3, keepAway: [{ k: 24, row: 80, column: 110, radiusMm: 3 }] });
  assert.ok(plan.length >= 3, `${plan.length} of 6 placed`);
  assert.deepEqual(planNodules(g, lungs, { count: 6, seed: 3, keepAway: [{ k: 24, row: 80, column: 110, radiusMm: 3 }] }), plan);
  assert.notDeepEqual(planNodules(g, lungs, { count: 6, seed: 4, keepAway: [] }), plan);
  // Dense ground glass: the same places and sizes, the ground glass drawn from -450..-300 HU.
  const dense = planNodules(g, lungs, {
    count: 6,
    seed: 3,
    keepAway: [{ k: 24, row: 80, column: 110, radiusMm: 3 }],
    groundGlassHu: DENSE_GROUND_GLASS_HU,
  });
  const withoutGlass = (n: (typeof plan)[number]): unknown => ({ ...n, groundGlassHu: 0 });
  assert.deepEqual(dense.map(withoutGlass), plan.map(withoutGlass));
  for (const [n, d] of plan.map((n, i) => [n, dense[i]!] as const)) {
    assert.ok(n.groundGlassHu >= -650 && n.groundGlassHu <= -450, `phantom-range ground glass ${n.groundGlassHu} HU`);
    assert.ok(d.groundGlassHu >= -450 && d.groundGlassHu <= -300, `dense ground glass ${d.groundGlassHu} HU`);
  }
  // Faint ground glass: the same places and sizes, the ground glass drawn from -800..-650 HU.
  const faint = planNodules(g, lungs, {
    count: 6,
    seed: 3,
    keepAway: [{ k: 24, row: 80, column: 110, radiusMm: 3 }],
    groundGlassHu: FAINT_GROUND_GLASS_HU,
  });
  assert.deepEqual(faint.map(withoutGlass), plan.map(withoutGlass));
  for (const f of faint) assert.ok(f.groundGlassHu >= -800 && f.groundGlassHu <= -650, `faint ground glass ${f.groundGlassHu} HU`);
  const all = [...plan, { k: 24, row: 80, column: 110, diameterMm: 6 }];
  for (const [i, a] of all.entries())
    for (const b of all.slice(i + 1)) {
      const d = Math.hypot((a.k - b.k) * SLICE_MM, (a.row - b.row) * SPACING, (a.column - b.column) * SPACING);
      assert.ok(d >= a.diameterMm / 2 + b.diameterMm / 2 + 10, `nodules ${d.toFixed(1)} mm apart`);
    }
  for (const n of plan) {
    assert.equal(lungs.mask[n.k]![n.row * COLUMNS + n.column], 1);
    if (n.place === 'juxtapleural') assert.ok(n.pleuraMm >= 0.8 * (n.diameterMm / 2) && n.pleuraMm <= n.diameterMm / 2);
    else assert.ok(n.pleuraMm >= n.diameterMm / 2 + 3);
    if (n.place === 'juxtavascular') assert.ok(n.vesselContact >= 3);
  }
});
