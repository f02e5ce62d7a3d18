/**
 * drizzle-kit configuration: `npm run generate` (= `drizzle-kit generate`) writes numbered SQL
 * migrations into `migrations/` from `src/store/schema.ts`. Released migrations are never edited.
 */
import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './src/store/schema.ts',
  out: './migrations',
  // Only `drizzle-kit studio|check|push` connect; `generate` does not need a database.
  dbCredentials: { url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' },
  strict: true,
  verbose: true,
});
