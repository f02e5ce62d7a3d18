/**
 * The ECS/VPC/ActionTrail API simulator: a real HTTP server speaking Alibaba's RPC protocol (V1
 * and V3 signatures, real error shapes and statuses, paging), seeded and fault-injectable, that
 * records every link-changing call as an ActionTrail event. Tests, the demo and the benchmarks run
 * against it. See README/DESIGN "Simulator".
 */

export { ACTIONTRAIL_VERSION } from './actions.js';
export { SimApiError } from './api-error.js';
export { ADMIN_USER } from './audited.js';
export { describeSimulator, loadKeysFromEnv } from './banner.js';
export {
  cloudEventEnvelope,
  type Delivery,
  type EventBridgePush,
  type EventBridgeTarget,
  type PushRules,
} from './eventbridge.js';
export { startSimulator } from './server.js';
export { DEFAULT_TRAIL_DELAY_MS } from './trail.js';
export {
  type Faults,
  INSTANCE_STATUSES,
  type InstancePatch,
  type InstanceStatus,
  type KeyIdentity,
  type MalformedKind,
  type RecordedRequest,
  type RunningSimulator,
  type SimActionTrail,
  type SimInstance,
  type SimTag,
  type SimulatorKey,
  type SimulatorOptions,
  type SimVpc,
  type SimWorld,
  type TrailEntry,
  type TrailRecord,
  type VpcPatch,
  type WorldJson,
  type WorldRegionJson,
} from './types.js';
