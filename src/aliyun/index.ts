/**
 * The door of src/aliyun/: the Alibaba Cloud ECS / VPC API client, its rate limiter, the
 * ClassicLink link source, and the signing primitives the credentials (STS) and the simulator share.
 */

export { type CallEvent, createEcsClient, type EcsClient, type InFlightLimit } from './client.js';
export { type ApiName, probeEndpoint, resolveEndpoint, unreachableMessage } from './endpoints.js';
export { type ApiLimiter, createRedisLimiter } from './limiter.js';
export { classicLinkSource } from './link-source.js';
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
