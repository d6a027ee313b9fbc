// The follower and the line splitter, on real files in a temporary directory. poll() is called by the
// test itself: no sleeps, no timers.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, readFile, rename, rm, rmdir, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { FilePosition } from '../src/file-position.js';
import { LineSplitter } from '../src/line-splitter.js';
import { LogFollower, type StartAt } from '../src/log-follower.js';

/** A follower whose lines are collected as strings; overlong and unfinished lines, rotations and gaps recorded. */
function follow(path: string, options: { maxLineBytes?: number; resumeFrom?: FilePosition[] | null; startAt?: StartAt; rotateWaitMs?: number } = {}) {
  const lines: string[] = [];
  let overlong = 0;
  let unfinished = 0;
  const rotations: string[] = [];
  const gaps: string[] = [];
  const lostBytes: Array<number | null> = [];
  const clock = { ms: 1_000_000 };
  const follower = new LogFollower({
    path,
    newSplitter: () => new LineSplitter(options.maxLineBytes ?? 1024, {
      line: (buf, start, end) => lines.push(buf.toString('utf8', start, end)),
      overlong: () => overlong++,
      unfinished: () => unfinished++,
    }),
    resumeFrom: options.resumeFrom ?? null,
    startAt: options.startAt ?? 'beginning',
    rotateWaitMs: options.rotateWaitMs ?? 5000,
    chunkBytes: 64,
    now: () => clock.ms,
    onRotation: (kind) => rotations.push(kind),
    onGap: (message, bytes) => {
      gaps.push(message);
      lostBytes.push(bytes);
    },
  });
  return { follower, lines, rotations, gaps, lostBytes, clock, overlong: () => overlong, unfinished: () => unfinished };
}

/** The offset of the log file itself (the last position), as the state file would keep it. */
function currentOffset(follower: LogFollower): number | undefined {
  return follower.positions()?.at(-1)?.offset;
}

/** A sink for splitter tests that only collects lines. */
function collectingSink(lines: string[], overlong: () => void = () => assert.fail('overlong')) {
  return { line: (b: Buffer, s: number, e: number) => lines.push(b.toString('utf8', s, e)), overlong, unfinished: () => assert.fail('unfinished') };
}

describe('line splitter', () => {
  test('gives the same lines wherever the chunks split the input', () => {
    const input = Buffer.from('first line\nsecond\r\nthird one\n');
    for (let cut = 0; cut <= input.length; cut++) {
      const lines: string[] = [];
      const splitter = new LineSplitter(64, collectingSink(lines));
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
    const splitter = new LineSplitter(1024, collectingSink(lines, () => overlong++));
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    for (let i = 0; i < 80; i++) splitter.push(chunk); // 5 MiB without a newline
    assert.equal(splitter.unfinishedBytes, 80 * chunk.length);
    splitter.push(Buffer.from('tail\nnext\n'));
    assert.equal(overlong, 1);
    assert.deepEqual(lines, ['next']);
    assert.equal(splitter.unfinishedBytes, 0);
  });

  test('reports the bytes of an unfinished line, so a saved position stays at a line boundary', () => {
    const splitter = new LineSplitter(64, { line: () => {}, overlong: () => {}, unfinished: () => {} });
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
    assert.equal(currentOffset(follower), 4);
    await appendFile(path, 'o\n');
    await follower.poll();
    assert.deepEqual(lines, ['one', 'two']);
    assert.equal(currentOffset(follower), 8);
    await follower.close();
  });

  test('follows a rename rotation: the new file at once, the old one until it has been quiet for the grace period', async () => {
    const path = join(dir, 'rename.log');
    await writeFile(path, 'old 1\n');
    const { follower, lines, rotations, clock } = follow(path);
    await follower.poll();
    await rename(path, `${path}.1`);
    await writeFile(path, ''); // logrotate's create
    await appendFile(`${path}.1`, 'old 2\n'); // nginx writes to the old file until it reopens
    await follower.poll();
    assert.deepEqual(lines, ['old 1', 'old 2']);
    assert.deepEqual(rotations, ['rename']);
    clock.ms += 4000;
    await appendFile(`${path}.1`, 'old 3\n');
    await appendFile(path, 'new 1\n'); // nginx reopened
    await follower.poll();
    clock.ms += 4999;
    await follower.poll();
    assert.equal(follower.positions()?.length, 2, 'the old file was closed before it had been quiet for 5 s');
    clock.ms += 1;
    await follower.poll();
    assert.deepEqual(follower.positions()?.map((p) => p.path), [path]);
    assert.deepEqual(lines, ['old 1', 'old 2', 'old 3', 'new 1']);
    await follower.close();
  });

  test('several writers after a rename: lines go to the old and the new file alternately, each is counted once', async () => {
    const path = join(dir, 'writers.log');
    const expected: string[] = [];
    let text = '';
    for (let i = 0; i < 1000; i++) text += `before ${i}\n`;
    await writeFile(path, text);
    for (let i = 0; i < 1000; i++) expected.push(`before ${i}`);
    const { follower, lines, clock } = follow(path);
    await follower.poll();
    await rename(path, `${path}.1`);
    await writeFile(path, '');
    // workers that reopened write to the new file, the others still to the old one, for "2 s"
    for (let i = 0; i < 180; i++) {
      const target = i % 2 === 0 ? path : `${path}.1`;
      await appendFile(target, `after ${i}\n`);
      expected.push(`after ${i}`);
      if (i % 10 === 0) {
        clock.ms += 111;
        await follower.poll();
      }
    }
    clock.ms += 5000;
    await follower.poll(); // finds the last lines of the old file, which is quiet from now on
    clock.ms += 5000;
    await follower.poll();
    assert.equal(lines.length, 1180);
    assert.deepEqual([...lines].sort(), [...expected].sort());
    assert.equal(new Set(lines).size, 1180, 'a line was counted twice');
    await follower.close();
  });

  test('a partial last line in the rotated file is counted as unfinished once the file is done with', async () => {
    const path = join(dir, 'partial-rotation.log');
    await writeFile(path, 'whole\nhalf a li');
    const { follower, lines, unfinished, clock } = follow(path);
    await follower.poll();
    await rename(path, `${path}.1`);
    await writeFile(path, 'new\n');
    await follower.poll();
    assert.deepEqual(lines, ['whole', 'new']);
    assert.equal(unfinished(), 0, 'a line was given up while its writer might still finish it');
    clock.ms += 5000;
    await follower.poll();
    assert.equal(unfinished(), 1);
    assert.deepEqual(lines, ['whole', 'new']);
    await follower.close();
  });

  // copytruncate: the file found shorter than the offset, or (truncated, then written past the old
  // offset between two polls) longer but with other first bytes
  const truncations: Array<[string, string[]]> = [
    ['follows a copytruncate rotation: a file shorter than the offset is read again from 0', ['after']],
    ['a file truncated and written past the old offset between two polls is read again from its start', ['new line 1', 'new line 2', 'new line 3']],
  ];
  for (const [name, rewritten] of truncations) {
    test(name, async () => {
      const path = join(dir, `truncate-${rewritten.length}.log`);
      await writeFile(path, 'before 1\nbefore 2\n');
      const { follower, lines, rotations } = follow(path);
      await follower.poll();
      await truncate(path, 0);
      await appendFile(path, rewritten.map((line) => `${line}\n`).join(''));
      await follower.poll();
      assert.deepEqual(lines, ['before 1', 'before 2', ...rewritten]);
      assert.deepEqual(rotations, ['truncate']);
      await follower.close();
    });
  }

  test('a directory at the log path is an error naming it, and a regular file there again is read', async () => {
    const path = join(dir, 'becomes-dir.log');
    await writeFile(path, 'first\n');
    const { follower, lines, rotations } = follow(path);
    await follower.poll();
    await rm(path);
    await mkdir(path);
    await assert.rejects(follower.poll(), /becomes-dir\.log is a directory, not a regular file/);
    await assert.rejects(follower.poll(), /is a directory/);
    await rmdir(path);
    await writeFile(path, 'second\n');
    await follower.poll();
    assert.deepEqual(lines, ['first', 'second']);
    assert.deepEqual(rotations, ['rename']);
    await follower.close();
  });

  test('a FIFO at the log path is an error at once, not a hang, and never read', async () => {
    const path = join(dir, 'fifo.log');
    execFileSync('mkfifo', [path]);
    const { follower, lines } = follow(path);
    await assert.rejects(follower.poll(), /fifo\.log is a FIFO, not a regular file/);
    await rm(path);
    await writeFile(path, 'regular\n');
    await follower.poll();
    assert.deepEqual(lines, ['regular']);
    await follower.close();
  });

  test('a last line without a newline counts once finishLastLines says the file is all there is', async () => {
    const path = join(dir, 'unterminated.log');
    await writeFile(path, 'one\ntwo');
    const { follower, lines, unfinished } = follow(path);
    await follower.poll();
    assert.deepEqual(lines, ['one']);
    follower.finishLastLines();
    assert.deepEqual(lines, ['one', 'two']);
    assert.equal(unfinished(), 0);
    await follower.close();
  });

  test('resumes at a saved position: no line twice, none lost', async () => {
    const path = join(dir, 'resume.log');
    await writeFile(path, 'a\nb\nc');
    const first = follow(path);
    await first.follower.poll();
    const saved = first.follower.positions();
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
    const saved = first.follower.positions();
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
    const saved = first.follower.positions();
    await first.follower.close();
    await truncate(path, 0);
    await appendFile(path, 'x\n');
    const second = follow(path, { resumeFrom: saved });
    await second.follower.poll();
    assert.deepEqual(second.lines, ['x']);
    await second.follower.close();
  });

  test('starts at the end of the last whole line of a file already there, with startAt end', async () => {
    const path = join(dir, 'history.log');
    await writeFile(path, 'history 1\nhistory 2\nunfini');
    const { follower, lines } = follow(path, { startAt: 'end' });
    await follower.poll();
    assert.deepEqual(lines, []);
    assert.equal(currentOffset(follower), 'history 1\nhistory 2\n'.length);
    await appendFile(path, 'shed\nnew\n');
    await follower.poll();
    assert.deepEqual(lines, ['unfinished', 'new']);
    await follower.close();
  });

  test('with startAt end, a file that appears only after the first poll is read from its start', async () => {
    const path = join(dir, 'appears.log');
    const { follower, lines } = follow(path, { startAt: 'end' });
    await follower.poll();
    assert.ok(follower.logMissing());
    await writeFile(path, 'first\n');
    await follower.poll();
    assert.deepEqual(lines, ['first']);
    assert.ok(!follower.logMissing());
    await follower.close();
  });

  test('inode reused by another file: the saved offset is not resumed inside it, and the gap is told', async () => {
    const path = join(dir, 'reused.log');
    await writeFile(path, '{"first":"file"}\n{"line":2}\n');
    const first = follow(path);
    await first.follower.poll();
    const saved = first.follower.positions();
    await first.follower.close();
    // the same inode now holds other content, longer than the saved offset
    await writeFile(path, '{"another":"file, other first bytes"}\n{"line":"two"}\n');
    const second = follow(path, { resumeFrom: saved });
    await second.follower.poll();
    assert.deepEqual(second.lines, ['{"another":"file, other first bytes"}', '{"line":"two"}']);
    assert.equal(second.gaps.length, 1);
    assert.match(second.gaps[0]!, /^inode \d+ now holds another file/);
    await second.follower.close();
  });

  test('the rotated file removed while the follower was down is a gap; the new file is read from its start', async () => {
    const path = join(dir, 'vanished.log');
    await writeFile(path, 'a\n');
    const first = follow(path);
    await first.follower.poll();
    const saved = first.follower.positions();
    await first.follower.close();
    await appendFile(path, 'b, never read\n');
    await rename(path, `${path}.1`);
    await rm(`${path}.1`); // compress without delaycompress, or an operator
    await writeFile(path, 'c\n');
    const second = follow(path, { resumeFrom: saved });
    await second.follower.poll();
    assert.deepEqual(second.lines, ['c']);
    assert.equal(second.gaps.length, 1);
    // tmpfs and ext4 hand the freed inode to the new file often: then the gap is found by the fingerprint
    assert.match(second.gaps[0]!, /vanished\.log \(inode \d+\), read up to offset 2, is gone|^inode \d+ now holds another file/);
    await second.follower.close();
  });

  test('a rotated file still being drained at a restart is found again and finished', async () => {
    const path = join(dir, 'draining.log');
    await writeFile(path, 'old 1\n');
    const first = follow(path);
    await first.follower.poll();
    await rename(path, `${path}.1`);
    await writeFile(path, 'new 1\n');
    await first.follower.poll();
    const saved = first.follower.positions();
    assert.equal(saved?.length, 2);
    await first.follower.close();
    await appendFile(`${path}.1`, 'old 2\n');
    await appendFile(path, 'new 2\n');
    const second = follow(path, { resumeFrom: saved });
    await second.follower.poll();
    assert.deepEqual([...first.lines, ...second.lines].sort(), ['new 1', 'new 2', 'old 1', 'old 2']);
    assert.deepEqual(second.gaps, []);
    await second.follower.close();
  });

  test('unread bytes rise while the log grows faster than it is read', async () => {
    const path = join(dir, 'lag.log');
    await writeFile(path, 'x\n');
    const { follower } = follow(path);
    await follower.poll();
    assert.equal(follower.unreadBytes(), 0);
    const seen: number[] = [];
    for (let i = 0; i < 3; i++) {
      await appendFile(path, 'y'.repeat(99) + '\n');
      seen.push(follower.unreadBytes());
    }
    assert.deepEqual(seen, [100, 200, 300]);
    await follower.poll();
    assert.equal(follower.unreadBytes(), 0);
    await follower.close();
  });

  /** Runs a follower on `path` until it has read what is there, and returns its saved positions. */
  async function readThenStop(path: string): Promise<{ saved: FilePosition[] | null; lines: string[] }> {
    const first = follow(path);
    await first.follower.poll();
    const saved = first.follower.positions();
    await first.follower.close();
    return { saved, lines: first.lines };
  }

  test('rotated twice while it was down (numbered names): the middle file is read too, oldest first', async () => {
    const path = join(dir, 'twice.log');
    await writeFile(path, 'a1\n');
    const first = await readThenStop(path);
    await appendFile(path, 'a2\n');
    await rename(path, `${path}.1`);
    await writeFile(path, 'b1\nb2\n');
    await rename(`${path}.1`, `${path}.2`);
    await rename(path, `${path}.1`);
    await writeFile(path, 'c1\n');
    const second = follow(path, { resumeFrom: first.saved });
    await second.follower.poll();
    assert.deepEqual([...first.lines, ...second.lines], ['a1', 'a2', 'b1', 'b2', 'c1']);
    assert.deepEqual(second.gaps, []);
    assert.deepEqual(second.rotations, ['rename', 'rename']);
    await second.follower.close();
  });

  test('rotated three times while it was down (dateext names): every rotated file is read, oldest first', async () => {
    const path = join(dir, 'dated.log');
    await writeFile(path, 'a1\n');
    const first = await readThenStop(path);
    await appendFile(path, 'a2\n');
    await rename(path, `${path}-20250101`);
    await writeFile(path, 'b1\n');
    await rename(path, `${path}-20250102`);
    await writeFile(path, 'c1\n');
    await rename(path, `${path}-20250103`);
    await writeFile(path, 'd1\n');
    const second = follow(path, { resumeFrom: first.saved });
    await second.follower.poll();
    assert.deepEqual([...first.lines, ...second.lines], ['a1', 'a2', 'b1', 'c1', 'd1']);
    assert.deepEqual(second.gaps, []);
    await second.follower.close();
  });

  test('rotated twice within one poll: the middle file is read, and nothing twice', async () => {
    const path = join(dir, 'one-poll.log');
    await writeFile(path, 'a1\n');
    const { follower, lines, gaps, rotations } = follow(path);
    await follower.poll();
    await appendFile(path, 'a2\n');
    await rename(path, `${path}.1`);
    await writeFile(path, 'b1\n');
    await rename(`${path}.1`, `${path}.2`);
    await rename(path, `${path}.1`);
    await writeFile(path, 'c1\n');
    await follower.poll();
    assert.deepEqual(lines, ['a1', 'a2', 'b1', 'c1']);
    assert.deepEqual(rotations, ['rename', 'rename']);
    await follower.poll();
    assert.deepEqual(lines, ['a1', 'a2', 'b1', 'c1']);
    assert.deepEqual(gaps, []);
    await follower.close();
  });

  test('a rotated file already read and closed is not read again when a quiet log rotates on', async () => {
    const path = join(dir, 'quiet.log');
    await writeFile(path, 'a1\n');
    const { follower, lines, clock } = follow(path, { rotateWaitMs: 1000 });
    await follower.poll();
    await rename(path, `${path}.1`);
    await writeFile(path, '');
    await follower.poll();
    await appendFile(`${path}.1`, 'a2, written late by a worker\n'); // the old file is newer than the quiet one
    clock.ms += 500;
    await follower.poll();
    clock.ms += 2000;
    await follower.poll(); // the old file is done with and closed
    await rename(`${path}.1`, `${path}.2`);
    await rename(path, `${path}.1`);
    await writeFile(path, 'c1\n');
    await follower.poll();
    assert.deepEqual(lines, ['a1', 'a2, written late by a worker', 'c1']);
    await follower.close();
  });

  test('a gzipped middle file is one gap, with the bytes it held; the files around it are read', async () => {
    const path = join(dir, 'gzipped.log');
    await writeFile(path, 'a1\n');
    const first = await readThenStop(path);
    await appendFile(path, 'a2\n');
    await rename(path, `${path}.1`);
    await writeFile(path, 'b1 lost\nb2 lost\n');
    await rename(`${path}.1`, `${path}.2`);
    await writeFile(`${path}.1.gz`, gzipSync(await readFile(path)));
    await rm(path);
    await writeFile(path, 'c1\n');
    const second = follow(path, { resumeFrom: first.saved });
    await second.follower.poll();
    assert.deepEqual([...first.lines, ...second.lines], ['a1', 'a2', 'c1']);
    assert.equal(second.gaps.length, 1);
    assert.match(second.gaps[0]!, /gzipped\.log\.1\.gz was rotated and compressed before it could be read/);
    assert.deepEqual(second.lostBytes, ['b1 lost\nb2 lost\n'.length]);
    await second.follower.close();
  });

  test('the saved file compressed while it was down is one gap, with the bytes written after the saved offset', async () => {
    const path = join(dir, 'compressed-saved.log');
    await writeFile(path, 'a1\n');
    const first = await readThenStop(path);
    await appendFile(path, 'a2 lost\n');
    await writeFile(`${path}.1.gz`, gzipSync(await readFile(path)));
    await rm(path);
    await writeFile(path, 'b1\n');
    const second = follow(path, { resumeFrom: first.saved });
    await second.follower.poll();
    assert.deepEqual([...first.lines, ...second.lines], ['a1', 'b1']);
    assert.equal(second.gaps.length, 1, second.gaps.join('\n'));
    assert.match(second.gaps[0]!, /was compressed to \S+compressed-saved\.log\.1\.gz while the exporter was down/);
    assert.deepEqual(second.lostBytes, ['a2 lost\n'.length]);
    await second.follower.close();
  });

  test('entries of the directory that cannot be stat\'ed do not stop a resume', async () => {
    const sub = join(dir, 'odd-entries');
    await mkdir(sub);
    const path = join(sub, 'access.log');
    await writeFile(path, 'a1\n');
    const first = await readThenStop(path);
    await symlink('loop-b', join(sub, 'loop-a'));
    await symlink('loop-a', join(sub, 'loop-b'));
    await symlink('access.log.1.loop', join(sub, 'access.log.1.loop')); // a loop with a rotated-looking name
    await symlink('access.log.9', join(sub, 'access.log.9')); // and one with a rotation's own name
    await writeFile(join(sub, 'plain-file'), '');
    await symlink(join(sub, 'plain-file', 'below'), join(sub, 'not-a-directory')); // ENOTDIR
    await rename(path, `${path}.2`);
    await writeFile(path, 'b1\n');
    await rename(path, `${path}.1`);
    await writeFile(path, 'c1\n');
    let second = follow(path, { resumeFrom: first.saved });
    await second.follower.poll();
    assert.deepEqual([...first.lines, ...second.lines], ['a1', 'b1', 'c1']);
    const saved = second.follower.positions();
    await second.follower.close();
    // a saved file that is gone makes the search look at every entry
    await rm(`${path}.1`);
    await rm(`${path}.2`);
    await rm(path);
    await writeFile(path, 'd1\n');
    second = follow(path, { resumeFrom: saved });
    await second.follower.poll();
    assert.deepEqual(second.lines, ['d1']);
    assert.ok(second.gaps.length >= 1, 'the files gone are gaps');
    await second.follower.close();
  });

  test('a log deleted and not recreated: its descriptor is closed after the rotate wait, and it is missing', async () => {
    const path = join(dir, 'deleted.log');
    await writeFile(path, 'a1\n');
    const { follower, lines, clock } = follow(path, { rotateWaitMs: 1000 });
    await follower.poll();
    await appendFile(path, 'a2\n');
    await rm(path);
    await follower.poll();
    assert.ok(!follower.logMissing(), 'within the rotate wait the deleted file is still read');
    clock.ms += 1500;
    await follower.poll();
    assert.deepEqual(lines, ['a1', 'a2']);
    assert.ok(follower.logMissing());
    assert.match(follower.logProblem()!, /deleted\.log was deleted or renamed and nothing took its place within the rotate wait \(1 s\)/);
    assert.deepEqual(follower.positions(), []);
    assert.deepEqual(openDeletedFiles(), [], 'no descriptor points at a deleted file');
    await writeFile(path, 'b1\n');
    await follower.poll();
    assert.deepEqual(lines, ['a1', 'a2', 'b1']);
    assert.equal(follower.logProblem(), null);
    await follower.close();
  });
});

/** The files this process holds open that were deleted. */
function openDeletedFiles(): string[] {
  const held: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    const target = (() => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return '';
      }
    })();
    if (target.endsWith(' (deleted)')) held.push(target);
  }
  return held;
}
