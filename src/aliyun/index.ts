/**
 * The door of src/aliyun/.
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
  signV1,
  signV3,
} from './signer.js';
