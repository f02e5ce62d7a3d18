/** Parameter reading with the real API's errors (`MissingParameter`, `InvalidParameter`). */
import { SimApiError } from './api-error.js';
import { missing } from './auth.js';

export type Params = Readonly<Record<string, string>>;

export function requiredParam(params: Params, name: string): string {
  const v = params[name];
  if (v === undefined || v.trim() === '') throw missing(name);
  return v.trim();
}

export function optionalParam(params: Params, name: string): string | undefined {
  const v = params[name]?.trim();
  return v === undefined || v === '' ? undefined : v;
}

export function invalid(name: string, detail = ''): SimApiError {
  return new SimApiError('InvalidParameter', `The specified parameter "${name}" is not valid.${detail}`);
}

/** An integer parameter in [min, max], `fallback` when absent. */
export function intParam(params: Params, name: string, fallback: number, min: number, max: number): number {
  const raw = optionalParam(params, name);
  if (raw === undefined) return fallback;
  if (!/^-?\d+$/.test(raw)) throw invalid(name);
  const n = Number(raw);
  if (n < min || n > max) throw invalid(name, ` Valid values: ${min} to ${max}.`);
  return n;
}

/** A comma-separated id list (spaces around commas tolerated, as the doc example has them). */
export function listParam(params: Params, name: string, max: number): string[] | undefined {
  const raw = optionalParam(params, name);
  if (raw === undefined) return undefined;
  const ids = [
    ...new Set(
      raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    ),
  ];
  if (ids.length > max) throw invalid(name, ` At most ${max} values may be specified.`);
  return ids;
}

/** `true` / `false` (any case), undefined when absent. */
export function boolParam(params: Params, name: string): boolean | undefined {
  const raw = optionalParam(params, name)?.toLowerCase();
  if (raw === undefined) return undefined;
  if (raw !== 'true' && raw !== 'false') throw invalid(name, ' Valid values: true, false.');
  return raw === 'true';
}

/** A JSON array of strings (`InstanceIds`, `InnerIpAddresses`) of at most `max` items, deduplicated. */
export function jsonListParam(params: Params, name: string, max: number): string[] | undefined {
  const raw = optionalParam(params, name);
  if (raw === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw invalid(name, ' It must be a JSON array of strings.');
  }
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string')) {
    throw invalid(name, ' It must be a JSON array of strings.');
  }
  const ids = [...new Set(value)];
  if (ids.length > max) throw invalid(name, ` At most ${max} values may be specified.`);
  return ids;
}

/**
 * Repeated parameters `<prefix>.N[.<field>]`, ordered by N (the SDKs flatten arrays from 1):
 * `indexed(p, 'InstanceId')` reads `InstanceId.1`, `InstanceId.2`…; with fields, `Tag.N.Key`…
 */
export function indexedParams(params: Params, prefix: string): { n: number; value: string }[];
export function indexedParams(
  params: Params,
  prefix: string,
  fields: readonly string[],
): { n: number; values: Record<string, string> }[];
export function indexedParams(
  params: Params,
  prefix: string,
  fields?: readonly string[],
): { n: number; value: string }[] | { n: number; values: Record<string, string> }[] {
  const re = new RegExp(`^${prefix.replace(/\./g, '\\.')}\\.(\\d+)(?:\\.(\\w+))?$`);
  const byN = new Map<number, Record<string, string>>();
  for (const [k, v] of Object.entries(params)) {
    const m = re.exec(k);
    if (!m) continue;
    const n = Number(m[1]);
    const field = m[2] ?? '';
    if (fields ? !fields.includes(field) : field !== '') continue;
    const slot = byN.get(n) ?? {};
    slot[field] = v;
    byN.set(n, slot);
  }
  const sorted = [...byN.entries()].sort((a, b) => a[0] - b[0]);
  if (!fields) return sorted.map(([n, slot]) => ({ n, value: slot[''] ?? '' }));
  return sorted.map(([n, values]) => ({ n, values }));
}
