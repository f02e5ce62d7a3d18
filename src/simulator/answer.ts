/** The shapes of what the server sends back, and the real API's error body. */
import { randomUUID } from 'node:crypto';
import type { SimApiError } from './api-error.js';

export interface Answer {
  status: number;
  text: string;
  contentType: string;
  headers: Record<string, string>;
  requestId: string;
  /** Error `Code`, when the answer is an error. */
  code?: string;
  /** The injected fault that shaped the answer, if any. */
  fault?: string;
  /** Destroy the socket instead of answering. */
  reset?: boolean;
}

export const JSON_CONTENT_TYPE = 'application/json;charset=utf-8';

/** Alibaba RequestIds are uppercase UUIDs. They are random: nothing depends on them. */
export function newRequestId(): string {
  return randomUUID().toUpperCase();
}

export function jsonAnswer(status: number, body: Record<string, unknown>, requestId: string): Answer {
  return { status, text: JSON.stringify(body), contentType: JSON_CONTENT_TYPE, headers: {}, requestId };
}

/** `{"RequestId","HostId","Code","Message","Recommend"}`, as ECS and VPC answer errors. */
export function errorAnswer(err: SimApiError, requestId: string, hostId: string, product: string): Answer {
  const body = {
    RequestId: requestId,
    HostId: hostId,
    Code: err.code,
    Message: err.message,
    Recommend: `https://api.aliyun.com/troubleshoot?q=${encodeURIComponent(err.code)}&product=${product}&requestId=${requestId}`,
    ...err.details,
  };
  return { ...jsonAnswer(err.status, body, requestId), code: err.code };
}
