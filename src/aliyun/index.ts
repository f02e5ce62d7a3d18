/**
 * The door of src/aliyun/: the Alibaba Cloud API client (ECS, VPC, ActionTrail), its rate limiter,
 * the ClassicLink link source, the ActionTrail record parser, and the signing primitives the
 * credentials (STS) and the simulator share.
 */

export type { VpcAttributes, VpcInfo, VpcRefusal } from './actions.js';
export type { CloudEventPage, LookupEventsQuery } from './actiontrail.js';
export { type CallEvent, createEcsClient, type EcsClient, type InFlightLimit } from './client.js';
export {
  type CloudEvent,
  type CloudEventActor,
  type CloudEventRefusal,
  type ParsedCloudEvent,
  parseCloudEvent,
} from './cloud-event.js';
export { type ApiName, probeEndpoint, resolveEndpoint, unreachableMessage } from './endpoints.js';
export type {
  DescribedInstances,
  InstanceAttributes,
  InstanceReadPermission,
  InstanceRefusal,
} from './instances.js';
export { type ApiLimiter, createFleetLimiter } from './limiter.js';
export { classicLinkSource, type VpcListingHook } from './link-source.js';
export {
  canonicalQuery,
  formatTimestamp,
  parseV3Authorization,
  percentEncode,
  sha256Hex,
  signedV1Query,
  signV1,
  signV3,
} from './signer.js';
