/**
 * The requests the client would send, checked against the vectors of
 * reference/alibaba-ecs-api.md (V1-B, V3-B) and for the per-attempt invariants.
 */
import { describe, expect, it } from 'vitest';
import { buildSignedRequest } from '../../src/aliyun/request.js';
import { canonicalQuery, signV1 } from '../../src/aliyun/signer.js';

const PARAMS = { PageNumber: '1', PageSize: '100', RegionId: 'cn-hangzhou', VpcId: 'vpc-bp1exampleid' };
const CREDS = { accessKeyId: 'testid', accessKeySecret: 'testsecret' };

/** A V3 DescribeClassicLinkInstances request of vector V3-B, with `over` changed. */
function v3(over: Partial<Parameters<typeof buildSignedRequest>[0]> = {}) {
  return buildSignedRequest({
    signature: 'v3',
    host: 'ecs.cn-hangzhou.aliyuncs.com',
    api: 'ecs',
    action: 'DescribeClassicLinkInstances',
    params: PARAMS,
    credentials: CREDS,
    now: new Date('2024-01-02T03:04:05.678Z'),
    nonce: '3c8b5f1e2d9a4b7c8e6f0a1b2c3d4e5f',
    ...over,
  });
}

describe('V3 request construction', () => {
  const req = v3();

  it('matches vector V3-B', () => {
    expect(req.headers.authorization).toBe(
      'ACS3-HMAC-SHA256 Credential=testid,' +
        'SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,' +
        'Signature=413551c69ead068c7a9ed20371c5aefe541a99fbcc36cfd21f7896df59182dfb',
    );
  });

  it('sends exactly the canonical query, the x-acs headers, and no host header', () => {
    expect(req.path).toBe('/?PageNumber=1&PageSize=100&RegionId=cn-hangzhou&VpcId=vpc-bp1exampleid');
    expect(req.headers).toMatchObject({
      'x-acs-action': 'DescribeClassicLinkInstances',
      'x-acs-version': '2014-05-26',
      'x-acs-date': '2024-01-02T03:04:05Z',
      'x-acs-signature-nonce': '3c8b5f1e2d9a4b7c8e6f0a1b2c3d4e5f',
      'x-acs-content-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    });
    expect(req.headers.host).toBeUndefined();
    expect(req.headers['x-acs-security-token']).toBeUndefined();
  });

  it('uses the VPC API version for vpc calls', () => {
    const vpc = v3({
      host: 'vpc.cn-hangzhou.aliyuncs.com',
      api: 'vpc',
      action: 'DescribeVpcs',
      params: { RegionId: 'cn-hangzhou' },
      now: new Date(0),
      nonce: 'n',
    });
    expect(vpc.headers['x-acs-version']).toBe('2016-04-28');
  });

  it('sends and signs the STS token', () => {
    const sts = v3({
      host: 'ecs.cn-beijing.aliyuncs.com',
      params: { InstanceId: 'i-bp1 a*b~c', RegionId: 'cn-beijing' },
      credentials: { ...CREDS, securityToken: 'CAIS+token/with=chars&more' },
      now: new Date('2024-06-30T23:59:59Z'),
      nonce: 'nonce-123',
    });
    expect(sts.headers['x-acs-security-token']).toBe('CAIS+token/with=chars&more');
    expect(sts.headers.authorization).toContain(
      'SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-security-token;x-acs-signature-nonce;x-acs-version,',
    );
    // Special characters go on the wire exactly as they were signed.
    expect(sts.path).toBe('/?InstanceId=i-bp1%20a%2Ab~c&RegionId=cn-beijing');
  });

  it('changes the signature when the nonce changes', () => {
    const other = v3({ now: new Date('2024-01-02T03:04:05Z'), nonce: 'another' });
    expect(other.headers.authorization).not.toBe(req.headers.authorization);
  });
});

describe('V1 request construction', () => {
  const input = {
    signature: 'v1' as const,
    host: 'ecs.cn-hangzhou.aliyuncs.com',
    api: 'ecs' as const,
    action: 'DescribeClassicLinkInstances',
    params: PARAMS,
    credentials: CREDS,
    now: new Date('2024-01-02T03:04:05Z'),
    nonce: '0b6a3b3c-4a8e-4a31-9d0e-2f3c1d9a7e11',
  };

  it('matches vector V1-B (signed as GET)', () => {
    const req = buildSignedRequest({ ...input, method: 'GET' });
    expect(req.path).toBe(
      '/?AccessKeyId=testid&Action=DescribeClassicLinkInstances&Format=JSON&PageNumber=1&PageSize=100' +
        '&RegionId=cn-hangzhou&SignatureMethod=HMAC-SHA1&SignatureNonce=0b6a3b3c-4a8e-4a31-9d0e-2f3c1d9a7e11' +
        '&SignatureVersion=1.0&Timestamp=2024-01-02T03%3A04%3A05Z&Version=2014-05-26&VpcId=vpc-bp1exampleid' +
        '&Signature=zIKvuqH2HOJ09kHeqIGrhDMof%2Bg%3D',
    );
    expect(req.headers.authorization).toBeUndefined();
  });

  it('signs the verb it sends (POST by default) and the STS token', () => {
    const req = buildSignedRequest({ ...input, credentials: { ...CREDS, securityToken: 'tok/en' } });
    const q = new URLSearchParams(req.path.slice(2));
    const params: Record<string, string> = {};
    for (const [k, v] of q) if (k !== 'Signature') params[k] = v;
    expect(params.SecurityToken).toBe('tok/en');
    expect(q.get('Signature')).toBe(signV1('POST', params, 'testsecret'));
    expect(q.get('Signature')).not.toBe('zIKvuqH2HOJ09kHeqIGrhDMof+g=');
    expect(req.path).toBe(
      `/?${canonicalQuery(params)}&Signature=${encodeURIComponent(q.get('Signature') ?? '')}`,
    );
  });
});
