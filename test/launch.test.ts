// Where a process sits in a parallel launch, from the variables MPI launchers and Slurm set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import { coresOfThisProcess, localRanks, mpiRank, parseWorker, slurmArrayTask, workerSlot } from '../src/util/launch.js';
import { TlcError } from '../src/util/errors.js';

test('MPI ranks come from Open MPI, PMI or srun variables; one rank is no launch', () => {
  assert.deepEqual(mpiRank({ OMPI_COMM_WORLD_RANK: '1', OMPI_COMM_WORLD_SIZE: '4' }), { index: 1, count: 4, source: 'Open MPI' });
  assert.deepEqual(mpiRank({ PMI_RANK: '0', PMI_SIZE: '2' }), { index: 0, count: 2, source: 'MPI (PMI)' });
  assert.deepEqual(mpiRank({ SLURM_PROCID: '3', SLURM_STEP_NUM_TASKS: '8', SLURM_NTASKS: '8' }), { index: 3, count: 8, source: 'srun' });
  // a batch script's own step is not a launch of tasks
  assert.equal(mpiRank({ SLURM_PROCID: '0', SLURM_NTASKS: '4' }), null);
  assert.equal(mpiRank({ OMPI_COMM_WORLD_RANK: '0', OMPI_COMM_WORLD_SIZE: '1' }), null);
  assert.equal(mpiRank({}), null);
  assert.equal(mpiRank({ OMPI_COMM_WORLD_RANK: 'x', OMPI_COMM_WORLD_SIZE: '2' }), null);
});

test('a Slurm array task counts from the lowest id; an explicit --worker wins over both', () => {
  assert.deepEqual(slurmArrayTask({ SLURM_ARRAY_TASK_ID: '12', SLURM_ARRAY_TASK_MIN: '10', SLURM_ARRAY_TASK_COUNT: '4' }), { index: 2, count: 4, source: 'Slurm array' });
  assert.throws(() => slurmArrayTask({ SLURM_ARRAY_TASK_ID: '9', SLURM_ARRAY_TASK_MIN: '10', SLURM_ARRAY_TASK_COUNT: '4' }), /outside the array/);
  assert.deepEqual(workerSlot('1/3', { OMPI_COMM_WORLD_RANK: '0', OMPI_COMM_WORLD_SIZE: '2' }), { index: 1, count: 3, source: '--worker' });
  assert.deepEqual(workerSlot(undefined, { SLURM_ARRAY_TASK_ID: '0', SLURM_ARRAY_TASK_COUNT: '2', OMPI_COMM_WORLD_RANK: '1', OMPI_COMM_WORLD_SIZE: '2' }),
    { index: 0, count: 2, source: 'Slurm array' });
  assert.equal(workerSlot(undefined, {}), null);
  for (const bad of ['2/2', '1', 'a/b', '-1/2']) assert.throws(() => parseWorker(bad), TlcError);
});

test('each rank owns its share of the cores; Slurm says how many it gave', () => {
  const cores = availableParallelism();
  assert.equal(coresOfThisProcess({}), cores);
  assert.equal(localRanks({ OMPI_COMM_WORLD_LOCAL_SIZE: '2' }), 2);
  assert.equal(coresOfThisProcess({ OMPI_COMM_WORLD_LOCAL_SIZE: '2' }), Math.max(1, Math.floor(cores / 2)));
  assert.equal(coresOfThisProcess({ OMPI_COMM_WORLD_LOCAL_SIZE: String(4 * cores) }), 1);
  assert.equal(coresOfThisProcess({ SLURM_CPUS_PER_TASK: '6', OMPI_COMM_WORLD_LOCAL_SIZE: '2' }), 6);
});

test('tlc compress refuses to run as several ranks, whose writes would collide', () => {
  const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');
  const r = spawnSync(process.execPath, [cli, 'compress', '--from', 'anything', '--out', 'anywhere'], {
    encoding: 'utf8', env: { ...process.env, OMPI_COMM_WORLD_RANK: '0', OMPI_COMM_WORLD_SIZE: '2' },
  });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /tlc compress runs in one process \(Open MPI started 2\)/);
});
