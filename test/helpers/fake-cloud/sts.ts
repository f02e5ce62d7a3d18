/**
 * A local fake of STS 2015-04-01 on node:http port 0: `AssumeRole` (verifies the RPC HMAC-SHA1
 * signature with `signV1`, the AccessKey, the SecurityToken of STS callers, the nonce, the role)
 * and `AssumeRoleWithOIDC` (checks provider ARN and token), answering the real success shape
 * `{RequestId, Credentials:{…}, AssumedRoleUser}` and the real error shape `{RequestId, HostId,
 * Code, Message, Recommend}` — including the server's string-to-sign in `SignatureDoesNotMatch`,
 * which holds the caller's SecurityToken (the client must never echo it).
 *
 * It records every request and can be told to fail the next N requests. Credentials it issues are
 * accepted as callers, so chained AssumeRole works.
 */
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { canonicalQuery, formatTimestamp, percentEncode, signV1 } from '../../../src/aliyun/signer.js';
import {
  type FakeServer,
  type Fault,
  type IssuedCredentials,
  type RecordedRequest,
  secretPart,
  sendJson,
  startServer,
  takeFault,
} from './server.js';

export interface FakeStsOptions {
  /** AccessKeys that may call AssumeRole: id → secret (and the SecurityToken an STS key must send). */
  keys?: Record<string, { secret: string; securityToken?: string | undefined }> | undefined;
  /** Role ARNs that may be assumed. */
  roles?: readonly string[] | undefined;
  /** AssumeRoleWithOIDC: the provider ARN and the one token it accepts. */
  oidc?: { providerArn: string; token: string } | undefined;
  /** Clock for `Expiration`. Default real time. */
  now?: (() => Date) | undefined;
  /** Largest DurationSeconds (the role's max session duration). Default 3600. */
  maxDurationSeconds?: number | undefined;
}

export interface StsIssued extends IssuedCredentials {
  action: 'AssumeRole' | 'AssumeRoleWithOIDC';
  roleArn: string;
  roleSessionName: string;
  durationSeconds: number;
  /** The AccessKeyId that signed AssumeRole. */
  callerKeyId?: string | undefined;
}

export interface FakeSts extends FakeServer {
  issued: StsIssued[];
  /** The next `count` STS requests answer `status` with `code` (e.g. 500 InternalError). */
  failNext(status: number, code: string, count?: number): void;
  /** Accepted requests (signature verified) by action. */
  accepted(action?: string): RecordedRequest[];
}

const STS_HOST = 'sts.aliyuncs.com';

function stsError(res: http.ServerResponse, status: number, code: string, message: string): void {
  const requestId = randomUUID().toUpperCase();
  sendJson(res, status, {
    RequestId: requestId,
    HostId: STS_HOST,
    Code: code,
    Message: message,
    Recommend: `https://api.aliyun.com/troubleshoot?q=${code}&product=Sts&requestId=${requestId}`,
  });
}

const SESSION_NAME = /^[A-Za-z0-9.@_-]{2,64}$/;

export async function startFakeSts(opts: FakeStsOptions = {}): Promise<FakeSts> {
  const keys = new Map(Object.entries(opts.keys ?? {}));
  const roles = new Set(opts.roles ?? []);
  const now = opts.now ?? (() => new Date());
  const maxDuration = opts.maxDurationSeconds ?? 3600;
  const issued: StsIssued[] = [];
  const accepted: RecordedRequest[] = [];
  const nonces = new Set<string>();
  const faults: Fault[] = [];

  const issue = (
    action: StsIssued['action'],
    p: Record<string, string>,
    duration: number,
    callerKeyId?: string,
  ) => {
    const n = issued.length + 1;
    const creds: IssuedCredentials = {
      AccessKeyId: `STS.sts${n}`,
      AccessKeySecret: `sts-secret-${n}-${secretPart()}`,
      SecurityToken: `sts-token-${n}-${secretPart()}`,
      Expiration: formatTimestamp(new Date(now().getTime() + duration * 1000)),
    };
    const roleArn = p.RoleArn ?? '';
    const roleSessionName = p.RoleSessionName ?? '';
    issued.push({ ...creds, action, roleArn, roleSessionName, durationSeconds: duration, callerKeyId });
    // Issued credentials may sign further AssumeRole calls (role chaining).
    keys.set(creds.AccessKeyId, { secret: creds.AccessKeySecret, securityToken: creds.SecurityToken });
    return {
      creds,
      assumed: {
        Arn: `${roleArn.replace(':role/', ':assumed-role/')}/${roleSessionName}`,
        AssumedRoleId: `3${n.toString().padStart(17, '0')}:${roleSessionName}`,
      },
    };
  };

  /** The role parameters of an AssumeRole* call: the session duration, or undefined once an error is sent. */
  const checkRole = (p: Record<string, string>, res: http.ServerResponse): number | undefined => {
    if (!p.RoleArn) return void stsError(res, 400, 'MissingRoleArn', 'RoleArn is mandatory for this action.');
    if (!p.RoleSessionName || !SESSION_NAME.test(p.RoleSessionName)) {
      return void stsError(
        res,
        400,
        'InvalidParameter.RoleSessionName',
        'The parameter RoleSessionName is wrongly formed.',
      );
    }
    const duration = p.DurationSeconds === undefined ? 3600 : Number(p.DurationSeconds);
    if (!Number.isInteger(duration) || duration < 900 || duration > maxDuration) {
      return void stsError(
        res,
        400,
        'InvalidParameter.DurationSeconds',
        `The Min/Max value of DurationSeconds is 900/${maxDuration} seconds, while yours is ${p.DurationSeconds}.`,
      );
    }
    if (!roles.has(p.RoleArn)) {
      return void stsError(
        res,
        403,
        'NoPermission',
        'You are not authorized to do this action. You should be authorized by RAM.',
      );
    }
    return duration;
  };

  const srv = await startServer((req, res) => {
    const fault = takeFault(faults);
    if (fault) {
      stsError(
        res,
        fault.status,
        fault.code ?? 'InternalError',
        'The request processing has failed due to some unknown error.',
      );
      return;
    }
    const p: Record<string, string> = { ...req.query, ...req.form };
    if (req.path !== '/' || (req.method !== 'POST' && req.method !== 'GET')) {
      stsError(
        res,
        404,
        'InvalidAction.NotFound',
        'Specified api is not found, please check your url and method.',
      );
      return;
    }
    if (p.Version !== '2015-04-01' || p.Format?.toUpperCase() !== 'JSON' || !p.Timestamp) {
      stsError(res, 400, 'MissingParameter', 'Version, Format=JSON and Timestamp are required.');
      return;
    }
    if (p.Action === 'AssumeRoleWithOIDC') {
      if (!opts.oidc || p.OIDCProviderArn !== opts.oidc.providerArn) {
        stsError(res, 404, 'EntityNotExist.OIDCProvider', 'The specified OIDC provider does not exist.');
        return;
      }
      if (p.OIDCToken !== opts.oidc.token) {
        // The real service may quote the token it rejects: the client must not repeat it.
        stsError(
          res,
          400,
          'AuthenticationFail.OIDCToken.Invalid',
          `The OIDC token ${p.OIDCToken ?? ''} is invalid.`,
        );
        return;
      }
      const duration = checkRole(p, res);
      if (duration === undefined) return;
      accepted.push(req);
      const { creds, assumed } = issue('AssumeRoleWithOIDC', p, duration);
      sendJson(res, 200, {
        RequestId: randomUUID().toUpperCase(),
        Credentials: creds,
        AssumedRoleUser: assumed,
        OIDCTokenInfo: {
          Subject: 'system:serviceaccount:ns:sa',
          Issuer: 'https://oidc.example',
          ClientIds: 'sts.aliyuncs.com',
        },
      });
      return;
    }
    if (p.Action !== 'AssumeRole') {
      stsError(
        res,
        400,
        'InvalidAction.NotFound',
        'Specified api is not found, please check your url and method.',
      );
      return;
    }
    const { Signature: signature, ...unsigned } = p;
    if (
      !signature ||
      p.SignatureMethod !== 'HMAC-SHA1' ||
      p.SignatureVersion !== '1.0' ||
      !p.SignatureNonce
    ) {
      stsError(
        res,
        400,
        'IncompleteSignature',
        'The request signature does not conform to Aliyun standards.',
      );
      return;
    }
    const key = keys.get(p.AccessKeyId ?? '');
    if (key === undefined) {
      stsError(res, 404, 'InvalidAccessKeyId.NotFound', 'Specified access key is not found.');
      return;
    }
    const expected = signV1(req.method, unsigned, key.secret);
    if (expected !== signature) {
      const stringToSign = `${req.method}&${percentEncode('/')}&${percentEncode(canonicalQuery(unsigned))}`;
      stsError(
        res,
        400,
        'SignatureDoesNotMatch',
        `Specified signature is not matched with our calculation. server string to sign is:${stringToSign}`,
      );
      return;
    }
    if (key.securityToken !== undefined && p.SecurityToken !== key.securityToken) {
      stsError(
        res,
        400,
        'InvalidSecurityToken.MismatchWithAccessKey',
        'The security token does not match the access key.',
      );
      return;
    }
    if (nonces.has(p.SignatureNonce)) {
      stsError(res, 400, 'SignatureNonceUsed', 'Specified signature nonce was used already.');
      return;
    }
    nonces.add(p.SignatureNonce);
    const duration = checkRole(p, res);
    if (duration === undefined) return;
    accepted.push(req);
    const { creds, assumed } = issue('AssumeRole', p, duration, p.AccessKeyId);
    sendJson(res, 200, {
      RequestId: randomUUID().toUpperCase(),
      Credentials: creds,
      AssumedRoleUser: assumed,
    });
  });

  return {
    url: srv.url,
    requests: srv.requests,
    close: srv.close,
    issued,
    failNext(status, code, count = 1) {
      faults.push({ status, code, count });
    },
    accepted: (action) =>
      action === undefined ? accepted : accepted.filter((r) => r.query.Action === action),
  };
}
