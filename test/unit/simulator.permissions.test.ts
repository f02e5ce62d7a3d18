/** The simulator's RAM matching and repeated-parameter reading, as pure functions. */
import { describe, expect, it } from 'vitest';
import { globMatch } from '../../src/simulator/glob.js';
import { permits } from '../../src/simulator/identity.js';
import { indexedParams, jsonListParam } from '../../src/simulator/params.js';

describe('permits', () => {
  it('matches RAM actions with * wildcards, case-insensitively', () => {
    expect(permits(['*'], 'ecs:DescribeInstances')).toBe(true);
    expect(permits(['ecs:*'], 'ecs:DescribeInstances')).toBe(true);
    expect(permits(['ecs:*'], 'actiontrail:LookupEvents')).toBe(false);
    expect(permits(['ecs:Describe*'], 'ecs:DescribeInstances')).toBe(true);
    expect(permits(['ecs:Describe*'], 'ecs:DeleteInstance')).toBe(false);
    expect(permits(['ECS:describeinstances'], 'ecs:DescribeInstances')).toBe(true);
    expect(permits(['ecs:DescribeInstance'], 'ecs:DescribeInstances')).toBe(false);
    expect(permits([], 'ecs:DescribeInstances')).toBe(false);
  });

  it('globMatch anchors both ends and never lets middles overlap', () => {
    expect(globMatch('web-*', 'web-01')).toBe(true);
    expect(globMatch('*-01', 'web-01')).toBe(true);
    expect(globMatch('a*b*c', 'abc')).toBe(true);
    expect(globMatch('a*b*c', 'acb')).toBe(false);
    expect(globMatch('ab*ba', 'aba')).toBe(false);
    expect(globMatch('*', '')).toBe(true);
    expect(globMatch('x', 'x')).toBe(true);
    expect(globMatch('x', 'xy')).toBe(false);
  });
});

describe('repeated and JSON-array parameters', () => {
  it('indexedParams orders by N and reads fields', () => {
    const p = {
      'InstanceId.10': 'c',
      'InstanceId.2': 'b',
      'InstanceId.1': 'a',
      InstanceId: 'x',
      'InstanceId.1.Key': 'no',
    };
    expect(indexedParams(p, 'InstanceId').map((x) => x.value)).toEqual(['a', 'b', 'c']);
    const tags = { 'Tag.2.Key': 'k2', 'Tag.1.Key': 'k1', 'Tag.1.Value': 'v1', 'Tag.1.Other': 'no' };
    expect(indexedParams(tags, 'Tag', ['Key', 'Value'])).toEqual([
      { n: 1, values: { Key: 'k1', Value: 'v1' } },
      { n: 2, values: { Key: 'k2' } },
    ]);
  });

  it('jsonListParam takes a JSON array of strings, deduplicated, bounded', () => {
    expect(jsonListParam({}, 'InstanceIds', 2)).toBeUndefined();
    expect(jsonListParam({ InstanceIds: '["a","b","a"]' }, 'InstanceIds', 2)).toEqual(['a', 'b']);
    expect(jsonListParam({ InstanceIds: '[]' }, 'InstanceIds', 2)).toEqual([]);
    for (const bad of ['a,b', '["a",1]', '{"a":"b"}', '["a","b","c"]']) {
      expect(() => jsonListParam({ InstanceIds: bad }, 'InstanceIds', 2)).toThrow(/InstanceIds/);
    }
  });
});
