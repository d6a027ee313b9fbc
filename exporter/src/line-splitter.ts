// Turns a stream of byte chunks into whole lines. A line counts only once its newline has arrived;
// the bytes of an unfinished line are carried over to the next chunk, up to a bound: a longer line is
// not kept in memory but skipped to its newline and reported once as overlong.

import { CARRIAGE_RETURN, NEWLINE } from './ascii.js';

export interface LineSink {
  /** A whole line, bytes [start, end) of buf, without its newline (and without a trailing \r). */
  line(buf: Buffer, start: number, end: number): void;
  /** A line longer than the bound, which was skipped. */
  overlong(): void;
  /** The start of a line whose newline never came: its file was rotated away or truncated. */
  unfinished(): void;
}

export class LineSplitter {
  private readonly carry: Buffer;
  private carryLength = 0;
  private skippingOverlong = false;
  /** Bytes of the unfinished line so far, kept or skipped: how far the last whole line's end lies behind. */
  private unfinished = 0;

  constructor(private readonly maxLineBytes: number, private readonly sink: LineSink) {
    this.carry = Buffer.allocUnsafe(maxLineBytes);
  }

  get unfinishedBytes(): number {
    return this.unfinished;
  }

  push(chunk: Buffer): void {
    let position = 0;
    while (position < chunk.length) {
      const newline = chunk.indexOf(NEWLINE, position);
      if (newline < 0) {
        this.holdUnfinished(chunk, position, chunk.length);
        return;
      }
      if (this.unfinished > 0) {
        this.finishCarried(chunk, position, newline);
      } else if (newline - position > this.maxLineBytes) {
        this.sink.overlong();
      } else {
        this.emit(chunk, position, newline);
      }
      position = newline + 1;
    }
  }

  /** Gives up on an unfinished line (its file is done with or truncated), telling the sink if there was one. */
  abandon(): void {
    if (this.unfinished > 0) this.sink.unfinished();
    this.reset();
  }

  /**
   * Counts an unfinished line as a whole one: for a file read once, whole, where no newline is coming
   * (--one-shot), its last line is as complete as it will ever be.
   */
  finish(): void {
    if (this.unfinished > 0) {
      if (this.skippingOverlong) this.sink.overlong();
      else this.emit(this.carry, 0, this.carryLength);
    }
    this.reset();
  }

  private reset(): void {
    this.carryLength = 0;
    this.unfinished = 0;
    this.skippingOverlong = false;
  }

  private holdUnfinished(chunk: Buffer, start: number, end: number): void {
    const length = end - start;
    this.unfinished += length;
    if (this.skippingOverlong) return;
    if (this.carryLength + length > this.maxLineBytes) {
      this.skippingOverlong = true;
      this.carryLength = 0;
      return;
    }
    chunk.copy(this.carry, this.carryLength, start, end);
    this.carryLength += length;
  }

  private finishCarried(chunk: Buffer, start: number, newline: number): void {
    const length = newline - start;
    if (this.skippingOverlong || this.carryLength + length > this.maxLineBytes) {
      this.sink.overlong();
    } else {
      chunk.copy(this.carry, this.carryLength, start, newline);
      this.emit(this.carry, 0, this.carryLength + length);
    }
    this.reset();
  }

  private emit(buf: Buffer, start: number, end: number): void {
    this.sink.line(buf, start, end > start && buf[end - 1] === CARRIAGE_RETURN ? end - 1 : end);
  }
}
