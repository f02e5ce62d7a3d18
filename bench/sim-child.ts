/**
 * A simulator in a process of its own (for the client comparison, so that the client's CPU time is
 * measured without the server's). Options come as JSON in argv[2]; it prints one JSON line with
 * its URL, key and the VPC ids of its first region, then serves until killed.
 */

import type { SimulatorOptions } from '../src/simulator/index.js';
import { startSimulator } from '../src/simulator/index.js';

const opts = JSON.parse(process.argv[2] ?? '{}') as SimulatorOptions;
const sim = await startSimulator({ port: 0, maxRecordedRequests: 1, ...opts });
const region = sim.world.regions()[0] ?? '';
process.stdout.write(
  `${JSON.stringify({ url: sim.url, key: sim.keys[0], regionId: region, vpcIds: sim.world.vpcs(region) })}\n`,
);
process.on('SIGTERM', () => {
  void sim.close().then(() => process.exit(0));
});
