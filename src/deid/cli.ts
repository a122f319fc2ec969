/**
 * `deid IN OUT [--option NAME ...] [--secret-file F]`: de-identifies one Part 10 file or a folder
 * of them (OUT mirrors IN's tree). The lead wires this into src/cli/main.ts.
 *
 * The secret keys the UID, pseudonym and date-shift mapping; it must be the same on every run of
 * one installation (else a series de-identified in two runs no longer fits together), so there is
 * no random default: it comes from --secret-file or $DICOM_AI_DEID_SECRET.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readPart10Header } from '../dicom/part10';
import { isDeidOption, SUPPORTED_OPTIONS } from './actions';
import { deidentifyPart10 } from './deidentify';

const USAGE = `usage: deid IN OUT [--option NAME ...] [--secret-file FILE]
  IN, OUT        a Part 10 file and the file to write, or folders (OUT mirrors IN)
  --option NAME  one of: ${SUPPORTED_OPTIONS.join(', ')}
  --secret-file  file holding the installation's secret (>= 16 bytes); else $DICOM_AI_DEID_SECRET`;

interface Parsed {
  input: string;
  output: string;
  options: string[];
  secretFile?: string;
}

function parseArgs(args: string[]): Parsed | string {
  const positional: string[] = [];
  const options: string[] = [];
  let secretFile: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--option' || a === '--secret-file') {
      const v = args[++i];
      if (v === undefined) return `${a} needs a value`;
      if (a === '--option') options.push(v);
      else secretFile = v;
    } else if (a.startsWith('--option=')) options.push(a.slice('--option='.length));
    else if (a.startsWith('--secret-file=')) secretFile = a.slice('--secret-file='.length);
    else if (a.startsWith('--')) return `unknown flag ${a}`;
    else positional.push(a);
  }
  if (positional.length !== 2) return 'expected IN and OUT';
  for (const o of options) if (!isDeidOption(o)) return `unknown option ${o}`;
  return { input: positional[0] as string, output: positional[1] as string, options, secretFile };
}

function* walkFiles(dir: string): Generator<string> {
  for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* walkFiles(p);
    else if (e.isFile()) yield p;
  }
}

/** Runs the command; returns the exit code (0 all good, 1 some files failed, 2 usage error). */
export function runDeidCli(args: string[]): number {
  const parsed = parseArgs(args);
  if (typeof parsed === 'string') {
    process.stderr.write(`deid: ${parsed}\n${USAGE}\n`);
    return 2;
  }
  let secret: Buffer;
  try {
    if (parsed.secretFile !== undefined) secret = fs.readFileSync(parsed.secretFile);
    else if (process.env.DICOM_AI_DEID_SECRET) secret = Buffer.from(process.env.DICOM_AI_DEID_SECRET, 'utf8');
    else throw new Error('no secret: pass --secret-file or set DICOM_AI_DEID_SECRET');
    if (secret.length < 16) throw new Error('the secret must be at least 16 bytes');
  } catch (e) {
    process.stderr.write(`deid: ${(e as Error).message}\n`);
    return 2;
  }

  const inPath = path.resolve(parsed.input);
  const outPath = path.resolve(parsed.output);
  if (!fs.existsSync(inPath)) {
    process.stderr.write(`deid: ${parsed.input} does not exist\n`);
    return 2;
  }
  const inIsDir = fs.statSync(inPath).isDirectory();
  if (inIsDir && (outPath === inPath || outPath.startsWith(inPath + path.sep))) {
    process.stderr.write('deid: OUT must not be IN or inside it\n');
    return 2;
  }
  if (!inIsDir && outPath === inPath) {
    process.stderr.write('deid: OUT must not overwrite IN\n');
    return 2;
  }

  // Pairs of (source, destination); collected first so that writing never feeds the walk.
  const jobs: [string, string][] = inIsDir
    ? [...walkFiles(inPath)].map((f) => [f, path.join(outPath, path.relative(inPath, f))])
    : [[inPath, fs.existsSync(outPath) && fs.statSync(outPath).isDirectory() ? path.join(outPath, path.basename(inPath)) : outPath]];

  let done = 0;
  let notDicom = 0;
  let failed = 0;
  let risky = 0;
  for (const [src, dst] of jobs) {
    const rel = inIsDir ? path.relative(inPath, src) : path.basename(src);
    const bytes = fs.readFileSync(src);
    try {
      readPart10Header(bytes);
    } catch {
      notDicom++;
      continue;
    }
    try {
      const r = deidentifyPart10(bytes, { secret, options: parsed.options });
      fs.mkdirSync(path.dirname(dst), { recursive: true });
      fs.writeFileSync(dst, r.bytes);
      done++;
      if (r.burnedInAnnotationRisk) {
        risky++;
        process.stdout.write(`burned-in annotation risk: ${rel}: ${r.reasons.join('; ')}\n`);
      }
      for (const w of r.warnings) process.stdout.write(`note: ${rel}: ${w}\n`);
    } catch (e) {
      failed++;
      // Messages of our errors carry structure only (tags, offsets), never values.
      process.stdout.write(`failed: ${rel}: ${(e as Error).message}\n`);
    }
  }
  process.stdout.write(
    `de-identified ${done} file(s)` +
      (notDicom ? `, skipped ${notDicom} non-DICOM file(s)` : '') +
      (failed ? `, ${failed} failed` : '') +
      (risky ? `, ${risky} with burned-in annotation risk` : '') +
      (parsed.options.length ? ` (options: ${parsed.options.join(', ')})` : '') +
      '\n',
  );
  return failed > 0 ? 1 : 0;
}
