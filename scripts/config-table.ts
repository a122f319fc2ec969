// Rewrites the configuration table in README.md (between the config-table markers) from the
// tables in src/config/sections/. Run with `npm run docs:config` after changing a key.

import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

import { findPackageRoot } from '../src/config/config';
import { withConfigurationTable } from '../src/config/docs';

const readmePath = path.join(findPackageRoot(), 'README.md');
const before = readFileSync(readmePath, 'utf8');
const after = withConfigurationTable(before);
if (after === before) {
  console.log(`${readmePath}: configuration table already up to date`);
} else {
  writeFileSync(readmePath, after);
  console.log(`${readmePath}: configuration table rewritten`);
}
