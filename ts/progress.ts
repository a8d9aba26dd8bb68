/**
 * Training progress: the event the native side reports, a one-line text form of it, and a
 * self-updating progress line for terminals.
 *
 * @packageDocumentation
 */

/** One progress report from a training phase (sent per batch or per epoch). */
export interface ProgressEvent {
  /** The training phase, e.g. `pretrain`, `siamese`, `dgg`. */
  phase: string;
  /** The current epoch of this phase (1-based). */
  epoch: number;
  /** The number of epochs of this phase (0 when the phase has no epochs, e.g. k-means). */
  epochs: number;
  /** The current batch within the epoch (1-based). */
  batch: number;
  /** The number of batches per epoch (0 when the phase does not batch). */
  batches: number;
  /** Loss terms of this phase (e.g. `loss`, `recon`, `kl`), as running means. */
  losses: Record<string, number>;
  /** Seconds since the phase started. */
  elapsedSeconds: number;
  /** Estimated seconds until the phase ends, or `null` when not yet known. */
  etaSeconds: number | null;
}

function fmtNumber(v: number): string {
  return Number.isFinite(v) ? v.toPrecision(4) : String(v);
}

function fmtSeconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  if (s < 60) return `${Math.round(s)}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/**
 * Formats an event as one line, e.g.
 * `dgg epoch 12/100 batch 7/8 loss=123.4 recon=45.67 eta 31s`.
 * Losses have 4 significant digits; parts that do not apply (no batches, no ETA yet) are left out.
 */
export function formatProgress(e: ProgressEvent): string {
  const parts = [e.phase];
  if (e.epochs > 0) parts.push(`epoch ${e.epoch}/${e.epochs}`);
  if (e.batches > 0) parts.push(`batch ${e.batch}/${e.batches}`);
  for (const [name, value] of Object.entries(e.losses)) parts.push(`${name}=${fmtNumber(value)}`);
  if (e.etaSeconds !== null) parts.push(`eta ${fmtSeconds(e.etaSeconds)}`);
  return parts.join(' ');
}

/** Fraction of the phase done, assuming 1-based epoch and batch counters. */
function fraction(e: ProgressEvent): number {
  if (e.epochs <= 0) return 0;
  const done = e.batches > 0 ? e.epoch - 1 + e.batch / e.batches : e.epoch;
  return Math.min(1, Math.max(0, done / e.epochs));
}

/** The part of a stream the bar needs (satisfied by `process.stderr`). */
export interface ProgressStream {
  write(chunk: string): unknown;
  /** Terminal width, when the stream is a TTY. */
  columns?: number;
}

/**
 * A progress line for terminals: each update rewrites the line in place (`\r`), a new phase
 * starts a new line so the previous phase's final state stays visible, and {@link finish} ends
 * with a newline.
 *
 * @example
 * ```ts
 * const bar = new ProgressBar(process.stderr);
 * await model.fit(data, { onProgress: (e) => bar.update(e) });
 * bar.finish();
 * ```
 */
export class ProgressBar {
  private readonly stream: ProgressStream;
  private readonly minIntervalMs: number;
  private lastWrite = 0;
  private lastPhase: string | undefined;
  private lastEpoch = -1;
  private pending: ProgressEvent | undefined;
  private active = false;

  /**
   * @param stream - where to draw, normally `process.stderr`
   * @param opts - `minIntervalMs`: least time between redraws within one epoch (default 100), so
   *   per-batch events do not flood a slow terminal
   */
  constructor(stream: ProgressStream, opts: { minIntervalMs?: number } = {}) {
    this.stream = stream;
    this.minIntervalMs = opts.minIntervalMs ?? 100;
  }

  /** Shows `e`; redraws at once on a new phase or epoch, otherwise at most every `minIntervalMs`. */
  update(e: ProgressEvent): void {
    const now = Date.now();
    const newPhase = e.phase !== this.lastPhase;
    const newEpoch = newPhase || e.epoch !== this.lastEpoch;
    const last = e.batches > 0 && e.batch >= e.batches;
    if (!newEpoch && !last && now - this.lastWrite < this.minIntervalMs) {
      this.pending = e;
      return;
    }
    if (newPhase && this.active) this.stream.write('\n');
    this.draw(e);
    this.lastWrite = now;
    this.lastPhase = e.phase;
    this.lastEpoch = e.epoch;
  }

  /** Draws any update held back by the rate limit and ends the line. Safe to call twice. */
  finish(): void {
    if (this.pending) this.draw(this.pending);
    if (this.active) this.stream.write('\n');
    this.active = false;
    this.lastPhase = undefined;
    this.lastEpoch = -1;
  }

  private draw(e: ProgressEvent): void {
    this.pending = undefined;
    const width = this.stream.columns && this.stream.columns > 20 ? this.stream.columns : 80;
    const barWidth = 20;
    const filled = Math.round(fraction(e) * barWidth);
    let line = `[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}] ${formatProgress(e)}`;
    // One column short of the width: writing the last column makes some terminals wrap.
    if (line.length > width - 1) line = `${line.slice(0, width - 2)}…`;
    this.stream.write(`\r${line}\x1b[K`);
    this.active = true;
  }
}
