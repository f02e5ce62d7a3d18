import { describe, expect, it } from 'vitest';
import {
  canonicalQuery,
  formatTimestamp,
  percentEncode,
  sha256Hex,
  signV1,
  signV3,
} from '../../src/aliyun/signer.js';

// Vectors from reference/alibaba-ecs-api.md §1.4 and §2.2 (checked there against the official SDKs).
describe('signature V1 (RPC HMAC-SHA1)', () => {
  it('V1-A: the documented DescribeRegions example', () => {
    const p = {
      AccessKeyId: 'testid',
      Action: 'DescribeRegions',
      Format: 'XML',
      SignatureMethod: 'HMAC-SHA1',
      SignatureNonce: '3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf',
      SignatureVersion: '1.0',
      Timestamp: '2016-02-23T12:46:24Z',
      Version: '2014-05-26',
    };
    expect(signV1('GET', p, 'testsecret')).toBe('OLeaidS1JvxuMvnyHOwuJ+uX5qY=');
  });

  const v1b = {
    AccessKeyId: 'testid',
    Action: 'DescribeClassicLinkInstances',
    Format: 'JSON',
    PageNumber: '1',
    PageSize: '100',
    RegionId: 'cn-hangzhou',
    SignatureMethod: 'HMAC-SHA1',
    SignatureNonce: '0b6a3b3c-4a8e-4a31-9d0e-2f3c1d9a7e11',
    SignatureVersion: '1.0',
    Timestamp: '2024-01-02T03:04:05Z',
    Version: '2014-05-26',
    VpcId: 'vpc-bp1exampleid',
  };
  it('V1-B: DescribeClassicLinkInstances by GET', () => {
    expect(signV1('GET', v1b, 'testsecret')).toBe('zIKvuqH2HOJ09kHeqIGrhDMof+g=');
  });

  it('V1-C: POST, STS token, space / * / ~ / UTF-8, awkward secret', () => {
    const p = {
      AccessKeyId: 'STS.NTestKeyId',
      Action: 'DescribeClassicLinkInstances',
      Format: 'JSON',
      InstanceId: 'i-bp1 a*b~c',
      RegionId: 'cn-beijing',
      SecurityToken: 'CAIS+token/with=chars&more',
      SignatureMethod: 'HMAC-SHA1',
      SignatureNonce: 'nonce-123',
      SignatureVersion: '1.0',
      Timestamp: '2024-06-30T23:59:59Z',
      Version: '2014-05-26',
      VpcId: 'vpc-中文',
    };
    expect(canonicalQuery(p)).toContain('InstanceId=i-bp1%20a%2Ab~c');
    expect(canonicalQuery(p)).toContain('VpcId=vpc-%E4%B8%AD%E6%96%87');
    expect(signV1('POST', p, 'AbC/+=secret~*')).toBe('FqGcNCshbSe3HQT3RimD5KJB33Y=');
  });

  it('V1-D: exactly what ecs20140526 sends in v2 mode', () => {
    const p = {
      AccessKeyId: 'testid',
      Action: 'DescribeClassicLinkInstances',
      Format: 'json',
      RegionId: 'cn-hangzhou',
      SignatureMethod: 'HMAC-SHA1',
      SignatureNonce: 'n1',
      SignatureVersion: '1.0',
      Timestamp: '2024-01-02T03:04:05Z',
      Version: '2014-05-26',
      VpcId: 'vpc-bp1exampleid',
    };
    expect(signV1('POST', p, 'testsecret')).toBe('4BeBtQDGOoDpw9TR/8I58/b/ly8=');
  });

  it('V1-E: the official openapi-util unit test (empty method)', () => {
    expect(signV1('', { test: 'ok' }, 'accessKeySecret')).toBe('jHx/oHoHNrbVfhncHEvPdHXZwHU=');
  });

  it('a changed parameter changes the signature', () => {
    expect(signV1('GET', { ...v1b, VpcId: 'vpc-other' }, 'testsecret')).not.toBe(
      'zIKvuqH2HOJ09kHeqIGrhDMof+g=',
    );
  });
});

const EMPTY_SHA = sha256Hex('');

function v3Headers(
  host: string,
  action: string,
  date: string,
  nonce: string,
  extra: Record<string, string> = {},
) {
  return {
    host,
    'x-acs-action': action,
    'x-acs-version': '2014-05-26',
    'x-acs-date': date,
    'x-acs-signature-nonce': nonce,
    'x-acs-content-sha256': EMPTY_SHA,
    ...extra,
  };
}

describe('signature V3 (ACS3-HMAC-SHA256)', () => {
  it('V3-A: the documented RunInstances example', () => {
    const s = signV3({
      method: 'POST',
      query: { ImageId: 'win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd', RegionId: 'cn-shanghai' },
      headers: v3Headers(
        'ecs.cn-shanghai.aliyuncs.com',
        'RunInstances',
        '2023-10-26T10:22:32Z',
        '3156853299f313e23d1673dc12e1703d',
      ),
      body: '',
      accessKeyId: 'YourAccessKeyId',
      accessKeySecret: 'YourAccessKeySecret',
    });
    expect(sha256Hex(s.canonicalRequest)).toBe(
      '7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259',
    );
    expect(s.signature).toBe('06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0');
    expect(s.authorization).toBe(
      'ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0',
    );
  });

  const v3bQuery = { PageNumber: '1', PageSize: '100', RegionId: 'cn-hangzhou', VpcId: 'vpc-bp1exampleid' };
  it('V3-B: DescribeClassicLinkInstances', () => {
    const s = signV3({
      method: 'POST',
      query: v3bQuery,
      headers: v3Headers(
        'ecs.cn-hangzhou.aliyuncs.com',
        'DescribeClassicLinkInstances',
        '2024-01-02T03:04:05Z',
        '3c8b5f1e2d9a4b7c8e6f0a1b2c3d4e5f',
      ),
      body: '',
      accessKeyId: 'testid',
      accessKeySecret: 'testsecret',
    });
    expect(s.signedHeaders).toBe(
      'host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version',
    );
    expect(sha256Hex(s.canonicalRequest)).toBe(
      'cd765fbfbff6330f77e3eac4f34d8239abd63e1af6abfc925f124e5594af0536',
    );
    expect(s.signature).toBe('413551c69ead068c7a9ed20371c5aefe541a99fbcc36cfd21f7896df59182dfb');
  });

  it('V3-C: STS token, awkward characters and secret', () => {
    const s = signV3({
      method: 'POST',
      query: { InstanceId: 'i-bp1 a*b~c', RegionId: 'cn-beijing' },
      headers: v3Headers(
        'ecs.cn-beijing.aliyuncs.com',
        'DescribeClassicLinkInstances',
        '2024-06-30T23:59:59Z',
        'nonce-123',
        {
          'x-acs-accesskey-id': 'STS.NTestKeyId',
          'x-acs-security-token': 'CAIS+token/with=chars&more',
        },
      ),
      body: '',
      accessKeyId: 'STS.NTestKeyId',
      accessKeySecret: 'AbC/+=secret~*',
    });
    expect(s.canonicalRequest.split('\n')[2]).toBe('InstanceId=i-bp1%20a%2Ab~c&RegionId=cn-beijing');
    expect(s.signature).toBe('8d4e8afd6392316dcfac545c8fbe207d09bf737a1794192b93d17437f3c32524');
  });

  it('V3-D: wire capture of the official SDK (extra signed header, SDK host)', () => {
    const s = signV3({
      method: 'POST',
      query: v3bQuery,
      headers: v3Headers(
        'ecs-cn-hangzhou.aliyuncs.com',
        'DescribeClassicLinkInstances',
        '2024-01-02T03:04:05Z',
        '3c8b5f1e2d9a4b7c8e6f0a1b2c3d4e5f',
        { 'x-acs-credentials-provider': 'static_ak' },
      ),
      body: '',
      accessKeyId: 'testid',
      accessKeySecret: 'testsecret',
    });
    expect(s.signature).toBe('5a8d10653fbc6d28eb64387ab6e194acf9e4573dbd61788bdb7512152abb4aeb');
  });
});

describe('encoding helpers', () => {
  it('percent-encodes the RFC 3986 way', () => {
    expect(percentEncode("a b*c~d/e:f!'()")).toBe('a%20b%2Ac~d%2Fe%3Af%21%27%28%29');
  });
  it('formats timestamps without milliseconds', () => {
    expect(formatTimestamp(new Date('2024-01-02T03:04:05.678Z'))).toBe('2024-01-02T03:04:05Z');
  });
});
