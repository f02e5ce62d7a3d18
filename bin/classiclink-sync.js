#!/usr/bin/env node
// The installed entry point: runs the compiled composition root (npm ci builds it via `prepare`).
import('../dist/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/main.js')) {
    console.error('classiclink-sync: not built yet; run `npm run build` (npm ci does it for you)');
  } else {
    console.error(`classiclink-sync: ${err?.stack ? err.stack : err}`);
  }
  process.exit(1);
});
