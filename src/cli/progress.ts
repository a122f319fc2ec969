// Progress of a long `send` on stderr: a bar redrawn in place on a terminal, a line every 10 %
// otherwise (a log file or a pipe must not fill up with carriage returns).
export class Progress {
  private done = 0;
  private bytes = 0;
  private failed = 0;
  private lastDecile = -1;
  private readonly t0 = Date.now();
  private readonly tty: boolean;

  constructor(
    private readonly total: number,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = Boolean(out.isTTY);
  }

  step(bytes: number, ok: boolean): void {
    this.done++;
    this.bytes += bytes;
    if (!ok) this.failed++;
    const line = this.line();
    if (this.tty) this.out.write(`\r${line}`);
    else {
      const decile = Math.floor((this.done / Math.max(1, this.total)) * 10);
      if (decile !== this.lastDecile) {
        this.lastDecile = decile;
        this.out.write(`${line}\n`);
      }
    }
  }

  finish(): void {
    if (this.tty && this.done > 0) this.out.write('\n');
  }

  private line(): string {
    const width = 30;
    const filled = Math.round((this.done / Math.max(1, this.total)) * width);
    const s = (Date.now() - this.t0) / 1000;
    const rate = s > 0 ? (this.done / s).toFixed(1) : '-';
    const mb = (this.bytes / 1048576).toFixed(1);
    return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${this.done}/${this.total} files, ${mb} MB, ${rate} files/s${this.failed ? `, ${this.failed} failed` : ''}`;
  }
}
