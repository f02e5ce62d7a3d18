/**
 * Who calls: every AccessKey belongs to a RAM user of the simulator's one account, with a set of
 * permitted RAM actions. ActionTrail records the caller from here, and the dispatcher refuses (or,
 * for DescribeInstances, empties) what a key may not call.
 */
import { SimApiError } from './api-error.js';
import { hash32, principalIdFor } from './attributes.js';
import { globMatch } from './glob.js';
import { mulberry32, randomMixedAlnum } from './random.js';
import type { KeyIdentity, SimulatorKey } from './types.js';

/** The caller of one audited call: a key's identity plus where the call came from. */
export interface Actor {
  identity: KeyIdentity;
  sourceIp: string;
  userAgent: string;
}

export interface IdentityChange {
  userName?: string;
  permissions?: string[];
  sourceIp?: string;
}

export class Identities {
  private readonly byKey = new Map<string, KeyIdentity>();

  constructor(
    readonly accountId: string,
    keys: readonly SimulatorKey[],
  ) {
    keys.forEach((k, i) => {
      const userName = k.userName ?? `sim-user-${i + 1}`;
      this.byKey.set(k.accessKeyId, {
        accessKeyId: k.accessKeyId,
        userName,
        principalId: principalIdFor(accountId, userName),
        accountId,
        permissions: [...(k.permissions ?? ['*'])],
      });
    });
  }

  get(accessKeyId: string): KeyIdentity | undefined {
    return this.byKey.get(accessKeyId);
  }

  list(): KeyIdentity[] {
    return [...this.byKey.values()].map(copy);
  }

  /** Throws an Error for an unknown key or an empty user name. */
  set(accessKeyId: string, change: IdentityChange): KeyIdentity {
    const id = this.byKey.get(accessKeyId);
    if (!id) throw new Error(`no key ${accessKeyId}`);
    if (change.userName !== undefined) {
      if (change.userName === '') throw new Error('userName may not be empty');
      id.userName = change.userName;
      id.principalId = principalIdFor(this.accountId, change.userName);
    }
    if (change.permissions !== undefined) id.permissions = [...change.permissions];
    if (change.sourceIp !== undefined) {
      if (change.sourceIp === '') delete id.sourceIp;
      else id.sourceIp = change.sourceIp;
    }
    return copy(id);
  }

  /**
   * The identity behind a user name for calls made without a key (admin endpoints, churn): the
   * key of that user when one has it, else the user with a stable AccessKeyId of its own.
   */
  forUser(userName: string): KeyIdentity {
    for (const id of this.byKey.values()) if (id.userName === userName) return copy(id);
    const rng = mulberry32(hash32(0, `key\n${this.accountId}\n${userName}`));
    return {
      accessKeyId: `LTAI5t${randomMixedAlnum(rng, 18)}`,
      userName,
      principalId: principalIdFor(this.accountId, userName),
      accountId: this.accountId,
      permissions: ['*'],
    };
  }
}

function copy(id: KeyIdentity): KeyIdentity {
  return { ...id, permissions: [...id.permissions] };
}

/** Whether `permissions` grant a RAM action (`*` = any run of characters; case-insensitive, as RAM). */
export function permits(permissions: readonly string[], ramAction: string): boolean {
  const action = ramAction.toLowerCase();
  return permissions.some((p) => globMatch(p.toLowerCase(), action));
}

/** `Forbidden.RAM` (403) with the `AccessDeniedDetail` block the real gateway adds. */
export function forbidden(identity: KeyIdentity, ramAction: string): SimApiError {
  const err = new SimApiError(
    'Forbidden.RAM',
    'User not authorized to operate on the specified resource, or this API does not support RAM.',
  );
  err.details = {
    AccessDeniedDetail: {
      AuthAction: ramAction,
      AuthPrincipalDisplayName: identity.userName,
      AuthPrincipalOwnerId: identity.accountId,
      AuthPrincipalType: 'SubUser',
      NoPermissionType: 'ImplicitDeny',
      PolicyType: 'AccountLevelIdentityBasedPolicy',
      EncodedDiagnosticMessage: Buffer.from(`${identity.principalId}:${ramAction}`).toString('base64'),
    },
  };
  return err;
}
