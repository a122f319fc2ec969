#!/usr/bin/env node
// `npm test` talks to real DICOM peers from Debian packages. This makes sure they are there:
// installs the missing ones with apt-get when it can (root on Debian/Ubuntu, as on CI and the
// development machines), or stops with the exact command to run.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');

// package -> a program it provides that the tests run
const PEERS = {
  dcmtk: ['echoscu', 'storescu', 'storescp', 'dcmftest', 'dcmdump', 'dsrdump'],
  dicom3tools: ['dciodvfy'],
  orthanc: ['Orthanc'],
};

function has(program) {
  const dirs = (process.env.PATH || '').split(':').concat(['/usr/sbin', '/usr/bin', '/sbin']);
  return dirs.some((d) => d && fs.existsSync(`${d}/${program}`));
}

const missing = Object.entries(PEERS)
  .filter(([, programs]) => programs.some((p) => !has(p)))
  .map(([pkg]) => pkg);
if (missing.length === 0) process.exit(0);

const command = `apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`;
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasApt = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
if (!isRoot || !hasApt || process.env.DICOM_AI_NO_APT === '1') {
  console.error(`The tests need these Debian packages: ${missing.join(', ')}.\nInstall them with:\n  sudo sh -c '${command}'`);
  process.exit(1);
}
console.error(`Installing test peers: ${missing.join(', ')} ...`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
execFileSync('sh', ['-c', command], { stdio: 'inherit', env });
// The Debian orthanc package starts a system service on 4242/8042; the tests run their own.
if (missing.includes('orthanc')) spawnSync('sh', ['-c', 'service orthanc stop || true'], { stdio: 'ignore' });
