/**
 * The log of every change made to the simulated world, and the drivers that change it while
 * scans run.
 *
 * Why a change log instead of before/after snapshots: "every change is recorded exactly once" can
 * only be checked against the changes themselves. The log wraps the world's own attach/detach (so
 * it also sees the simulator's pagination drift), and the churn driver changes each link at most
 * once per scenario, so every logged change is observable by some complete scan and the expected
 * non-baseline events are exactly the log.
 */
import type { RunningSimulator, SimWorld } from '../../src/simulator/index.js';
import { mulberry32 } from '../../src/simulator/random.js';
import { truthLinks } from '../helpers/rows.js';

interface WorldChange {
  op: 'attach' | 'detach';
  regionId: string;
  vpcId: string;
  instanceId: string;
  /** Who made it: the test's drivers, or the simulator itself (pagination drift). */
  by: 'test' | 'simulator';
}

export interface WorldLog {
  changes: WorldChange[];
  /** Links (vpc/instance) present when recording started. */
  baseline: Set<string>;
  /** Starts recording (after the baseline round). */
  start(): void;
  /** Links changed since recording started (a driver never changes one twice). */
  touched: Set<string>;
  /** Who the next changes are made by (the drivers set 'test' around their calls). */
  actor: 'test' | 'simulator';
}

/** A link as the log and the checks name it: `vpc/instance`. */
export const linkPath = (vpcId: string, instanceId: string) => `${vpcId}/${instanceId}`;

/** Wraps the world's attach/detach: every change, from the test, churn or drift, is logged. */
export function recordWorld(sim: RunningSimulator): WorldLog {
  const world: SimWorld = sim.world;
  const attach = world.attach.bind(world);
  const detach = world.detach.bind(world);
  const log: WorldLog = {
    changes: [],
    baseline: new Set(),
    touched: new Set(),
    actor: 'simulator',
    start() {
      log.baseline = new Set(truthLinks(sim));
      recording = true;
    },
  };
  let recording = false;
  world.attach = (regionId, instanceId, vpcId) => {
    attach(regionId, instanceId, vpcId);
    if (!recording) return;
    log.changes.push({ op: 'attach', regionId, vpcId, instanceId, by: log.actor });
    log.touched.add(linkPath(vpcId, instanceId));
  };
  world.detach = (regionId, instanceId, vpcId) => {
    detach(regionId, instanceId, vpcId);
    if (!recording) return;
    log.changes.push({ op: 'detach', regionId, vpcId, instanceId, by: log.actor });
    log.touched.add(linkPath(vpcId, instanceId));
  };
  return log;
}

/** A tiny seeded generator (the simulator's mulberry32): the drivers' choices repeat from run to run. */
export const seeded = mulberry32;

/**
 * One change to the world: attach a fresh instance to a random VPC, or detach a random link that
 * was there at the baseline and was never touched since. Returns false when nothing was left.
 */
export function changeOnce(sim: RunningSimulator, log: WorldLog, random: () => number): boolean {
  log.actor = 'test';
  try {
    return changeRandomLink(sim, log, random);
  } finally {
    log.actor = 'simulator';
  }
}

function changeRandomLink(sim: RunningSimulator, log: WorldLog, random: () => number): boolean {
  const regions = sim.world.regions();
  const regionId = regions[Math.floor(random() * regions.length)] ?? '';
  const vpcs = sim.world.vpcs(regionId);
  const vpcId = vpcs[Math.floor(random() * vpcs.length)] ?? '';
  if (random() < 0.5) {
    const instanceId = sim.world.createInstance(regionId);
    sim.world.attach(regionId, instanceId, vpcId);
    return true;
  }
  const candidates = sim.world
    .links(regionId, vpcId)
    .filter(
      (l) =>
        log.baseline.has(linkPath(l.vpcId, l.instanceId)) &&
        !log.touched.has(linkPath(l.vpcId, l.instanceId)),
    );
  const pick = candidates[Math.floor(random() * candidates.length)];
  if (!pick) return false;
  sim.world.detach(regionId, pick.instanceId, pick.vpcId);
  return true;
}

/** Changes the world every `everyMs` while scans run (a driver, not a wait); returns a stop function. */
export function startChurn(
  sim: RunningSimulator,
  log: WorldLog,
  opts: { everyMs: number; seed: number },
): () => void {
  const random = seeded(opts.seed);
  const timer = setInterval(() => changeOnce(sim, log, random), opts.everyMs);
  return () => clearInterval(timer);
}
