/** What the `simulate` command prints, and the env-provided key it may run with. */
import type { RunningSimulator, SimulatorKey } from './types.js';
import { World } from './world.js';

/** The key from `ALIBABA_CLOUD_ACCESS_KEY_ID` / `_SECRET` (/ `_SECURITY_TOKEN`), if both are set. */
export function loadKeysFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): SimulatorKey[] | undefined {
  const accessKeyId = env.ALIBABA_CLOUD_ACCESS_KEY_ID;
  const accessKeySecret = env.ALIBABA_CLOUD_ACCESS_KEY_SECRET;
  if (!accessKeyId || !accessKeySecret) return undefined;
  const key: SimulatorKey = { accessKeyId, accessKeySecret };
  const token = env.ALIBABA_CLOUD_SECURITY_TOKEN;
  if (token) key.securityToken = token;
  return [key];
}

/**
 * A multi-line banner: where it listens, the key pairs, env lines to paste (enough for
 * `sync --once` against the local Postgres and Redis), the admin endpoints.
 * It prints secrets on purpose: they are the simulator's own fake keys, which the user needs.
 */
export function describeSimulator(sim: RunningSimulator): string {
  const w = sim.world;
  const regions = w.regions();
  let vpcs = 0;
  let links = 0;
  for (const r of regions) {
    vpcs += w.vpcs(r).length;
    // Our own world counts links without building a million objects; any other SimWorld is listed.
    links += w instanceof World ? (w.region(r)?.linkCount ?? 0) : w.links(r).length;
  }
  const first = sim.keys[0];
  const users = new Map(sim.identities().map((i) => [i.accessKeyId, i.userName]));
  const lines = [
    `ECS/VPC/ActionTrail API simulator listening on ${sim.url}`,
    `  world: ${regions.length} region(s) (${regions.join(', ')}), ${vpcs} VPC(s), ${links} ClassicLink link(s)`,
    `  account ${sim.accountId}; key pairs (RAM user):`,
    ...sim.keys.map(
      (k) =>
        `    ${k.accessKeyId} / ${k.accessKeySecret}${k.securityToken ? ` (STS token ${k.securityToken})` : ''}` +
        ` (${users.get(k.accessKeyId) ?? '?'})`,
    ),
    '',
    '  environment for classiclink-sync:',
    `    ECS_ENDPOINT=${sim.url}`,
    `    VPC_ENDPOINT=${sim.url}`,
    `    ACTIONTRAIL_ENDPOINT=${sim.url}/{region}`,
    `    SYNC_REGIONS=${regions.join(',')}`,
  ];
  if (first) {
    lines.push(`    ALIBABA_CLOUD_ACCESS_KEY_ID=${first.accessKeyId}`);
    lines.push(`    ALIBABA_CLOUD_ACCESS_KEY_SECRET=${first.accessKeySecret}`);
    if (first.securityToken) lines.push(`    ALIBABA_CLOUD_SECURITY_TOKEN=${first.securityToken}`);
  }
  lines.push(
    '',
    '  admin API (unsigned, loopback test tool; never expose it):',
    `    GET|PUT ${sim.url}/_sim/faults     GET|DELETE ${sim.url}/_sim/requests     GET ${sim.url}/_sim/world`,
    `    POST ${sim.url}/_sim/attach | /_sim/detach  {"regionId","instanceId","vpcId","user"?}`,
    `    POST ${sim.url}/_sim/release  {"regionId","instanceId","user"?}`,
    `    POST ${sim.url}/_sim/instances | /_sim/vpcs  {"regionId"}`,
    `    GET|POST ${sim.url}/_sim/instance | /_sim/vpc | /_sim/keys     GET ${sim.url}/_sim/actiontrail`,
    '',
    `  ActionTrail LookupEvents on the same port, one region per path: ${sim.url}/{region}`,
  );
  if (sim.eventBridge) {
    const s = sim.eventBridge.status();
    lines.push(
      `  EventBridge: each record pushed to ${s.target} (token: ${s.auth}); deliveries and rules: ${sim.url}/_sim/eventbridge`,
    );
  }
  return lines.join('\n');
}
