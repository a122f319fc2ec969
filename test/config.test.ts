import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

import { ConfigError, DEFAULT_CONFIG_PATH, loadConfig, parseConfig, routeOutputs, type NodeConfig } from '../src/config/config';
import { canonicalIp, sameIp } from '../src/config/ip';

/**
 * Folder with package.json above __dirname (dist/test/ -> project root); cwd when
 * compiled elsewhere; DICOM_AI_NODE_ROOT overrides (same rule as findPackageRoot).
 */
function packageRoot(): string {
  const override = process.env['DICOM_AI_NODE_ROOT'];
  if (override) return path.resolve(override);
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return process.cwd();
  }
}

const ROOT = packageRoot();
const DEFAULT_JSON = path.join(ROOT, 'config', 'default.json');

/** One object of a config document as the tests write it: any key, any value (tests write wrong ones). */
interface RawObject {
  [key: string]: unknown;
}

/** A config document with the sections the tests reach into typed, so they can be edited in place. */
interface RawConfig extends RawObject {
  node: RawObject;
  callers?: RawObject[];
  destinations: Record<string, RawObject>;
  routes: RawObject[];
}

/** A small valid config, fresh each call so tests can mutate it. */
function base(): RawConfig {
  return {
    node: { aeTitle: 'DICOM_AI', port: 11112 },
    callers: [{ aeTitle: 'CT01', hosts: ['127.0.0.1'] }],
    destinations: { PACS: { aeTitle: 'ORTHANC', host: '127.0.0.1', port: 4242 } },
    routes: [{ name: 'chest-ct', match: { Modality: 'CT' }, model: 'lung-nodule-reference', destinations: ['PACS'] }],
  };
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.ok(err.problems.length > 0);
    for (const problem of err.problems) assert.ok(err.message.includes(problem), 'message lists every problem');
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

function parseProblems(raw: unknown): string[] {
  return problemsOf(() => parseConfig(raw, '/etc/dicom-ai'));
}

function assertHas(problems: string[], expected: string | RegExp): void {
  const ok = problems.some((p) => (typeof expected === 'string' ? p === expected : expected.test(p)));
  assert.ok(ok, `expected a problem matching ${String(expected)}; got:\n${problems.join('\n')}`);
}

let tmp: string | undefined;
function tempDir(): string {
  tmp ??= mkdtempSync(path.join(tmpdir(), 'config-test-'));
  return tmp;
}
process.on('exit', () => {
  if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
});

function writeConfig(relative: string, text: string): string {
  const file = path.join(tempDir(), relative);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

// --- default.json ------------------------------------------------------------

test('config/default.json loads and has the documented values', () => {
  assert.equal(DEFAULT_CONFIG_PATH, DEFAULT_JSON);
  const cfg = loadConfig(DEFAULT_JSON);
  assert.equal(cfg.configPath, DEFAULT_JSON);
  assert.equal(cfg.configDir, path.join(ROOT, 'config'));
  assert.deepEqual(cfg.node, {
    aeTitle: 'DICOM_AI',
    host: '0.0.0.0',
    port: 11112,
    maxAssociations: 32,
    maxPduLength: 65536,
    idleTimeoutSeconds: 60,
    artimTimeoutSeconds: 30,
    maxInstanceBytes: 4294967296,
    fsync: true,
    tls: null,
    maxPendingConnections: 64,
    maxPendingConnectionsPerAddress: 8,
    associationRequestTimeoutSeconds: 10,
  });
  assert.deepEqual(
    { ...cfg.admin, token: null },
    { enabled: true, host: '127.0.0.1', port: 8080, token: null, ui: { sessionHours: 8, signInAttempts: 5, signInWindowMinutes: 5 } },
  );
  assert.equal(cfg.acceptAnyCaller, false);
  assert.deepEqual(
    cfg.callers.map((c) => [c.aeTitle, c.hosts]),
    [
      ['STORESCU', ['127.0.0.1', '::1']],
      ['ECHOSCU', ['127.0.0.1', '::1']],
      ['CT01', ['127.0.0.1']],
    ],
  );
  assert.equal(cfg.storage.dataDir, path.join(ROOT, 'data'));
  assert.equal(cfg.storage.minFreeMegabytes, 1024);
  assert.equal(cfg.series.stableSeconds, 30);
  assert.deepEqual(cfg.log, { level: 'info', file: null });
  assert.deepEqual(cfg.destinations, {
    PACS: {
      protocol: 'dimse',
      aeTitle: 'ORTHANC',
      host: '127.0.0.1',
      port: 4242,
      url: null,
      auth: { type: 'none', tokenEnv: null, user: null, passwordEnv: null },
      tls: null,
      timeoutSeconds: 30,
      reportForms: ['comprehensive3d', 'comprehensive', 'basic-text'],
      acceptsSegmentation: true,
    },
  });
  assert.deepEqual(cfg.routes, [
    {
      name: 'chest-ct',
      match: { Modality: { kind: 'equals', value: 'CT' } },
      minInstances: 1,
      maxInstances: null,
      model: 'lung-nodule-reference',
      destinations: ['PACS'],
      priority: 'normal',
      window: 'auto',
      burnedInAnnotation: 'skip',
      outputs: null,
      keyImage: true,
      narrative: true,
    },
    {
      name: 'brain-t1-mr',
      match: {
        Modality: { kind: 'equals', value: 'MR' },
        SeriesDescription: { kind: 'regex', source: 't1|mprage|spgr|bravo', flags: 'i' },
      },
      minInstances: 100,
      maxInstances: null,
      model: 'meshnet-gwm',
      destinations: ['PACS'],
      priority: 'normal',
      window: 'auto',
      burnedInAnnotation: 'skip',
      outputs: ['sr', 'seg'],
      keyImage: false,
      narrative: true,
    },
  ]);
  assert.deepEqual(cfg.routing, { mode: 'first' });
  assert.deepEqual(cfg.report, { language: 'en', manufacturer: 'dicom-ai-node project', modelName: 'dicom-ai-node', narrative: null });
  assert.deepEqual([cfg.inference.concurrency, cfg.inference.timeLimitSeconds], [1, 900]);
});

test('route outputs: a list of sr/seg/key-image-sc with "sr" in it; keyImage is its older spelling', () => {
  const outputsOf = (route: Record<string, unknown>) => {
    const raw = base();
    Object.assign(raw['routes'][0]!, route);
    return [...routeOutputs(parseConfig(raw, '/x').routes[0]!)].sort();
  };
  assert.deepEqual(outputsOf({}), ['sr'], 'default: the SR only');
  assert.deepEqual(outputsOf({ keyImage: true }), ['key-image-sc', 'sr']);
  assert.deepEqual(outputsOf({ outputs: ['sr', 'seg'] }), ['seg', 'sr']);
  assert.deepEqual(outputsOf({ outputs: ['sr', 'key-image-sc'], keyImage: true }), ['key-image-sc', 'sr'], 'agreeing alias');
  const bad = base();
  Object.assign(bad['routes'][0]!, { outputs: ['seg', 'mesh', 'seg'], keyImage: true });
  const problems = parseProblems(bad);
  assertHas(problems, /routes\[0\]\.outputs\[1\].*"mesh" is not an output; e\.g\. \["sr", "seg"\] \(choices: sr, seg, key-image-sc\)/);
  assertHas(problems, /routes\[0\]\.outputs\[2\].*"seg" is listed more than once/);
  assertHas(problems, /routes\[0\]\.outputs.*has no "sr"/);
  assertHas(problems, /routes\[0\]\.keyImage.*contradicts outputs \[seg\]; remove keyImage/);
  assertHas(
    parseProblems({ ...base(), routes: [{ ...base()['routes'][0], outputs: 'sr' }] }),
    /routes\[0\]\.outputs.*should be a list of outputs/,
  );
});

test('destinations.<name>.acceptsSegmentation: true unless set false; anything but a boolean is named', () => {
  const raw = base();
  raw['destinations'] = {
    PACS: { aeTitle: 'A', host: '127.0.0.1', port: 1 },
    OLD: { aeTitle: 'B', host: '127.0.0.1', port: 2, acceptsSegmentation: false },
  };
  const cfg = parseConfig(raw, '/x');
  assert.equal(cfg.destinations['PACS']?.acceptsSegmentation, true);
  assert.equal(cfg.destinations['OLD']?.acceptsSegmentation, false);
  const bad = base();
  bad['destinations'] = { PACS: { aeTitle: 'A', host: '127.0.0.1', port: 1, acceptsSegmentation: 'no' } };
  assertHas(parseProblems(bad), /destinations\.PACS\.acceptsSegmentation/);
});

test('defaults are applied for omitted settings', () => {
  const cfg: NodeConfig = parseConfig({ callers: [{ aeTitle: 'CT01' }] }, '/etc/dicom-ai');
  assert.equal(cfg.node.aeTitle, 'DICOM_AI');
  assert.equal(cfg.node.host, '0.0.0.0');
  assert.equal(cfg.node.port, 11112);
  assert.equal(cfg.node.maxAssociations, 32);
  assert.equal(cfg.node.maxPduLength, 65536);
  assert.equal(cfg.node.maxInstanceBytes, 4294967296);
  assert.equal(cfg.node.fsync, true);
  assert.equal(cfg.callers[0]!.hosts, null, 'omitted hosts = any host');
  assert.equal(cfg.storage.dataDir, path.resolve('/etc/dicom-ai/data'));
  assert.equal(cfg.storage.minFreeMegabytes, 1024);
  assert.equal(cfg.series.stableSeconds, 30);
  assert.deepEqual(cfg.log, { level: 'info', file: null });
  assert.deepEqual(cfg.destinations, {});
  assert.deepEqual(cfg.routes, []);
  assert.equal(cfg.configPath, '');
  assert.equal(cfg.configDir, path.resolve('/etc/dicom-ai'));
});

test('AE titles are trimmed; IPv4-mapped and IPv6 caller hosts are canonicalised', () => {
  const raw = base();
  raw['node'].aeTitle = '  DICOM_AI ';
  raw['callers'] = [{ aeTitle: ' CT01  ', hosts: ['::ffff:10.0.0.5', '::FFFF:7f00:1', '2001:DB8:0:0:0:0:0:1', '10.0.0.5'] }];
  const cfg = parseConfig(raw, '/x');
  assert.equal(cfg.node.aeTitle, 'DICOM_AI');
  assert.equal(cfg.callers[0]!.aeTitle, 'CT01');
  assert.deepEqual(cfg.callers[0]!.hosts, ['10.0.0.5', '127.0.0.1', '2001:db8::1']);
});

test('"//" keys are comments and are ignored', () => {
  const raw = base();
  raw['//'] = 'main site';
  raw['node']['// port'] = 'agreed with PACS team';
  assert.equal(parseConfig(raw, '/x').node.port, 11112);
});

test('port 0 is accepted for node.port (tests pick a free port)', () => {
  const raw = base();
  raw['node'].port = 0;
  assert.equal(parseConfig(raw, '/x').node.port, 0);
});

// --- individual problems ---------------------------------------------------------

test('AE title too long', () => {
  const raw = base();
  raw['node'].aeTitle = 'THIS_IS_A_VERY_LONG_AE';
  assertHas(
    parseProblems(raw),
    'node.aeTitle: "THIS_IS_A_VERY_LONG_AE" is 22 characters; a DICOM AE title is at most 16 characters (letters, digits, space, _ - . ; no backslash)',
  );
});

test('AE title with backslash, control character, all spaces, or not text', () => {
  const raw = base();
  raw['node'].aeTitle = 'CT\\01';
  raw['callers'] = [{ aeTitle: '    ' }, { aeTitle: 'A\tB' }, { aeTitle: 42 }];
  const problems = parseProblems(raw);
  assertHas(problems, /^node\.aeTitle: "CT\\\\01" contains a backslash/);
  assertHas(problems, /^callers\[0\]\.aeTitle: " {4}" is empty; a DICOM AE title is 1 to 16 characters/);
  assertHas(problems, /^callers\[1\]\.aeTitle: .*control character/);
  assertHas(problems, /^callers\[2\]\.aeTitle: 42 is not an AE title/);
});

test('port out of range, not a number, or quoted', () => {
  const raw = base();
  raw['node'].port = 70000;
  raw['destinations'].PACS!.port = '4242';
  const problems = parseProblems(raw);
  assertHas(problems, 'node.port: 70000 is not a TCP port (1-65535)');
  assertHas(problems, 'destinations.PACS.port: "4242" is not a TCP port (1-65535); write the number without quotes: 4242');
});

test('dashboard session lifetime and sign-in limit out of range', () => {
  const raw = base();
  raw['admin'] = { ui: { sessionHours: 0, signInAttempts: 2.5, signInWindowMinutes: '5' } };
  const problems = parseProblems(raw);
  assertHas(problems, /^admin\.ui\.sessionHours: 0 /);
  assertHas(problems, /^admin\.ui\.signInAttempts: 2\.5 .*whole number/);
  assertHas(problems, /^admin\.ui\.signInWindowMinutes: "5" /);
});

test('caller host that is not an IP address', () => {
  const raw = base();
  raw['callers'] = [
    { aeTitle: 'CT01', hosts: ['127.0.0.1'] },
    { aeTitle: 'MR01', hosts: ['10.0.0.300', 'mr01.hospital.local', '10.0.0.0/24'] },
    { aeTitle: 'US01', hosts: [] },
    { aeTitle: 'XR01', hosts: '10.0.0.7' },
  ];
  const problems = parseProblems(raw);
  assertHas(problems, /^callers\[1\]\.hosts\[0\]: "10\.0\.0\.300" is not an IP address/);
  assertHas(problems, /^callers\[1\]\.hosts\[1\]: "mr01\.hospital\.local" is not an IP address; callers are checked by IP address/);
  assertHas(problems, /^callers\[1\]\.hosts\[2\]: "10\.0\.0\.0\/24" is not an IP address; address ranges \(CIDR\)/);
  assertHas(problems, /^callers\[2\]\.hosts: the list is empty/);
  assertHas(problems, /^callers\[3\]\.hosts: "10\.0\.0\.7" should be a list of IP addresses; write it as a list: \["10\.0\.0\.7"\]/);
});

test('route destination not defined', () => {
  const raw = base();
  raw['routes'][0]!.destinations = ['PACS2'];
  assertHas(parseProblems(raw), /^routes\[0\]\.destinations\[0\]: "PACS2" is not defined under "destinations" \(defined: PACS\)/);
});

test('unknown keys, with a did-you-mean suggestion', () => {
  const raw = base();
  raw['node'].aeTitel = 'X';
  raw['node'].dataDir = './data';
  raw['routes'][0]!.destination = ['PACS'];
  raw['logging'] = {};
  raw['port'] = 104;
  const problems = parseProblems(raw);
  assertHas(problems, 'node.aeTitel: unknown key (did you mean "aeTitle"?)');
  assertHas(problems, 'node.dataDir: unknown key (did you mean "storage.dataDir"? it belongs under "storage")');
  assertHas(problems, 'routes[0].destination: unknown key (did you mean "destinations"?)');
  assertHas(problems, 'logging: unknown key (did you mean "log"?)');
  assertHas(problems, 'port: unknown key (did you mean "node.port"? it belongs under "node")');
});

test('unknown key with no close match lists the allowed keys', () => {
  const raw = base();
  raw['storage'] = { frobnicate: 1 };
  assertHas(parseProblems(raw), 'storage.frobnicate: unknown key (allowed here: dataDir, minFreeMegabytes)');
});

test('duplicate caller AE titles', () => {
  const raw = base();
  raw['callers'] = [{ aeTitle: 'CT01' }, { aeTitle: 'MR01' }, { aeTitle: 'CT01 ', hosts: ['10.0.0.9'] }];
  assertHas(parseProblems(raw), /^callers\[2\]\.aeTitle: "CT01" is already listed at callers\[0\]/);
});

test('no callers while acceptAnyCaller is false', () => {
  const raw = base();
  raw['callers'] = [];
  assertHas(parseProblems(raw), /^callers: the list is empty and acceptAnyCaller is false, so no modality could connect/);
  delete raw['callers'];
  assertHas(parseProblems(raw), /^callers: missing and acceptAnyCaller is false, so no modality could connect/);
  raw['acceptAnyCaller'] = true;
  assert.deepEqual(parseConfig(raw, '/x').callers, []);
});

test('numbers: wrong type, not whole, out of range', () => {
  const raw = base();
  raw['node'].maxAssociations = '32';
  raw['node'].maxPduLength = 1000;
  raw['node'].maxInstanceBytes = 0;
  raw['node'].idleTimeoutSeconds = -1;
  raw['node'].fsync = 'true';
  raw['storage'] = { minFreeMegabytes: 1.5 };
  raw['series'] = { stableSeconds: 0 };
  const problems = parseProblems(raw);
  assertHas(problems, /^node\.maxAssociations: "32" is not a number; .*write the number without quotes: 32$/);
  assertHas(problems, 'node.maxPduLength: 1000 is out of range; expected a whole number of bytes from 4096 to 16777216');
  assertHas(problems, /^node\.maxInstanceBytes: 0 is out of range/);
  assertHas(problems, /^node\.idleTimeoutSeconds: -1 is out of range; expected a number of seconds greater than 0/);
  assertHas(problems, 'node.fsync: "true" should be true or false; write true without quotes');
  assertHas(problems, /^storage\.minFreeMegabytes: 1\.5 is not a whole number/);
  assertHas(problems, /^series\.stableSeconds: 0 is out of range/);
});

test('log level, wrong section types, host and route problems', () => {
  const raw = base();
  raw['log'] = { level: 'verbose', file: '' };
  raw['storage'] = 'data';
  raw['node'].host = '10.0.0.5:11112';
  raw['destinations'].VNA = { host: 'vna.local' };
  raw['routes'].push({ name: 'chest-ct', match: { modality: 'CT', BodyPartExamined: 5 }, model: '../evil', destinations: [] });
  const problems = parseProblems(raw);
  assertHas(problems, 'log.level: "verbose" is not a log level (use one of: error, warn, info, debug)');
  assertHas(problems, /^log\.file: "" is not a usable path/);
  assertHas(problems, 'storage: "data" should be an object { ... }');
  assertHas(problems, /^node\.host: "10\.0\.0\.5:11112" is not an IP address or host name; put the port number in "port"/);
  assertHas(problems, /^destinations\.VNA\.aeTitle: missing; required/);
  assertHas(problems, /^destinations\.VNA\.port: missing; required/);
  assertHas(problems, /^routes\[1\]\.name: "chest-ct" is already used by routes\[0\]/);
  assertHas(problems, /^routes\[1\]\.match\.modality: "modality" is not a DICOM keyword .*did you mean "Modality"\?/);
  assertHas(problems, /^routes\[1\]\.match\.BodyPartExamined: 5 should be text; write it in double quotes: "5"/);
  assertHas(problems, /^routes\[1\]\.model: "\.\.\/evil" is not a valid model name/);
  assertHas(problems, /^routes\[1\]\.destinations: the list is empty/);
});

test('the whole document must be an object', () => {
  assertHas(parseProblems([1, 2]), /must be a JSON object/);
  assertHas(parseProblems(null), /must be a JSON object/);
});

test('all problems are reported together, one per line', () => {
  const raw = base();
  raw['node'].aeTitle = 'THIS_IS_A_VERY_LONG_AE';
  raw['node'].port = 70000;
  raw['node'].aeTitel = 'x';
  (raw['callers'] ??= []).push({ aeTitle: 'MR01', hosts: ['10.0.0.300'] });
  raw['routes'][0]!.destinations = ['PACS2'];
  let error: ConfigError | undefined;
  try {
    parseConfig(raw, '/x', '/x/site.json');
  } catch (err) {
    error = err as ConfigError;
  }
  assert.ok(error instanceof ConfigError);
  assert.equal(error.problems.length, 5, error.message);
  const lines = error.message.split('\n');
  assert.equal(lines[0], 'Configuration file /x/site.json has 5 problems:');
  assert.equal(lines.length, 6);
  for (const problem of error.problems) assert.ok(lines.includes(`  - ${problem}`));
  for (const key of ['node.aeTitle:', 'node.port:', 'node.aeTitel:', 'callers[1].hosts[0]:', 'routes[0].destinations[0]:']) {
    assert.ok(
      error.problems.some((p) => p.startsWith(key)),
      key,
    );
  }
});

// --- files -------------------------------------------------------------------

test('relative paths resolve against the config file folder', () => {
  const raw = base();
  raw['storage'] = { dataDir: 'store' };
  raw['log'] = { level: 'DEBUG', file: '../logs/node.log' };
  const file = writeConfig('site/conf/node.json', JSON.stringify(raw));
  const cfg = loadConfig(path.relative(process.cwd(), file));
  const dir = path.join(tempDir(), 'site', 'conf');
  assert.equal(cfg.configPath, file);
  assert.equal(cfg.configDir, dir);
  assert.equal(cfg.storage.dataDir, path.join(dir, 'store'));
  assert.equal(cfg.log.file, path.join(tempDir(), 'site', 'logs', 'node.log'));
  assert.equal(cfg.log.level, 'debug');

  raw['storage'] = { dataDir: '/var/lib/dicom-ai' };
  const abs = loadConfig(writeConfig('site/abs.json', JSON.stringify(raw)));
  assert.equal(abs.storage.dataDir, path.resolve('/var/lib/dicom-ai'));
});

test('invalid JSON is reported with line and column', () => {
  const cases: Array<[string, RegExp]> = [
    ['{\n  "node": {\n    "port": 11112,\n  }\n}\n', /at line 4, column 3: a comma before '}' is not allowed/],
    ['{\n  "node": { "port": }\n}', /at line 2, column 21: unexpected .}.; expected a value/],
    ['{\n  // site config\n  "node": {}\n}', /at line 2, column 3: comments are not allowed in JSON/],
    ['{\n  "node": {\n    "aeTitle": "A"\n    "port": 1\n  }\n}', /at line 4, column 5: missing comma/],
    ['{ "storage": { "dataDir": "C:\\data" } }', /at line 1, column 30: invalid escape "\\d"/],
    ['{ "node": { "aeTitle": CT01 } }', /at line 1, column 24: unquoted text CT01/],
    ['{ "node": {', /at line 1, column 12: the file ends too early/],
  ];
  for (const [text, expected] of cases) {
    const file = writeConfig('bad.json', text);
    const problems = problemsOf(() => loadConfig(file));
    assert.equal(problems.length, 1);
    assert.ok(problems[0]!.startsWith(`${file}: not valid JSON at line `), problems[0]);
    assert.match(problems[0]!, expected);
  }
});

test('missing, empty and BOM-prefixed files', () => {
  const missing = path.join(tempDir(), 'nope.json');
  assert.deepEqual(
    problemsOf(() => loadConfig(missing)),
    [`${missing}: configuration file not found`],
  );
  assertHas(
    problemsOf(() => loadConfig(writeConfig('empty.json', ' \n'))),
    /the file is empty/,
  );
  const bom = writeConfig('bom.json', `\uFEFF${JSON.stringify(base())}`);
  assert.equal(loadConfig(bom).node.aeTitle, 'DICOM_AI');
});

test('keys repeated in the file are reported', () => {
  const text = '{\n  "node": { "port": 104,\n    "port": 11112 },\n  "callers": [{ "aeTitle": "CT01" }]\n}';
  assertHas(
    problemsOf(() => loadConfig(writeConfig('dup.json', text))),
    /^node\.port: this key appears more than once \(again at line 3\)/,
  );
});

// --- helpers -------------------------------------------------------------------

test('canonicalIp / sameIp', () => {
  assert.equal(canonicalIp('::ffff:192.168.0.1'), '192.168.0.1');
  assert.equal(canonicalIp('::ffff:c0a8:1'), '192.168.0.1');
  assert.equal(canonicalIp('FE80:0:0:0:0:0:0:1%eth0'), 'fe80::1%eth0');
  assert.equal(canonicalIp('2001:db8:0:1:0:0:0:1'), '2001:db8:0:1::1');
  assert.equal(canonicalIp('::'), '::');
  assert.equal(canonicalIp('10.0.0.300'), null);
  assert.ok(sameIp('fe80::1%eth0', 'fe80::1'));
  assert.ok(!sameIp('10.0.0.1', 'not-an-ip'));
});

test('audit.syslog: host required, port defaults to 514, bad values named', () => {
  const ok = parseConfig({ callers: [{ aeTitle: 'CT01' }], audit: { syslog: { host: '10.0.0.5' } } }, '/etc/dicom-ai');
  assert.deepEqual(ok.audit.syslog, { host: '10.0.0.5', port: 514, appName: 'dicom-ai-node' });
  assert.equal(parseConfig({ callers: [{ aeTitle: 'CT01' }] }, '/etc/dicom-ai').audit.syslog, null);
  assert.throws(
    () => parseConfig({ callers: [{ aeTitle: 'CT01' }], audit: { syslog: { port: 70000, appName: 'has space' } } }, '/etc/dicom-ai'),
    (e: Error) =>
      /audit\.syslog\.host/.test(e.message) && /audit\.syslog\.port/.test(e.message) && /audit\.syslog\.appName/.test(e.message),
  );
});

test('a DICOMweb destination: url, basic auth by environment variable, host and port taken from the url', () => {
  process.env['TEST_PACS_PASSWORD'] = 'not-in-the-config';
  const raw = base();
  raw['destinations'].WEB = {
    protocol: 'dicomweb',
    url: 'https://pacs.example.org:8443/dicom-web/',
    auth: { type: 'basic', user: 'node', passwordEnv: 'TEST_PACS_PASSWORD' },
    timeoutSeconds: 120,
  };
  const web = parseConfig(raw, '/etc/dicom-ai').destinations['WEB'];
  assert.ok(web);
  assert.equal(web.protocol, 'dicomweb');
  assert.equal(web.url, 'https://pacs.example.org:8443/dicom-web', 'no trailing slash: paths are appended');
  assert.deepEqual([web.host, web.port, web.timeoutSeconds], ['pacs.example.org', 8443, 120]);
  assert.deepEqual(web.auth, { type: 'basic', tokenEnv: null, user: 'node', passwordEnv: 'TEST_PACS_PASSWORD' });
  assert.ok(!JSON.stringify(web).includes('not-in-the-config'), 'the password is never part of the configuration');
});

test('DICOMweb destination mistakes are named for an IT admin', () => {
  delete process.env['TEST_UNSET_TOKEN'];
  const raw = base();
  raw['destinations'].WEB = { protocol: 'dicomweb', aeTitle: 'X', auth: { type: 'bearer', user: 'me' } };
  raw['destinations'].PLAIN = {
    protocol: 'dicomweb',
    url: 'http://10.0.0.9/dicom-web',
    auth: { type: 'bearer', tokenEnv: 'TEST_UNSET_TOKEN' },
  };
  raw['destinations'].CRED = { protocol: 'dicomweb', url: 'https://user:pw@pacs/dicom-web' };
  raw['destinations'].OLD = { aeTitle: 'A', host: '10.0.0.1', port: 104, url: 'https://pacs/dicom-web' };
  const problems = parseProblems(raw);
  assertHas(problems, /^destinations\.WEB\.url: missing; required \(the base URL of the DICOMweb service/);
  assertHas(problems, /^destinations\.WEB\.aeTitle: is not used by a DICOMweb destination/);
  assertHas(problems, /^destinations\.WEB\.auth\.tokenEnv: missing; required/);
  assertHas(problems, /^destinations\.WEB\.auth\.user: is not used with "type": "bearer"/);
  assertHas(
    problems,
    "destinations.PLAIN.auth.tokenEnv: the environment variable TEST_UNSET_TOKEN is not set (or empty) for the node's process",
  );
  assertHas(problems, /^destinations\.PLAIN\.auth: would send credentials unencrypted over http:\/\//);
  assertHas(problems, /^destinations\.CRED\.url: must not contain a user name or password/);
  assertHas(problems, /^destinations\.OLD\.url: is for a DICOMweb destination; add "protocol": "dicomweb"/);
});
