// The follower and the line splitter, on real files in a temporary directory. poll() is called by the
// test itself: no sleeps, no timers.
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LineSplitter } from '../src/line-splitter.js';
import { LogFollower } from '../src/log-follower.js';

/** A follower whose lines are collected as strings, and overlong lines counted. */
function follow(path: string, options: { maxLineBytes?: number; resumeFrom?: ReturnType<LogFollower['position']> } = {}) {
  const lines: string[] = [];
  let overlong = 0;
  const rotations: string[] = [];
  const splitter = new LineSplitter(options.maxLineBytes ?? 1024, {
    line: (buf, start, end) => lines.push(buf.toString('utf8', start, end)),
    overlong: () => overlong++,
  });
  const follower = new LogFollower({ path, splitter, resumeFrom: options.resumeFrom ?? null, chunkBytes: 64, onRotation: (kind) => rotations.push(kind) });
  return { follower, lines, rotations, overlong: () => overlong };
}

describe('line splitter', () => {
  test('gives the same lines wherever the chunks split the input', () => {
    const input = Buffer.from('first line\nsecond\r\nthird one\n');
    for (let cut = 0; cut <= input.length; cut++) {
      const lines: string[] = [];
      const splitter = new LineSplitter(64, { line: (b, s, e) => lines.push(b.toString('utf8', s, e)), overlong: () => assert.fail('overlong') });
      splitter.push(input.subarray(0, cut));
      splitter.push(Buffer.alloc(0));
      splitter.push(input.subarray(cut));
      assert.deepEqual(lines, ['first line', 'second', 'third one'], `cut at ${cut}`);
      assert.equal(splitter.unfinishedBytes, 0);
    }
  });

  test('counts a 5 MB line as one overlong line without holding it, and keeps the next line intact', () => {
    const lines: string[] = [];
    let overlong = 0;
    const splitter = new LineSplitter(1024, { line: (b, s, e) => lines.push(b.toString('utf8', s, e)), overlong: () => overlong++ });
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    for (let i = 0; i < 80; i++) splitter.push(chunk); // 5 MiB without a newline
    assert.equal(splitter.unfinishedBytes, 80 * chunk.length);
    splitter.push(Buffer.from('tail\nnext\n'));
    assert.equal(overlong, 1);
    assert.deepEqual(lines, ['next']);
    assert.equal(splitter.unfinishedBytes, 0);
  });

  test('reports the bytes of an unfinished line, so a saved position stays at a line boundary', () => {
    const splitter = new LineSplitter(64, { line: () => {}, overlong: () => {} });
    splitter.push(Buffer.from('done\nhalf a li'));
    assert.equal(splitter.unfinishedBytes, 'half a li'.length);
  });
});

describe('log follower', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'av-follower-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('waits for a file that does not exist yet', async () => {
    const path = join(dir, 'later.log');
    const { follower, lines } = follow(path);
    await follower.poll();
    assert.deepEqual(lines, []);
    await writeFile(path, 'a\nb\n');
    await follower.poll();
    assert.deepEqual(lines, ['a', 'b']);
    await follower.close();
  });

  test('counts a line split across polls once, when its newline arrives', async () => {
    const path = join(dir, 'partial.log');
    await writeFile(path, 'one\ntw');
    const { follower, lines } = follow(path);
    await follower.poll();
    assert.deepEqual(lines, ['one']);
    assert.equal(follower.position()?.offset, 4);
    await appendFile(path, 'o\n');
    await follower.poll();
    assert.deepEqual(lines, ['one', 'two']);
    assert.equal(follower.position()?.offset, 8);
    await follower.close();
  });

  test('follows a rename rotation: the old file to its end, then the new one from its start', async () => {
    const path = join(dir, 'rename.log');
    await writeFile(path, 'old 1\n');
    const { follower, lines, rotations } = follow(path);
    await follower.poll();
    await rename(path, `${path}.1`);
    await writeFile(path, ''); // logrotate's create
    await appendFile(`${path}.1`, 'old 2\n'); // nginx writes to the old file until it reopens
    await follower.poll();
    assert.deepEqual(lines, ['old 1', 'old 2'], 'switched while the new file was still empty');
    await appendFile(`${path}.1`, 'old 3\n');
    await appendFile(path, 'new 1\n'); // nginx reopened
    await follower.poll();
    assert.deepEqual(lines, ['old 1', 'old 2', 'old 3', 'new 1']);
    assert.deepEqual(rotations, ['rename']);
    await follower.close();
  });

  test('follows a copytruncate rotation: a file shorter than the offset is read again from 0', async () => {
    const path = join(dir, 'truncate.log');
    await writeFile(path, 'before 1\nbefore 2\n');
    const { follower, lines, rotations } = follow(path);
    await follower.poll();
    await truncate(path, 0);
    await appendFile(path, 'after\n');
    await follower.poll();
    assert.deepEqual(lines, ['before 1', 'before 2', 'after']);
    assert.deepEqual(rotations, ['truncate']);
    await follower.close();
  });

  test('resumes at a saved position: no line twice, none lost', async () => {
    const path = join(dir, 'resume.log');
    await writeFile(path, 'a\nb\nc');
    const first = follow(path);
    await first.follower.poll();
    const saved = first.follower.position();
    await first.follower.close();
    await appendFile(path, '\nd\n');
    const second = follow(path, { resumeFrom: saved });
    await second.follower.poll();
    assert.deepEqual([...first.lines, ...second.lines], ['a', 'b', 'c', 'd']);
    await second.follower.close();
  });

  test('after a rotation while it was down, finishes the rotated file (found by inode) before the new one', async () => {
    const path = join(dir, 'down.log');
    await writeFile(path, 'a\n');
    const first = follow(path);
    await first.follower.poll();
    const saved = first.follower.position();
    await first.follower.close();
    await appendFile(path, 'b\n');
    await rename(path, `${path}.1`);
    await writeFile(path, 'c\n');
    const second = follow(path, { resumeFrom: saved });
    await second.follower.poll();
    assert.deepEqual([...first.lines, ...second.lines], ['a', 'b', 'c']);
    await second.follower.close();
  });

  test('a position saved after a truncation while down starts the file over', async () => {
    const path = join(dir, 'shrunk.log');
    await writeFile(path, 'long line one\nlong line two\n');
    const first = follow(path);
    await first.follower.poll();
    const saved = first.follower.position();
    await first.follower.close();
    await truncate(path, 0);
    await appendFile(path, 'x\n');
    const second = follow(path, { resumeFrom: saved });
    await second.follower.poll();
    assert.deepEqual(second.lines, ['x']);
    await second.follower.close();
  });
});
