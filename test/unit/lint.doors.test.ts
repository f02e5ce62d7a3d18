/**
 * The doors of STYLE.md are held by lint (biome.json's noRestrictedImports overrides): a room is
 * imported only through its index.js, and bullmq, pg / drizzle-orm and undici only in the rooms
 * allowed them. Each case lints a small file placed in a scratch tree under the repository's own
 * biome.json, and reads Biome's JSON report.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIOME = path.join(ROOT, 'node_modules', '.bin', 'biome');

interface Diagnostic {
  category: string;
  message: string;
  location: { path: string };
}

/** Lints `files` (path under the scratch root → source) and returns the restricted-import messages. */
async function restricted(files: Record<string, string>): Promise<string[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'doors-'));
  try {
    await copyFile(path.join(ROOT, 'biome.json'), path.join(dir, 'biome.json'));
    for (const [file, text] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
      await writeFile(path.join(dir, file), text);
    }
    const out = await new Promise<string>((resolve) => {
      execFile(
        BIOME,
        ['lint', '--vcs-enabled=false', '--reporter=json', 'src'],
        { cwd: dir },
        (_err, stdout) => resolve(stdout),
      );
    });
    const report = JSON.parse(out) as { diagnostics: Diagnostic[] };
    return report.diagnostics
      .filter((d) => d.category === 'lint/style/noRestrictedImports')
      .map((d) => `${d.location.path}: ${d.message}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const ROOMS = {
  'src/store/index.ts': "export { applyScan } from './apply-scan.js';\n",
  'src/store/apply-scan.ts': 'export const applyScan = 1;\n',
  'src/sync/source.ts': 'export const source = 1;\n',
  'src/alerts/render.ts': 'export const render = 1;\n',
};

describe('lint holds the doors', () => {
  it('a room imported through its door, and a file of the same room, pass', async () => {
    expect(
      await restricted({
        ...ROOMS,
        'src/sync/scan.ts':
          "import { applyScan } from '../store/index.js';\nimport { source } from './source.js';\nexport const q = [applyScan, source];\n",
        'src/alerts/channels/chat.ts': "import { render } from '../render.js';\nexport const q = render;\n",
        'src/main.ts': "import { applyScan } from './store/index.js';\nexport const q = applyScan;\n",
      }),
    ).toEqual([]);
  });

  it("another room's file is refused, from a room, a room's subfolder and the kernel", async () => {
    const found = await restricted({
      ...ROOMS,
      'src/sync/scan.ts':
        "import { applyScan } from '../store/apply-scan.js';\nexport const q = applyScan;\n",
      'src/alerts/channels/chat.ts':
        "import { applyScan } from '../../store/apply-scan.js';\nexport const q = applyScan;\n",
      'src/main.ts': "import { applyScan } from './store/apply-scan.js';\nexport const q = applyScan;\n",
      'src/console/data.ts':
        "import { applyScan } from '../store/apply-scan.js';\nexport const q = applyScan;\n",
    });
    expect(found.sort()).toEqual([
      'src/alerts/channels/chat.ts: import another room of src/ through its door (index.js), never its files (STYLE.md)',
      'src/console/data.ts: import another room of src/ through its door (index.js), never its files (STYLE.md)',
      'src/main.ts: import another room of src/ through its door (index.js), never its files (STYLE.md)',
      'src/sync/scan.ts: import another room of src/ through its door (index.js), never its files (STYLE.md)',
    ]);
  });

  it('bullmq, pg, drizzle-orm and undici only in the rooms allowed them', async () => {
    const found = await restricted({
      'src/sync/a.ts':
        "import { Queue } from 'bullmq';\nimport pg from 'pg';\nimport { eq } from 'drizzle-orm';\nimport { sql } from 'drizzle-orm/pg-core';\nimport { Agent } from 'undici';\nexport const q = [Queue, pg, eq, sql, Agent];\n",
      // The queue room opens the queue database (QUEUE_BACKEND=postgres): pg, but not drizzle-orm.
      'src/queue/a.ts':
        "import { Queue } from 'bullmq';\nimport pg from 'pg';\nimport { eq } from 'drizzle-orm';\nexport const q = [Queue, pg, eq];\n",
      'src/store/a.ts':
        "import pg from 'pg';\nimport { eq } from 'drizzle-orm';\nimport { sql } from 'drizzle-orm/pg-core';\nexport const q = [pg, eq, sql];\n",
      'src/alerts/a.ts': "import { Agent } from 'undici';\nexport const q = Agent;\n",
      'src/service.ts': "import pg from 'pg';\nexport const q = pg;\n",
      'src/console/a.ts': "import { eq } from 'drizzle-orm';\nexport const q = eq;\n",
    });
    expect(found.sort()).toEqual([
      'src/console/a.ts: only src/store/ may import drizzle-orm (STYLE.md: rooms and doors)',
      'src/queue/a.ts: only src/store/ may import drizzle-orm (STYLE.md: rooms and doors)',
      'src/service.ts: only src/store/ and src/queue/ (the queue database) may import pg (STYLE.md: rooms and doors)',
      'src/sync/a.ts: only src/aliyun/, src/credentials/, src/alerts/, src/simulator/ may import undici (STYLE.md: rooms and doors)',
      'src/sync/a.ts: only src/queue/ may import bullmq (STYLE.md: rooms and doors)',
      'src/sync/a.ts: only src/store/ and src/queue/ (the queue database) may import pg (STYLE.md: rooms and doors)',
      'src/sync/a.ts: only src/store/ may import drizzle-orm (STYLE.md: rooms and doors)',
      'src/sync/a.ts: only src/store/ may import drizzle-orm (STYLE.md: rooms and doors)',
    ]);
  });
});
