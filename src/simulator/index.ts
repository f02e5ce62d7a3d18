/**
 * The ECS/VPC API simulator: a real HTTP server speaking Alibaba's RPC protocol (V1 and V3
 * signatures, real error shapes and statuses, paging), seeded and fault-injectable.
 * Tests, the demo and the benchmarks run against it. See README/DESIGN "Simulator".
 */
export { SimApiError } from './api-error.js';
export { describeSimulator, loadKeysFromEnv } from './banner.js';
export { startSimulator } from './server.js';
export type {
  Faults,
  MalformedKind,
  RecordedRequest,
  RunningSimulator,
  SimulatorKey,
  SimulatorOptions,
  SimWorld,
  WorldJson,
  WorldRegionJson,
} from './types.js';
