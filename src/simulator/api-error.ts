/**
 * API errors as Alibaba answers them: a `Code`, a `Message` and the HTTP status that goes with the
 * code. The status table lives here, once; handlers only say which code.
 */

export class SimApiError extends Error {
  override readonly name = 'SimApiError';
  readonly code: string;
  readonly status: number;
  /** Extra fields of the error body, e.g. `AccessDeniedDetail` of a `Forbidden.RAM`. */
  details?: Record<string, unknown>;

  constructor(code: string, message: string, status = statusForCode(code)) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/**
 * The HTTP status Alibaba uses for a code. Exact codes first, then families (`Throttling*` is 400,
 * `Forbidden*` 403, `*.NotFound` 404), then 400.
 */
const EXACT_STATUS: Readonly<Record<string, number>> = {
  InternalError: 500,
  ServiceUnavailable: 503,
  'InvalidAccessKeyId.NotFound': 404,
  'InvalidAction.NotFound': 404,
  'InvalidVpcId.NotFound': 404,
  // Alibaba answers these two "not found" codes with 403, not 404 (reference: Describe/Detach docs).
  'InvalidInstanceId.NotFound': 403,
  'InvalidInstanceId.NotBelong': 403,
  // A region that does not exist is a bad parameter (400), as the brief and the real API say.
  'InvalidRegionId.NotFound': 400,
  'InvalidAccessKeyId.Inactive': 403,
  OperationDenied: 403,
  IncorrectInstanceStatus: 403,
  // A dry run that would have succeeded is answered as an error, with 400 (DescribeInstances doc).
  DryRunOperation: 400,
  'DRYRUN.SUCCESS': 400,
};

export function statusForCode(code: string): number {
  const exact = EXACT_STATUS[code];
  if (exact !== undefined) return exact;
  if (/^Throttling/.test(code)) return 400;
  if (/^Forbidden/.test(code)) return 403;
  if (/^InternalError/.test(code)) return 500;
  if (/^ServiceUnavailable/.test(code)) return 503;
  if (/\.NotFound$/.test(code)) return 404;
  return 400;
}

/** Default messages for codes a fault or `failVpcs` injects (the real API's wording where known). */
const DEFAULT_MESSAGES: Readonly<Record<string, string>> = {
  'Throttling.User': 'Request was denied due to user flow control.',
  ServiceUnavailable: 'The request has failed due to a temporary failure of the server.',
  InternalError: 'The request processing has failed due to some unknown error, exception or failure.',
  'Forbidden.RAM':
    'User not authorized to operate on the specified resource, or this API does not support RAM.',
};

export function defaultMessage(code: string): string {
  return DEFAULT_MESSAGES[code] ?? `The request has failed with ${code}.`;
}
