/**
 * Which account a record pushed to the EventBridge hook belongs to: the configured account whose
 * `accountId` its envelope names; else the only account of a deployment that names no id; else
 * none (the record is not ours, and is ignored).
 */
import { describe, expect, it } from 'vitest';
import { accountForPush } from '../../src/sync/index.js';

const acct = (name: string, accountId?: string) => ({ name, accountId, regions: ['cn-hangzhou'] });

describe('accountForPush', () => {
  it('matches the account id among several accounts', () => {
    const accounts = [acct('prod', '111'), acct('staging', '222')];
    expect(accountForPush('222', accounts)?.name).toBe('staging');
    expect(accountForPush('333', accounts)).toBeUndefined();
    expect(accountForPush(undefined, accounts)).toBeUndefined();
  });

  it('a single account without an id takes every record', () => {
    expect(accountForPush('999', [acct('default')])?.name).toBe('default');
    expect(accountForPush(undefined, [acct('default')])?.name).toBe('default');
  });

  it('a single account with an id takes only its own', () => {
    expect(accountForPush('111', [acct('prod', '111')])?.name).toBe('prod');
    expect(accountForPush('999', [acct('prod', '111')])).toBeUndefined();
  });

  it('several accounts, one without an id: only ids match, never a guess', () => {
    const accounts = [acct('prod', '111'), acct('legacy')];
    expect(accountForPush('999', accounts)).toBeUndefined();
    expect(accountForPush('111', accounts)?.name).toBe('prod');
  });

  it('no account configured: nothing', () => {
    expect(accountForPush('111', [])).toBeUndefined();
  });
});
