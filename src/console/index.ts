/**
 * The door of src/console/: the built-in read-only web console (server-rendered pages, their JSON
 * twins under `/v1`, and the browser's files), registered on the HTTP server by src/http/.
 */
export { CONSOLE_CSP, CONSOLE_ENDPOINTS, type ConsoleOptions, registerConsole } from './routes.js';
