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
