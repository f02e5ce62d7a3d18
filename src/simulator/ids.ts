/**
 * Alibaba-looking resource ids. Real ids carry a per-region infix (`vpc-bp1…` in cn-hangzhou,
 * `i-2ze…` in cn-beijing); we reuse the known ones so ids in logs look like the real thing.
 */
import { type Rng, randomId, randomMixedAlnum } from './random.js';

const REGION_INFIX: Readonly<Record<string, string>> = {
  'cn-hangzhou': 'bp1',
  'cn-beijing': '2ze',
  'cn-shanghai': 'uf6',
  'cn-shenzhen': 'wz9',
  'cn-qingdao': 'm5e',
  'cn-zhangjiakou': '8vb',
  'cn-huhehaote': 'hp3',
  'cn-hongkong': 'j6c',
  'ap-southeast-1': 't4n',
  'ap-northeast-1': '6we',
  'us-west-1': 'rj9',
  'us-east-1': '0xi',
  'eu-central-1': 'gw8',
};

const LOCAL_NAME: Readonly<Record<string, string>> = {
  'cn-hangzhou': '华东1（杭州）',
  'cn-beijing': '华北2（北京）',
  'cn-shanghai': '华东2（上海）',
  'cn-shenzhen': '华南1（深圳）',
  'cn-qingdao': '华北1（青岛）',
  'cn-zhangjiakou': '华北3（张家口）',
  'cn-huhehaote': '华北5（呼和浩特）',
  'cn-hongkong': '中国香港',
  'ap-southeast-1': '新加坡',
  'ap-northeast-1': '日本（东京）',
  'us-west-1': '美国（硅谷）',
  'us-east-1': '美国（弗吉尼亚）',
  'eu-central-1': '德国（法兰克福）',
};

/** Region ids look like `cn-hangzhou`, `ap-southeast-1`. */
export const REGION_ID_RE = /^[a-z]{2,}(-[a-z0-9]+)+$/;

export function regionInfix(regionId: string): string {
  const known = REGION_INFIX[regionId];
  if (known) return known;
  // Unknown regions get a stable three-character infix derived from the name.
  let h = 0;
  for (let i = 0; i < regionId.length; i++) h = (Math.imul(h, 31) + regionId.charCodeAt(i)) >>> 0;
  return h.toString(36).padStart(3, '0').slice(-3);
}

export function regionLocalName(regionId: string): string {
  return LOCAL_NAME[regionId] ?? regionId;
}

export function newVpcId(rng: Rng, regionId: string): string {
  return randomId(rng, `vpc-${regionInfix(regionId)}`, 20);
}

export function newInstanceId(rng: Rng, regionId: string): string {
  return randomId(rng, `i-${regionInfix(regionId)}`, 17);
}

/** An AccessKey pair shaped like Alibaba's (`LTAI5t…`, 30-character secret). */
export function newAccessKey(rng: Rng): { accessKeyId: string; accessKeySecret: string } {
  return { accessKeyId: `LTAI5t${randomMixedAlnum(rng, 18)}`, accessKeySecret: randomMixedAlnum(rng, 30) };
}
