/**
 * `dicom-ai-node render IN.dcm OUT.png [--window lung|C/W|auto|percentile|minmax] [--frame N]`
 * and the library call behind it.
 */
import { renderFile } from './render';
import { writePng } from './png';
import { WINDOW_PRESETS, parseWindowOption } from './voi';

export const RENDER_USAGE = `Usage: dicom-ai-node render IN.dcm OUT.png [--window W] [--frame N]
  --window  auto (default: the file's first window, else its VOI LUT, else 0.5-99.5 % percentiles),
            percentile, minmax, C/W (e.g. 40/400 or -600/1500), or a preset: ${Object.keys(WINDOW_PRESETS).join(', ')}
  --frame   1-based frame number of a multi-frame object (default 1)`;

export interface RenderToPngOptions {
  /** 'auto' | 'percentile' | 'minmax' | preset name | 'C/W' */
  window?: string;
  /** 1-based frame number (default 1). */
  frame?: number;
}

export interface RenderSummary {
  width: number;
  height: number;
  channels: 1 | 3;
  /** What was applied, e.g. "window 40/400 LINEAR (file)"; absent for colour images. */
  voi?: string;
}

/** Renders frame `frame` of a Part 10 file to an 8-bit PNG. */
export async function renderFileToPng(inPath: string, outPath: string, opts: RenderToPngOptions = {}): Promise<RenderSummary> {
  const window = parseWindowOption(opts.window ?? 'auto');
  const f = await renderFile(inPath, { window, frame: opts.frame ?? 1 });
  await writePng(f, outPath);
  const summary: RenderSummary = { width: f.width, height: f.height, channels: f.channels };
  if (f.voi) {
    summary.voi =
      f.voi.kind === 'window'
        ? `window ${round(f.voi.center)}/${round(f.voi.width)} ${f.voi.fn} (${f.voi.source})`
        : `VOI LUT (${f.voi.lut.entries} entries, ${f.voi.source})`;
  }
  return summary;
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}

/**
 * CLI entry: `args` are the words after "render". Returns the exit code (0 ok, 1 failure, 2 usage)
 * and writes messages to the given streams (defaults: process streams).
 */
export async function runRenderCli(
  args: string[],
  io: { out: (s: string) => void; err: (s: string) => void } = {
    out: (s) => process.stdout.write(s + '\n'),
    err: (s) => process.stderr.write(s + '\n'),
  },
): Promise<number> {
  const positional: string[] = [];
  let window: string | undefined;
  let frame: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    const eq = a.indexOf('=');
    const name = a.startsWith('--') ? (eq > 0 ? a.slice(2, eq) : a.slice(2)) : undefined;
    if (name === undefined) {
      positional.push(a);
      continue;
    }
    if (name === 'help') {
      io.out(RENDER_USAGE);
      return 0;
    }
    const value = eq > 0 ? a.slice(eq + 1) : args[++i];
    if (value === undefined) {
      io.err(`--${name} needs a value\n${RENDER_USAGE}`);
      return 2;
    }
    if (name === 'window') window = value;
    else if (name === 'frame') {
      frame = Number(value);
      if (!Number.isInteger(frame) || frame < 1) {
        io.err(`--frame must be a positive integer\n${RENDER_USAGE}`);
        return 2;
      }
    } else {
      io.err(`unknown option --${name}\n${RENDER_USAGE}`);
      return 2;
    }
  }
  if (positional.length !== 2) {
    io.err(RENDER_USAGE);
    return 2;
  }
  const [inPath, outPath] = positional as [string, string];
  try {
    if (window !== undefined) parseWindowOption(window);
  } catch (e) {
    io.err(e instanceof Error ? e.message : String(e));
    return 2;
  }
  try {
    const opts: RenderToPngOptions = {};
    if (window !== undefined) opts.window = window;
    if (frame !== undefined) opts.frame = frame;
    const s = await renderFileToPng(inPath, outPath, opts);
    io.out(`${outPath}: ${s.width}x${s.height} ${s.channels === 1 ? 'grey' : 'RGB'}${s.voi ? `, ${s.voi}` : ''}`);
    return 0;
  } catch (e) {
    io.err(`render failed: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}
