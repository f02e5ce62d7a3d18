import { describe, expect, it } from 'vitest';
import { keyHint } from '../../src/aliyun/answer.js';
import {
  classifyApiError,
  coerceError,
  ErrorCode,
  FatalError,
  isPermissionDenied,
  isThrottled,
  isUnreachable,
  RetryableError,
} from '../../src/errors.js';

describe('classifyApiError: by the JSON Code first, then the HTTP status', () => {
  it.each([
    ['Throttling', 400, 'retryable'],
    ['Throttling.User', 400, 'retryable'],
    ['Throttling.Api', 400, 'retryable'],
    ['Rejected.Throttling', 400, 'retryable'],
    ['ServiceUnavailable', 503, 'retryable'],
    ['InternalError', 500, 'retryable'],
    ['UnknownServerError', 502, 'retryable'],
    [undefined, 503, 'retryable'],
    [undefined, 429, 'retryable'],
    ['InvalidAccessKeyId.NotFound', 404, 'fatal'],
    ['SignatureDoesNotMatch', 400, 'fatal'],
    ['InvalidTimeStamp.Expired', 400, 'fatal'],
    ['Forbidden.RAM', 403, 'fatal'],
    ['MissingParameter', 400, 'fatal'],
    ['InvalidParameter', 400, 'fatal'],
    ['InvalidRegionId.Malformed', 400, 'fatal'],
    ['InvalidVpcId.NotFound', 404, 'fatal'],
    ['InvalidInstanceId.NotBelong', 403, 'fatal'],
    [undefined, 400, 'fatal'],
  ] as const)('%s with HTTP %i is %s', (code, status, expected) => {
    expect(classifyApiError(code, status)).toBe(expected);
  });
});

describe('isPermissionDenied: a missing RAM permission, never "nothing there"', () => {
  it.each(['Forbidden.RAM', 'Forbidden', 'Forbidden.SubUser', 'NoPermission'])('%s is', (code) => {
    expect(isPermissionDenied({ code })).toBe(true);
    expect(classifyApiError(code, 403)).toBe('fatal');
  });
  it.each(['InvalidInstanceId.NotBelong', 'SignatureDoesNotMatch', 'Throttling', ErrorCode.DryRunPassed])(
    '%s is not',
    (code) => expect(isPermissionDenied({ code })).toBe(false),
  );
  it('DryRunOperation is fatal (never retried): the probe reads it as allowed', () => {
    expect(classifyApiError(ErrorCode.DryRunPassed, 400)).toBe('fatal');
  });
});

describe('coerceError', () => {
  it('passes our own errors through unchanged', () => {
    const e = new FatalError('nope', { code: 'Forbidden.RAM', requestId: 'R1' });
    expect(coerceError(e)).toBe(e);
  });

  it.each([
    'UND_ERR_CONNECT_TIMEOUT',
    'UND_ERR_HEADERS_TIMEOUT',
    'UND_ERR_BODY_TIMEOUT',
    'UND_ERR_SOCKET',
    'ECONNRESET',
    'ECONNREFUSED',
  ])('network code %s is retryable', (code) => {
    const err = Object.assign(new Error('boom'), { code });
    const c = coerceError(err);
    expect(c).toBeInstanceOf(RetryableError);
    expect(c.code).toBe(code);
    expect(c.cause).toBe(err);
  });

  it('classifies SQLSTATEs: serialization failure retries, a constraint violation does not', () => {
    const serial = Object.assign(new Error('could not serialize'), { code: '40001', severity: 'ERROR' });
    const unique = Object.assign(new Error('duplicate key'), { code: '23505', severity: 'ERROR' });
    const adminShutdown = Object.assign(new Error('terminating connection'), {
      code: '57P01',
      severity: 'FATAL',
    });
    expect(coerceError(serial)).toBeInstanceOf(RetryableError);
    expect(coerceError(unique)).toBeInstanceOf(FatalError);
    expect(coerceError(unique).code).toBe('SQLSTATE_23505');
    expect(coerceError(adminShutdown)).toBeInstanceOf(RetryableError);
  });

  it('treats a lost pg connection without a code as retryable', () => {
    expect(coerceError(new Error('Connection terminated unexpectedly')).code).toBe('CONNECTION_LOST');
  });

  it('summarises with code, message and request id', () => {
    const e = new FatalError('no permission', { code: 'Forbidden.RAM', requestId: 'ABC-1' });
    expect(e.summary()).toBe('Forbidden.RAM: no permission (RequestId ABC-1)');
    expect(e.retryable).toBe(false);
    expect(new RetryableError('x', { code: 'Throttling' }).retryable).toBe(true);
  });

  it('ends the summary with the hint, after the request id', () => {
    const e = new FatalError('the request signature does not match the AccessKey secret', {
      code: 'SignatureDoesNotMatch',
      requestId: 'ABC-2',
      hint: 'check ALIBABA_CLOUD_ACCESS_KEY_SECRET',
    });
    expect(e.summary()).toBe(
      'SignatureDoesNotMatch: the request signature does not match the AccessKey secret (RequestId ABC-2); check ALIBABA_CLOUD_ACCESS_KEY_SECRET',
    );
  });
});

describe('keyHint: what to check when the API refuses the key', () => {
  it.each([
    ['env', 'secret', 'check ALIBABA_CLOUD_ACCESS_KEY_SECRET'],
    ['chain/env', 'secret', 'check ALIBABA_CLOUD_ACCESS_KEY_SECRET'],
    ['chain/env', 'id', 'check ALIBABA_CLOUD_ACCESS_KEY_ID'],
    ['env(STAGING_AK_ID,STAGING_AK_SECRET)', 'secret', 'check STAGING_AK_SECRET'],
    ['env(STAGING_AK_ID,STAGING_AK_SECRET)', 'id', 'check STAGING_AK_ID'],
    [
      'chain/profile/static_ak',
      'secret',
      'check the AccessKey secret of the credentials (source chain/profile/static_ak)',
    ],
    ['static', 'id', 'check the AccessKey id of the credentials (source static)'],
  ] as const)('%s, %s → %s', (source, part, hint) => expect(keyHint(source, part)).toBe(hint));
});

describe('isThrottled', () => {
  it.each([
    ['Throttling', undefined, true],
    ['Throttling.User', 400, true],
    ['Throttling.Api', 400, true],
    ['Rejected.Throttling', 400, true],
    ['OK', 429, true],
    ['InvalidParameter', 400, false],
    ['OK', 200, false],
    ['NotThrottlingReally', 400, false],
  ] as const)('%s / HTTP %s → %s', (code, httpStatus, expected) => {
    expect(isThrottled({ code, httpStatus })).toBe(expected);
  });
});

describe('isUnreachable: nothing answered at the address', () => {
  it.each(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH'])(
    '%s reached no server, and stays retryable',
    (code) => {
      const c = coerceError(Object.assign(new Error('boom'), { code }));
      expect(c).toBeInstanceOf(RetryableError);
      expect(isUnreachable(c)).toBe(true);
    },
  );

  it.each(['ECONNRESET', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT', 'InternalError', 'Throttling'])(
    '%s reached a server',
    (code) => {
      expect(isUnreachable({ code })).toBe(false);
    },
  );
});
