// Where this process sits in a parallel launch: its rank among the processes an MPI launcher
// (mpirun, mpiexec, srun) started, or its task in a Slurm job array, read from the variables
// those launchers set. Nothing here needs an MPI library: a sweep splits its runs by rank,
// and the thread count divides the cores among the ranks that share a machine.
import { availableParallelism } from 'node:os';
import { TlcError } from './errors.js';

export interface WorkerSlot {
  /** 0-based. */
  index: number;
  count: number;
  /** What set it, for messages: "Open MPI", "Slurm array", "--worker". */
  source: string;
}

type Env = Record<string, string | undefined>;

function intVar(env: Env, name: string): number | null {
  const v = env[name];
  if (v === undefined || v === '' || !/^\d+$/.test(v)) return null;
  return Number(v);
}

/** The launcher's rank and size: Open MPI, MPICH/Hydra (PMI), then plain srun tasks. */
export function mpiRank(env: Env = process.env): WorkerSlot | null {
  const pairs: [string, string, string][] = [
    ['OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE', 'Open MPI'],
    ['PMI_RANK', 'PMI_SIZE', 'MPI (PMI)'],
    // inside an srun step (a batch script's own step has SLURM_PROCID and SLURM_NTASKS too, but no step of tasks)
    ['SLURM_PROCID', 'SLURM_STEP_NUM_TASKS', 'srun'],
  ];
  for (const [rankVar, sizeVar, source] of pairs) {
    const index = intVar(env, rankVar), count = intVar(env, sizeVar);
    if (index !== null && count !== null && count > 1 && index < count) return { index, count, source };
  }
  return null;
}

/** A Slurm job array's task: the array's task id, counted from its lowest id. */
export function slurmArrayTask(env: Env = process.env): WorkerSlot | null {
  const id = intVar(env, 'SLURM_ARRAY_TASK_ID'), count = intVar(env, 'SLURM_ARRAY_TASK_COUNT');
  if (id === null || count === null || count < 1) return null;
  const index = id - (intVar(env, 'SLURM_ARRAY_TASK_MIN') ?? 0);
  if (index < 0 || index >= count) {
    throw new TlcError(`SLURM_ARRAY_TASK_ID ${id} is outside the array (SLURM_ARRAY_TASK_MIN ${env.SLURM_ARRAY_TASK_MIN ?? 0}, ` +
      `SLURM_ARRAY_TASK_COUNT ${count}): give the array consecutive ids (--array=0-${count - 1})`);
  }
  return { index, count, source: 'Slurm array' };
}

/** "i/n" (0 ≤ i < n). */
export function parseWorker(text: string): WorkerSlot {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (!m) throw new TlcError(`--worker takes "i/n" (this process's index and the number of workers, e.g. 0/2), got "${text}"`);
  const index = Number(m[1]), count = Number(m[2]);
  if (count < 1) throw new TlcError(`--worker ${text}: the number of workers must be at least 1`);
  if (index >= count) throw new TlcError(`--worker ${text}: the index must lie in 0..${count - 1}`);
  return { index, count, source: '--worker' };
}

/** The worker slot of this process: an explicit one, else an array task, else an MPI rank, else none. */
export function workerSlot(explicit?: string, env: Env = process.env): WorkerSlot | null {
  if (explicit !== undefined) return parseWorker(explicit);
  return slurmArrayTask(env) ?? mpiRank(env);
}

/** Processes of this launch on this machine (1 outside a launcher). */
export function localRanks(env: Env = process.env): number {
  for (const name of ['OMPI_COMM_WORLD_LOCAL_SIZE', 'MPI_LOCALNRANKS']) {
    const n = intVar(env, name);
    if (n !== null && n >= 1) return n;
  }
  return 1;
}

/**
 * The cores this process may use: what Slurm gave the task, else this machine's cores
 * divided among the launch's ranks on it (never below one).
 */
export function coresOfThisProcess(env: Env = process.env): number {
  const slurm = intVar(env, 'SLURM_CPUS_PER_TASK');
  if (slurm !== null && slurm >= 1) return slurm;
  return Math.max(1, Math.floor(availableParallelism() / localRanks(env)));
}
