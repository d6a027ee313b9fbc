// bcrypt off the event loop: password checks run in worker threads, so a flood of wrong passwords
// costs those threads' time and never the time of a scrape that is already authenticated. The workers
// run this very file (the bundle in production), which answers checks instead of starting the exporter.
import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import bcrypt from 'bcryptjs';

const WORKER_MARK = 'av-exporter bcrypt worker';

interface CheckRequest {
  id: number;
  password: string;
  hash: string;
}

interface CheckAnswer {
  id: number;
  matches: boolean;
}

export function isBcryptWorker(): boolean {
  return !isMainThread && workerData === WORKER_MARK;
}

if (isBcryptWorker()) {
  parentPort!.on('message', ({ id, password, hash }: CheckRequest) => {
    parentPort!.postMessage({ id, matches: bcrypt.compareSync(password, hash) } satisfies CheckAnswer);
  });
}

/** A worker thread running this code: the bundle itself (CommonJS, __filename), or this module from source. */
function newWorkerThread(): Worker {
  if (typeof __filename === 'string') return new Worker(__filename, { workerData: WORKER_MARK });
  // From source (the tests, under tsx): a worker does not inherit tsx's loader, so it registers it first.
  const source = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(import.meta.url)}); })`;
  return new Worker(source, { eval: true, workerData: WORKER_MARK });
}

/** One worker per spare core, at least one: the event loop keeps a core of its own. */
export function defaultWorkerCount(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

export class BcryptWorkers {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, { resolve: (matches: boolean) => void; reject: (error: Error) => void; worker: Worker }>();
  private nextId = 0;

  constructor(private readonly count = defaultWorkerCount()) {}

  /** Checks in a worker (started at the first check, so nothing costly runs before the port listens). */
  compare(password: string, hash: string): Promise<boolean> {
    const worker = this.leastBusyWorker();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, worker });
      worker.postMessage({ id, password, hash } satisfies CheckRequest);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.splice(0).map((worker) => worker.terminate()));
  }

  private leastBusyWorker(): Worker {
    if (this.workers.length < this.count) return this.startWorker();
    const load = new Map(this.workers.map((worker) => [worker, 0]));
    for (const { worker } of this.pending.values()) load.set(worker, (load.get(worker) ?? 0) + 1);
    return [...load.entries()].sort((a, b) => a[1] - b[1])[0]![0];
  }

  private startWorker(): Worker {
    const worker = newWorkerThread();
    worker.unref();
    worker.on('message', ({ id, matches }: CheckAnswer) => {
      this.pending.get(id)?.resolve(matches);
      this.pending.delete(id);
    });
    worker.on('error', (error) => this.fail(worker, error));
    worker.on('exit', () => this.fail(worker, new Error('the bcrypt worker stopped')));
    this.workers.push(worker);
    return worker;
  }

  /** A worker that died fails its checks (refused, never let through) and is replaced at the next check. */
  private fail(worker: Worker, error: Error): void {
    const index = this.workers.indexOf(worker);
    if (index >= 0) this.workers.splice(index, 1);
    for (const [id, check] of this.pending) {
      if (check.worker !== worker) continue;
      check.reject(error);
      this.pending.delete(id);
    }
  }
}
