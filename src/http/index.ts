/**
 * The door of src/http/: the HTTP face of the service (health, readiness, metrics, the read API).
 * main.ts imports it lazily, so a process without the `http` role never loads fastify.
 */
export { HOOK_PATH, type HookReceipt, type HookRecord } from './hooks.js';
export { createHttpServer } from './server.js';
