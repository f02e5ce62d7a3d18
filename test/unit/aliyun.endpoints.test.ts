import { describe, expect, it } from 'vitest';
import { resolveEndpoint } from '../../src/aliyun/endpoints.js';
import { FatalError } from '../../src/errors.js';

describe('resolveEndpoint', () => {
  it('defaults to the documented regional hosts', () => {
    expect(resolveEndpoint('ecs', 'cn-hangzhou').href).toBe('https://ecs.cn-hangzhou.aliyuncs.com/');
    expect(resolveEndpoint('ecs', 'eu-central-1').href).toBe('https://ecs.eu-central-1.aliyuncs.com/');
    expect(resolveEndpoint('vpc', 'cn-hangzhou').href).toBe('https://vpc.cn-hangzhou.aliyuncs.com/');
    expect(resolveEndpoint('vpc', 'ap-southeast-1').href).toBe('https://vpc.ap-southeast-1.aliyuncs.com/');
  });

  it('follows the SDK for regions without a regional ECS host', () => {
    expect(resolveEndpoint('ecs', 'cn-shanghai-finance-1').host).toBe('ecs-cn-hangzhou.aliyuncs.com');
    expect(resolveEndpoint('ecs', 'cn-north-2-gov-1').host).toBe('ecs.aliyuncs.com');
  });

  it('substitutes {region} in an override and keeps the port', () => {
    expect(resolveEndpoint('ecs', 'cn-beijing', 'https://ecs-vpc.{region}.aliyuncs.com').href).toBe(
      'https://ecs-vpc.cn-beijing.aliyuncs.com/',
    );
    const sim = resolveEndpoint('vpc', 'cn-beijing', 'http://127.0.0.1:8080');
    expect(sim.origin).toBe('http://127.0.0.1:8080');
    expect(sim.host).toBe('127.0.0.1:8080');
    expect(resolveEndpoint('ecs', 'cn-beijing', 'http://127.0.0.1:8080/').pathname).toBe('/');
  });

  it('ActionTrail: the regional host by default; an override keeps its path, {region} replaced anywhere', () => {
    expect(resolveEndpoint('actiontrail', 'cn-hangzhou').href).toBe(
      'https://actiontrail.cn-hangzhou.aliyuncs.com/',
    );
    expect(
      resolveEndpoint('actiontrail', 'cn-beijing', 'https://actiontrail-vpc.{region}.aliyuncs.com').href,
    ).toBe('https://actiontrail-vpc.cn-beijing.aliyuncs.com/');
    const gw = resolveEndpoint('actiontrail', 'cn-beijing', 'http://127.0.0.1:9000/gw/{region}/trail');
    expect(gw.origin).toBe('http://127.0.0.1:9000');
    expect(gw.pathname).toBe('/gw/cn-beijing/trail');
    // ECS and VPC overrides stay bare origins.
    expect(() => resolveEndpoint('ecs', 'cn-beijing', 'http://127.0.0.1:9000/gw')).toThrow(/ECS_ENDPOINT/);
  });

  it.each(['https://example.com/trail?x=1', 'https://user:pw@example.com/trail', 'ftp://example.com/x'])(
    'rejects the ActionTrail override %s, naming ACTIONTRAIL_ENDPOINT',
    (override) => {
      let err: unknown;
      try {
        resolveEndpoint('actiontrail', 'cn-hangzhou', override);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(FatalError);
      expect((err as FatalError).code).toBe('InvalidEndpoint');
      expect((err as FatalError).message).toContain('ACTIONTRAIL_ENDPOINT');
      expect((err as FatalError).message).not.toContain('pw');
    },
  );

  it('treats an empty override as no override', () => {
    expect(resolveEndpoint('ecs', 'cn-beijing', '').host).toBe('ecs.cn-beijing.aliyuncs.com');
  });

  it.each([
    ['ftp://example.com', 'InvalidEndpoint'],
    ['not a url', 'InvalidEndpoint'],
    ['https://example.com/some/path', 'InvalidEndpoint'],
    ['https://example.com/?x=1', 'InvalidEndpoint'],
    ['https://user:pw@example.com', 'InvalidEndpoint'],
  ])('rejects the override %s', (override, code) => {
    const err = (() => {
      try {
        resolveEndpoint('ecs', 'cn-hangzhou', override);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(FatalError);
    expect((err as FatalError).code).toBe(code);
    expect((err as FatalError).message).toContain('ECS_ENDPOINT');
    // The message names the variable, never echoes the value (it may hold credentials).
    expect((err as FatalError).message).not.toContain('pw');
  });

  it.each(['', 'CN-HANGZHOU', 'evil.com/x', 'cn-hangzhou.evil.com', 'cn hangzhou', 'x'])(
    'rejects the region id %j before it reaches a host name',
    (region) => {
      expect(() => resolveEndpoint('ecs', region)).toThrow(FatalError);
    },
  );
});
