/**
 * Page-fetch throughput of our undici client against the official SDK (`@alicloud/ecs20140526`,
 * configured as in test/integration/simulator.protocol.test.ts), both V3-signed, at equal
 * concurrency against one simulator in a child process with 0 ms latency, with the CPU time this
 * process spent per call (process.cpuUsage: the client's own cost; the server runs elsewhere).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Ecs, { DescribeClassicLinkInstancesRequest } from '@alicloud/ecs20140526';
import { $OpenApiUtil } from '@alicloud/openapi-core';
import { createEcsClient } from '../src/aliyun/client.js';
import { staticCredentialsProvider } from '../src/credentials/index.js';
import type { SimulatorKey } from '../src/simulator/index.js';
import { ROOT, silent } from './lib.js';

type SdkClient = typeof Ecs.default;
// CommonJS with `exports.default = Client`: Node's ESM loader may hand us `module.exports`.
const SdkClient: SdkClient =
  typeof (Ecs as unknown) === 'function' ? (Ecs as unknown as SdkClient) : Ecs.default;

export interface ClientFigures {
  calls: number;
  concurrency: number;
  wallMs: number;
  callsPerSec: number;
  cpuUsPerCall: number;
}

interface SimInfo {
  url: string;
  key: SimulatorKey;
  regionId: string;
  vpcIds: string[];
}

async function startSimChild(): Promise<{ info: SimInfo; stop(): Promise<void> }> {
  const opts = { seed: 11, regions: ['cn-hangzhou'], vpcsPerRegion: 20, linksPerVpc: 100 };
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'bench/sim-child.ts'), JSON.stringify(opts)],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const info = await new Promise<SimInfo>((resolve, reject) => {
    let buf = '';
    proc.stdout?.setEncoding('utf8').on('data', (s: string) => {
      buf += s;
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)) as SimInfo);
    });
    proc.once('exit', (code) => reject(new Error(`simulator child exited (${code})`)));
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return {
    info,
    async stop() {
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

async function measure(
  calls: number,
  concurrency: number,
  one: (i: number) => Promise<number>,
): Promise<ClientFigures> {
  let next = 0;
  let links = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < calls) {
        const i = next++;
        const n = await one(i);
        links += n;
      }
    }),
  );
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  if (links !== calls * 100) throw new Error(`expected ${calls * 100} links, read ${links}`);
  return {
    calls,
    concurrency,
    wallMs,
    callsPerSec: (calls / wallMs) * 1000,
    cpuUsPerCall: (cpu.user + cpu.system) / calls,
  };
}

export async function compareClients(
  calls: number,
  concurrency: number,
): Promise<{ ours: ClientFigures; sdk: ClientFigures }> {
  const sim = await startSimChild();
  const { url, key, regionId, vpcIds } = sim.info;
  const vpc = (i: number) => vpcIds[i % vpcIds.length] as string;
  const ours = createEcsClient({
    credentials: staticCredentialsProvider(key),
    signature: 'v3',
    ecsEndpoint: url,
    vpcEndpoint: url,
    timeoutMs: 10_000,
    retryDeadlineMs: 0,
    log: silent,
  });
  const sdk = new SdkClient(
    new $OpenApiUtil.Config({
      accessKeyId: key.accessKeyId,
      accessKeySecret: key.accessKeySecret,
      endpoint: new URL(url).host,
      protocol: 'http',
      regionId,
    }),
  );
  const oursOne = async (i: number) =>
    (await ours.describeClassicLinkInstances({ regionId, vpcId: vpc(i), pageSize: 100 })).links.length;
  const sdkOne = async (i: number) => {
    const res = await sdk.describeClassicLinkInstances(
      new DescribeClassicLinkInstancesRequest({ regionId, vpcId: vpc(i), pageSize: '100' }),
    );
    return res.body?.links?.link?.length ?? 0;
  };
  try {
    // Warm both (JIT, sockets), then measure each twice, alternating; keep each one's better run.
    await measure(Math.min(500, calls), concurrency, oursOne);
    await measure(Math.min(500, calls), concurrency, sdkOne);
    const runs: { ours: ClientFigures[]; sdk: ClientFigures[] } = { ours: [], sdk: [] };
    for (let i = 0; i < 2; i++) {
      runs.ours.push(await measure(calls, concurrency, oursOne));
      runs.sdk.push(await measure(calls, concurrency, sdkOne));
    }
    const best = (xs: ClientFigures[]) => xs.reduce((a, b) => (b.callsPerSec > a.callsPerSec ? b : a));
    return { ours: best(runs.ours), sdk: best(runs.sdk) };
  } finally {
    await ours.close();
    await sim.stop();
  }
}
