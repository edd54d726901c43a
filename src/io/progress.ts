// A terminal progress bar for long work: bar, count, rate, ETA and a few live numbers. On a
// terminal it redraws one line; elsewhere (CI logs, pipes) it prints a line every 10 %.

export interface ProgressOptions {
  total: number;
  label: string;
  stream?: NodeJS.WriteStream;
  /** Disable output (tests, --quiet). */
  silent?: boolean;
}

function fmtDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--:--";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

export class Progress {
  private readonly start = performance.now();
  private lastPercentPrinted = -1;
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;

  constructor(private readonly o: ProgressOptions) {
    this.stream = o.stream ?? process.stderr;
    this.tty = !!this.stream.isTTY;
  }

  /** Advance to `done` items (absolute), with extra fields to show (e.g. loss). */
  update(done: number, fields: Record<string, string | number> = {}): void {
    if (this.o.silent) return;
    const elapsed = (performance.now() - this.start) / 1000;
    const rate = done / Math.max(elapsed, 1e-9);
    const eta = (this.o.total - done) / rate;
    const frac = Math.min(1, done / Math.max(1, this.o.total));
    const extra = Object.entries(fields)
      .map(
        ([k, v]) =>
          `${k} ${typeof v === "number" ? (Math.abs(v) >= 100 || v === 0 ? v.toFixed(1) : v.toPrecision(4)) : v}`,
      )
      .join("  ");
    const head = `${this.o.label} ${String(done).padStart(String(this.o.total).length)}/${this.o.total}`;
    const tail = `${rate.toFixed(2)} it/s  ETA ${fmtDuration(eta)}  ${extra}`;
    if (this.tty) {
      const width = 24;
      const filled = Math.round(frac * width);
      this.stream.write(`\r${head} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${tail}\x1b[K`);
    } else {
      const pct = Math.floor(frac * 10) * 10;
      if (pct > this.lastPercentPrinted || done === this.o.total) {
        this.lastPercentPrinted = pct;
        this.stream.write(`${head} (${pct}%) ${tail}\n`);
      }
    }
  }

  /** A message above the bar (epoch summaries). */
  note(line: string): void {
    if (this.o.silent) return;
    this.stream.write(this.tty ? `\r${line}\x1b[K\n` : `${line}\n`);
  }

  finish(): void {
    if (!this.o.silent && this.tty) this.stream.write("\n");
  }
}
