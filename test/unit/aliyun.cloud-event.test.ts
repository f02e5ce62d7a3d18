/**
 * The ActionTrail record parser, on the documented samples (reference/alibaba-actiontrail.md
 * §1.6, §2.2) and on the forms the real API may take where its shape is unconfirmed: numbers or
 * strings, flattened or JSON-array instance ids, missing optional fields. A record that does not
 * validate is refused with the field that failed, never thrown.
 */
import { describe, expect, it } from 'vitest';
import { type CloudEvent, parseCloudEvent } from '../../src/aliyun/cloud-event.js';

/** The constructed LookupEvents record of the reference (§1.6). */
function attach(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    eventId: '239EB588-CD24-522E-B0B5-174A1A588BE0',
    eventVersion: 1,
    eventName: 'AttachClassicLinkVpc',
    eventType: 'ApiCall',
    eventTime: '2026-01-02T06:11:36Z',
    acsRegion: 'cn-hangzhou',
    serviceName: 'Ecs',
    apiVersion: '2014-05-26',
    requestId: '239EB588-CD24-522E-B0B5-174A1A588BE0',
    requestParameters: {
      RegionId: 'cn-hangzhou',
      InstanceId: 'i-bp1gtjxuuvwj17zr0001',
      VpcId: 'vpc-bp1j4z1sr8zxu4l8u0001',
      AcsProduct: 'Ecs',
    },
    userIdentity: {
      type: 'ram-user',
      principalId: '274180646548290001',
      accountId: '1547353256850001',
      userName: 'Alice',
      accessKeyId: 'LTAI0001',
    },
    sourceIpAddress: '192.168.1.2',
    userAgent: 'AlibabaCloud (Linux) aliyun-cli/v3',
    errorCode: '',
    errorMessage: '',
    ...over,
  };
}

function ok(record: unknown): CloudEvent {
  const r = parseCloudEvent(record);
  if (!r.ok) throw new Error(`refused: ${JSON.stringify(r.refusal)}`);
  return r.event;
}

function refused(record: unknown) {
  const r = parseCloudEvent(record);
  if (r.ok) throw new Error(`accepted: ${JSON.stringify(r.event)}`);
  return r.refusal;
}

function params(p: Record<string, unknown>) {
  return attach({ requestParameters: { RegionId: 'cn-hangzhou', ...p } });
}

describe('parseCloudEvent: a documented record', () => {
  it('reads every field cloud_events keeps; an empty errorCode is success', () => {
    expect(ok(attach())).toEqual({
      eventId: '239EB588-CD24-522E-B0B5-174A1A588BE0',
      eventName: 'AttachClassicLinkVpc',
      eventTime: new Date('2026-01-02T06:11:36Z'),
      acsRegion: 'cn-hangzhou',
      instanceIds: ['i-bp1gtjxuuvwj17zr0001'],
      vpcId: 'vpc-bp1j4z1sr8zxu4l8u0001',
      actor: {
        type: 'ram-user',
        name: 'Alice',
        principalId: '274180646548290001',
        accountId: '1547353256850001',
      },
      accessKeyId: 'LTAI0001',
      sourceIp: '192.168.1.2',
      userAgent: 'AlibabaCloud (Linux) aliyun-cli/v3',
      apiRequestId: '239EB588-CD24-522E-B0B5-174A1A588BE0',
      errorCode: undefined,
    });
  });

  it('keeps the errorCode of a failed call (stored, never matched)', () => {
    expect(ok(attach({ errorCode: 'InvalidInstanceId.NotFound' })).errorCode).toBe(
      'InvalidInstanceId.NotFound',
    );
  });

  it('reads the EventBridge sample: no requestParameters, instance ids from referencedResources', () => {
    const e = ok({
      eventId: '92b33345-0cef-47be-821f-fb9914d30001',
      eventAttributes: { SensitiveAction: 'true' },
      eventVersion: 1,
      sourceIpAddress: 'ecs.aliyuncs.com',
      userAgent: 'ecs.aliyuncs.com',
      eventRW: 'Write',
      eventType: 'ApiCall',
      referencedResources: {
        'ACS::ECS::Instance': ['i-8vb0smn1lf6g77md0001'],
        'ACS::ECS::Disk': ['d-8vbf8rpv2nn0l1zm0001'],
      },
      userIdentity: { type: 'system', userName: 'ecs.aliyuncs.com' },
      serviceName: 'Ecs',
      requestId: '32B7EB75-62EE-511E-9449-E19EBF67C2ED',
      eventTime: '2022-10-22T21:52:00Z',
      isGlobal: false,
      acsRegion: 'cn-hangzhou',
      eventName: 'DeleteDisk',
    });
    expect(e.instanceIds).toEqual(['i-8vb0smn1lf6g77md0001']);
    expect(e.actor).toEqual({
      type: 'system',
      name: 'ecs.aliyuncs.com',
      principalId: undefined,
      accountId: undefined,
    });
    expect(e.vpcId).toBeUndefined();
    expect(e.errorCode).toBeUndefined();
  });
});

describe('parseCloudEvent: lenient where the real shape is unconfirmed', () => {
  it.each([1, '1', '1.0', undefined, null])('eventVersion %j', (v) => {
    expect(ok(attach({ eventVersion: v })).eventName).toBe('AttachClassicLinkVpc');
  });

  it('ids given as numbers (when exact) become strings', () => {
    const e = ok(
      attach({ userIdentity: { type: 'root-account', principalId: 1547353256850001, accountId: 42 } }),
    );
    expect(e.actor).toEqual({
      type: 'root-account',
      name: undefined,
      principalId: '1547353256850001',
      accountId: '42',
    });
  });

  it('DeleteInstances: InstanceId.N in index order (10 after 9), duplicates once', () => {
    const p: Record<string, string> = {};
    for (let n = 1; n <= 11; n++) p[`InstanceId.${n}`] = `i-${String(n).padStart(2, '0')}`;
    p['InstanceId.12'] = 'i-01';
    const e = ok(
      attach({ eventName: 'DeleteInstances', requestParameters: { RegionId: 'cn-hangzhou', ...p } }),
    );
    expect(e.instanceIds).toEqual(
      Array.from({ length: 11 }, (_, i) => `i-${String(i + 1).padStart(2, '0')}`),
    );
    expect(e.vpcId).toBeUndefined();
  });

  it.each([
    ['InstanceIds as a JSON array string', { InstanceIds: '["i-a","i-b"]' }],
    ['InstanceIds as an array', { InstanceIds: ['i-a', 'i-b'] }],
    ['InstanceId as a JSON array string', { InstanceId: '["i-a", "i-b"]' }],
    ['InstanceId as an array', { InstanceId: ['i-a', 'i-b'] }],
    ['InstanceId as a comma list', { InstanceId: 'i-a, i-b' }],
    ['InstanceIds.N', { 'InstanceIds.2': 'i-b', 'InstanceIds.1': 'i-a' }],
  ])('%s', (_name, p) => {
    expect(ok(params(p)).instanceIds).toEqual(['i-a', 'i-b']);
  });

  it('requestParameters as a JSON string', () => {
    const e = ok(attach({ requestParameters: JSON.stringify({ InstanceId: 'i-a', VpcId: 'vpc-a' }) }));
    expect([e.instanceIds, e.vpcId]).toEqual([['i-a'], 'vpc-a']);
  });

  it('referencedResources only when the parameters name no instance', () => {
    const e = ok(
      attach({
        requestParameters: { InstanceId: 'i-param' },
        referencedResources: { 'ACS::ECS::Instance': ['i-ref'] },
      }),
    );
    expect(e.instanceIds).toEqual(['i-param']);
  });

  it("the record's top-level vpcId (where the request came from) is not the VPC acted on", () => {
    const e = ok(attach({ vpcId: 'vpc-caller', requestParameters: { InstanceId: 'i-a' } }));
    expect(e.vpcId).toBeUndefined();
  });

  it('missing optional fields (and null) read as absent', () => {
    const e = ok({
      eventId: 'e-1',
      eventName: 'DetachClassicLinkVpc',
      eventTime: '2026-01-02T14:11:36+08:00',
      acsRegion: 'cn-beijing',
      userIdentity: { type: 'assumed-role', userName: null },
      sourceIpAddress: null,
    });
    expect(e).toEqual({
      eventId: 'e-1',
      eventName: 'DetachClassicLinkVpc',
      eventTime: new Date('2026-01-02T06:11:36Z'),
      acsRegion: 'cn-beijing',
      instanceIds: [],
      vpcId: undefined,
      actor: { type: 'assumed-role', name: undefined, principalId: undefined, accountId: undefined },
      accessKeyId: undefined,
      sourceIp: undefined,
      userAgent: undefined,
      apiRequestId: undefined,
      errorCode: undefined,
    });
  });

  it('minute-precision times, as some samples show', () => {
    expect(ok(attach({ eventTime: '2026-01-02T06:11Z' })).eventTime).toEqual(
      new Date('2026-01-02T06:11:00Z'),
    );
  });

  it('hostile names and tags are kept verbatim', () => {
    const name = `"'<script>alert(1)</script> 🚀 ${'x'.repeat(4096)}`;
    const e = ok(attach({ userIdentity: { type: 'ram-user', userName: name }, userAgent: name }));
    expect(e.actor.name).toBe(name);
    expect(e.userAgent).toBe(name);
  });
});

describe('parseCloudEvent: a record that does not validate is refused with its field', () => {
  it.each([
    ['no eventId', attach({ eventId: undefined }), undefined, 'eventId'],
    ['a numeric eventId', attach({ eventId: 7 }), undefined, 'eventId'],
    ['no eventName', attach({ eventName: '' }), '239EB588-CD24-522E-B0B5-174A1A588BE0', 'eventName'],
    [
      'a time without offset',
      attach({ eventTime: '2026-01-02T06:11:36' }),
      '239EB588-CD24-522E-B0B5-174A1A588BE0',
      'eventTime',
    ],
    [
      'a time that is no time',
      attach({ eventTime: 'yesterday' }),
      '239EB588-CD24-522E-B0B5-174A1A588BE0',
      'eventTime',
    ],
    ['no acsRegion', attach({ acsRegion: undefined }), '239EB588-CD24-522E-B0B5-174A1A588BE0', 'acsRegion'],
    [
      'no userIdentity',
      attach({ userIdentity: undefined }),
      '239EB588-CD24-522E-B0B5-174A1A588BE0',
      'userIdentity',
    ],
    [
      'an identity without type',
      attach({ userIdentity: { userName: 'x' } }),
      '239EB588-CD24-522E-B0B5-174A1A588BE0',
      'userIdentity.type',
    ],
    [
      'an inexact numeric accountId',
      attach({ userIdentity: { type: 'ram-user', accountId: 2 ** 60 } }),
      '239EB588-CD24-522E-B0B5-174A1A588BE0',
      'userIdentity.accountId',
    ],
    [
      'an object eventVersion',
      attach({ eventVersion: { v: 1 } }),
      '239EB588-CD24-522E-B0B5-174A1A588BE0',
      'eventVersion',
    ],
    [
      'InstanceIds that are not a JSON array',
      params({ InstanceIds: '["i-a",' }),
      '239EB588-CD24-522E-B0B5-174A1A588BE0',
      'requestParameters.InstanceIds',
    ],
    [
      'InstanceIds of numbers',
      params({ InstanceIds: [1, 2] }),
      '239EB588-CD24-522E-B0B5-174A1A588BE0',
      'requestParameters.InstanceIds',
    ],
    [
      'an InstanceId.N object',
      params({ 'InstanceId.1': { id: 'i-a' } }),
      '239EB588-CD24-522E-B0B5-174A1A588BE0',
      'requestParameters.InstanceId.1',
    ],
    [
      'a numeric VpcId',
      params({ InstanceId: 'i-a', VpcId: 5 }),
      '239EB588-CD24-522E-B0B5-174A1A588BE0',
      'requestParameters.VpcId',
    ],
    [
      'requestParameters that are a list',
      attach({ requestParameters: ['i-a'] }),
      '239EB588-CD24-522E-B0B5-174A1A588BE0',
      'requestParameters',
    ],
    [
      'requestParameters that are broken JSON',
      attach({ requestParameters: '{"InstanceId":' }),
      '239EB588-CD24-522E-B0B5-174A1A588BE0',
      'requestParameters',
    ],
  ])('%s', (_name, record, eventId, field) => {
    const r = refused(record);
    expect(r.field).toBe(field);
    expect(r.eventId).toBe(eventId);
    expect(r.message.length).toBeGreaterThan(0);
  });

  it.each([null, 'a string', 42, ['a list']])('a record that is not an object: %j', (record) => {
    expect(refused(record)).toEqual({ eventId: undefined, field: '(record)', message: 'expected an object' });
  });
});
