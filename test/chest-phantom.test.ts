/**
 * The chest phantom's optional hard parts (issue 17): they add to a seed's phantom without
 * changing what it already held, so every benchmark and test seed keeps its figures.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plannedNodules } from '../fixtures/chest-phantom';

test("groundGlassBesideVessels adds ground-glass nodules of 5-12 mm after the seed's own nodules, which stay the same", () => {
  for (const seed of [1000, 1001, 2000]) {
    const plain = plannedNodules({ seed });
    const hard = plannedNodules({ seed, throughPlaneVessels: 3, groundGlassBesideVessels: 2 });
    assert.deepEqual(hard.slice(0, plain.length), plain, `seed ${seed}: the seed's own nodules are unchanged`);
    const extra = hard.slice(plain.length);
    assert.equal(extra.length, 2, `seed ${seed}: two nodules beside vessels`);
    for (const n of extra) {
      assert.equal(n.type, 'ground-glass');
      assert.ok(n.diameterMm >= 5 && n.diameterMm <= 12, `diameter ${n.diameterMm}`);
      assert.ok(n.hu !== undefined && n.hu >= -650 && n.hu <= -450, `density ${n.hu}`);
    }
  }
});

test("largeNodules adds nodules of 20-30 mm, every other one juxtapleural, after the seed's own nodules, which stay the same", () => {
  const types = new Set<string>();
  for (const seed of [1000, 1001, 1002, 1003]) {
    const plain = plannedNodules({ seed, throughPlaneVessels: 3, groundGlassBesideVessels: 2 });
    const large = plannedNodules({ seed, throughPlaneVessels: 3, groundGlassBesideVessels: 2, largeNodules: 2 });
    assert.deepEqual(large.slice(0, plain.length), plain, `seed ${seed}: the phantom's other nodules are unchanged`);
    const extra = large.slice(plain.length);
    assert.equal(extra.length, 2, `seed ${seed}: two large nodules`);
    assert.deepEqual(
      extra.map((n) => n.juxtapleural),
      [true, false],
      `seed ${seed}: the first juxtapleural, the second inside the lung`,
    );
    for (const n of extra) {
      types.add(n.type!);
      assert.ok(n.diameterMm >= 20 && n.diameterMm <= 30, `diameter ${n.diameterMm}`);
      if (n.type === 'part-solid') assert.ok(n.solidCore && n.solidCore.diameterMm < n.diameterMm && n.solidCore.hu >= 0, 'a solid core');
      else assert.equal(n.solidCore, undefined);
    }
  }
  assert.ok(types.size >= 2, `more than one kind of large nodule: ${[...types].join(', ')}`);
});
