/**
 * The command line: parses commands and flags (commander), validates them, and hands typed options
 * to the actions main.ts wires. No business logic here. Usage errors print one line and exit 2.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { CHANNEL_NAMES } from './channels/types.js';
import { parseDuration } from './config.js';

export const ROLES = ['scheduler', 'worker', 'alerts', 'http'] as const;
export type Role = (typeof ROLES)[number];

export interface SyncOnceOptions {
  regions: string[];
  vpcs: string[];
  json: boolean;
  /** How long to keep delivering this run's alerts before exiting. */
  alertWaitMs: number;
}
export interface LinksOptions {
  regions: string[];
  vpcs: string[];
  at: Date | undefined;
  json: boolean;
}
export interface EventsOptions {
  since: Date | undefined;
  until: Date | undefined;
  regions: string[];
  vpcs: string[];
  instances: string[];
  limit: number;
  json: boolean;
}
export interface HistoryOptions {
  instance: string | undefined;
  vpc: string | undefined;
  regions: string[];
  json: boolean;
}
/** alert_outbox states, as `alerts --status` takes them. */
export const ALERT_STATUSES = ['pending', 'delivering', 'delivered', 'dead'] as const;
export interface AlertsOptions {
  status: (typeof ALERT_STATUSES)[number] | undefined;
  channel: string | undefined;
  ids: string[];
  limit: number;
  /** Move the matching dead-lettered alerts back to pending instead of listing. */
  requeue: boolean;
  json: boolean;
}
export interface SimulateOptions {
  host: string;
  port: number;
  seed: number;
  regions: string[];
  vpcs: number;
  links: number;
  unlinked: number;
  world: string | undefined;
  churn: boolean;
  churnIntervalMs: number;
  latencyMs: number;
  throttleRate: number;
  errorRate: number;
  qpsCap: number | undefined;
}
export interface DemoOptions {
  durationMs: number | undefined;
  intervalMs: number;
}

/** What each command does; main.ts provides them. Each resolves to the process exit code. */
export interface CliActions {
  migrate(): Promise<number>;
  start(opts: { roles: Role[] }): Promise<number>;
  syncOnce(opts: SyncOnceOptions): Promise<number>;
  links(opts: LinksOptions): Promise<number>;
  events(opts: EventsOptions): Promise<number>;
  history(opts: HistoryOptions): Promise<number>;
  status(opts: { json: boolean }): Promise<number>;
  alerts(opts: AlertsOptions): Promise<number>;
  simulate(opts: SimulateOptions): Promise<number>;
  demo(opts: DemoOptions): Promise<number>;
}

export interface CliIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

/** Exit code of a usage error (bad command, flag or value). */
export const EXIT_USAGE = 2;

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function isoTime(value: string): Date {
  // Require a date and an explicit zone or a bare date, so "yesterday" or "12:00" never guess.
  const ok = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2}))?$/.test(value);
  const d = new Date(value);
  if (!ok || Number.isNaN(d.getTime())) {
    throw new InvalidArgumentError(
      'expected an ISO-8601 time like 2026-01-31T12:00:00Z or a date like 2026-01-31',
    );
  }
  return d;
}

function wholeNumber(min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    }
    return Number(value);
  };
}

function rate(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || Number.isNaN(n) || n < 0 || n > 1) {
    throw new InvalidArgumentError('expected a probability from 0 to 1');
  }
  return n;
}

function durationMs(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new InvalidArgumentError('expected a duration like 500ms, 10s, 5m or 1h');
  return ms;
}

function regionId(value: string): string {
  if (!/^[a-z]{2,}(-[a-z0-9]+)+$/.test(value))
    throw new InvalidArgumentError('expected a region id like cn-hangzhou');
  return value;
}

function vpcId(value: string): string {
  if (!/^vpc-[a-z0-9]+$/.test(value)) throw new InvalidArgumentError('expected a VPC id like vpc-bp1abc');
  return value;
}

function instanceId(value: string): string {
  if (!/^i-[a-z0-9]+$/.test(value)) throw new InvalidArgumentError('expected an instance id like i-bp1abc');
  return value;
}

function alertId(value: string): string {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value))
    throw new InvalidArgumentError('expected an alert id (a UUID, as in alert_outbox.id and webhook-id)');
  return value.toLowerCase();
}

function role(value: string, previous: Role[] | undefined): Role[] {
  const list = value.split(',').map((r) => r.trim());
  for (const r of list) {
    if (!(ROLES as readonly string[]).includes(r)) {
      throw new InvalidArgumentError(`expected one or more of ${ROLES.join(', ')}`);
    }
  }
  return [...new Set([...(previous ?? []), ...(list as Role[])])];
}

function buildProgram(actions: CliActions, io: CliIo, setCode: (code: number) => void): Command {
  const program = new Command('classiclink-sync')
    .description('Exact, auditable history of Alibaba Cloud ClassicLink links, with alerts on every change.')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .exitOverride();
  /** A usage error found after parsing: one line naming the command, exit 2. */
  const usage = (command: string, message: string): number => {
    io.stderr.write(`classiclink-sync ${command}: ${message}\n`);
    return EXIT_USAGE;
  };
  const run =
    <T>(fn: (opts: T) => Promise<number>) =>
    async (opts: T) => {
      setCode(await fn(opts));
    };

  program
    .command('migrate')
    .description('create the database if needed and apply the SQL migrations')
    .action(run(() => actions.migrate()));

  program
    .command('start')
    .description('run the service: scheduler, workers, alert delivery and HTTP')
    .option('--role <roles>', `run only these parts (comma list or repeated: ${ROLES.join(', ')})`, role)
    .action(run((o: { role?: Role[] }) => actions.start({ roles: o.role ?? [...ROLES] })));

  program
    .command('sync')
    .description('sync every configured target once through the queues, wait, and report')
    .option('--once', 'required: sync once and exit (the long-running service is `start`)')
    .option(
      '--region <region>',
      'only this region (repeatable)',
      (v, p: string[]) => collect(regionId(v), p),
      [],
    )
    .option('--vpc <vpc-id>', 'only this VPC (repeatable)', (v, p: string[]) => collect(vpcId(v), p), [])
    .option('--json', 'print the summary as JSON')
    .addOption(
      new Option(
        '--alert-wait <duration>',
        'deliver the alerts of these runs for at most this long before exiting',
      )
        .argParser(durationMs)
        .default(30_000, '30s'),
    )
    .action(
      run(
        async (o: { once?: boolean; region: string[]; vpc: string[]; json?: boolean; alertWait: number }) => {
          if (!o.once) return usage('sync', '--once is required (the long-running service is `start`)');
          return actions.syncOnce({
            regions: o.region,
            vpcs: o.vpc,
            json: o.json === true,
            alertWaitMs: o.alertWait,
          });
        },
      ),
    );

  program
    .command('links')
    .description('the links now, or as they were at a point in time')
    .option(
      '--region <region>',
      'only this region (repeatable)',
      (v, p: string[]) => collect(regionId(v), p),
      [],
    )
    .option('--vpc <vpc-id>', 'only this VPC (repeatable)', (v, p: string[]) => collect(vpcId(v), p), [])
    .option('--at <iso-time>', 'the links as they were at this time', isoTime)
    .option('--json', 'print JSON')
    .action(
      run((o: { region: string[]; vpc: string[]; at?: Date; json?: boolean }) =>
        actions.links({ regions: o.region, vpcs: o.vpc, at: o.at, json: o.json === true }),
      ),
    );

  program
    .command('events')
    .description('the change log: every link added or removed')
    .option('--since <iso-time>', 'only events detected at or after this time', isoTime)
    .option('--until <iso-time>', 'only events detected before this time', isoTime)
    .option(
      '--region <region>',
      'only this region (repeatable)',
      (v, p: string[]) => collect(regionId(v), p),
      [],
    )
    .option('--vpc <vpc-id>', 'only this VPC (repeatable)', (v, p: string[]) => collect(vpcId(v), p), [])
    .option(
      '--instance <instance-id>',
      'only this instance (repeatable)',
      (v, p: string[]) => collect(instanceId(v), p),
      [],
    )
    .option('--limit <n>', 'at most this many events (newest last)', wholeNumber(1, 1_000_000), 1_000)
    .option('--json', 'print JSON')
    .action(
      run(
        (o: {
          since?: Date;
          until?: Date;
          region: string[];
          vpc: string[];
          instance: string[];
          limit: number;
          json?: boolean;
        }) =>
          actions.events({
            since: o.since,
            until: o.until,
            regions: o.region,
            vpcs: o.vpc,
            instances: o.instance,
            limit: o.limit,
            json: o.json === true,
          }),
      ),
    );

  program
    .command('history')
    .description(
      'one timeline: every change of an instance (--instance) or of a VPC (--vpc), and where it stands now',
    )
    .option('--instance <instance-id>', 'the instance to follow', instanceId)
    .option('--vpc <vpc-id>', 'the VPC to follow', vpcId)
    .option(
      '--region <region>',
      'only this region (repeatable)',
      (v, p: string[]) => collect(regionId(v), p),
      [],
    )
    .option('--json', 'print JSON')
    .action(
      run(async (o: { instance?: string; vpc?: string; region: string[]; json?: boolean }) => {
        if ((o.instance === undefined) === (o.vpc === undefined)) {
          return usage('history', 'give exactly one of --instance or --vpc');
        }
        return actions.history({
          instance: o.instance,
          vpc: o.vpc,
          regions: o.region,
          json: o.json === true,
        });
      }),
    );

  program
    .command('status')
    .description('per target: last success, last failure and its error, consecutive failures, staleness')
    .option('--json', 'print JSON')
    .action(run((o: { json?: boolean }) => actions.status({ json: o.json === true })));

  program
    .command('alerts')
    .description(
      'the alert outbox, newest first: what was delivered, what waits, what was dead-lettered; --requeue delivers dead-lettered alerts again',
    )
    .addOption(new Option('--status <status>', 'only alerts in this state').choices(ALERT_STATUSES))
    .addOption(new Option('--channel <name>', 'only this channel').choices(CHANNEL_NAMES))
    .option('--id <alert-id>', 'only this alert (repeatable)', (v, p: string[]) => collect(alertId(v), p), [])
    .option('--limit <n>', 'at most this many alerts', wholeNumber(1, 100_000), 100)
    .option(
      '--requeue',
      'move the dead-lettered alerts (all, or those of --channel / --id) back to pending: the alerts role delivers them again, under the same ids',
    )
    .option('--json', 'print JSON')
    .action(
      run(
        async (o: {
          status?: AlertsOptions['status'];
          channel?: string;
          id: string[];
          limit: number;
          requeue?: boolean;
          json?: boolean;
        }) => {
          if (o.requeue === true && o.status !== undefined && o.status !== 'dead') {
            return usage('alerts', '--requeue only moves dead-lettered alerts (--status dead)');
          }
          return actions.alerts({
            status: o.status,
            channel: o.channel,
            ids: o.id,
            limit: o.limit,
            requeue: o.requeue === true,
            json: o.json === true,
          });
        },
      ),
    );

  program
    .command('simulate')
    .description('run the built-in ECS/VPC API simulator (tests, demo, benchmarks, dry runs)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .addOption(
      new Option('--port <n>', 'port to listen on (0 = any free port)')
        .argParser(wholeNumber(0, 65535))
        .default(9080),
    )
    .addOption(
      new Option('--seed <n>', 'seed of the generated world and faults')
        .argParser(wholeNumber(0, 2 ** 31))
        .default(1),
    )
    .option(
      '--regions <list>',
      'comma list of regions to generate',
      (v: string) => v.split(',').map((r) => regionId(r.trim())),
      ['cn-hangzhou', 'cn-beijing'],
    )
    .addOption(new Option('--vpcs <n>', 'VPCs per region').argParser(wholeNumber(0, 100_000)).default(3))
    .addOption(new Option('--links <n>', 'links per VPC').argParser(wholeNumber(0, 1_000)).default(5))
    .addOption(
      new Option('--unlinked <n>', 'unlinked classic instances per region')
        .argParser(wholeNumber(0, 1_000_000))
        .default(10),
    )
    .option('--world <file>', 'load the world from a JSON file instead of generating it')
    .option('--churn', 'attach and detach links by themselves every --churn-interval')
    .addOption(
      new Option('--churn-interval <duration>', 'how often the world changes')
        .argParser(durationMs)
        .default(4_000),
    )
    .addOption(
      new Option('--latency <ms>', 'added to every answer').argParser(wholeNumber(0, 600_000)).default(0),
    )
    .addOption(new Option('--throttle-rate <p>', 'probability of Throttling.User').argParser(rate).default(0))
    .addOption(
      new Option('--error-rate <p>', 'probability of 503 ServiceUnavailable').argParser(rate).default(0),
    )
    .addOption(
      new Option('--qps-cap <n>', 'per-key calls per second before Throttling.User').argParser(
        wholeNumber(1, 1_000_000),
      ),
    )
    .action(
      run(
        (o: {
          host: string;
          port: number;
          seed: number;
          regions: string[];
          vpcs: number;
          links: number;
          unlinked: number;
          world?: string;
          churn?: boolean;
          churnInterval: number;
          latency: number;
          throttleRate: number;
          errorRate: number;
          qpsCap?: number;
        }) =>
          actions.simulate({
            host: o.host,
            port: o.port,
            seed: o.seed,
            regions: o.regions,
            vpcs: o.vpcs,
            links: o.links,
            unlinked: o.unlinked,
            world: o.world,
            churn: o.churn === true,
            churnIntervalMs: o.churnInterval,
            latencyMs: o.latency,
            throttleRate: o.throttleRate,
            errorRate: o.errorRate,
            qpsCap: o.qpsCap,
          }),
      ),
    );

  program
    .command('demo')
    .description('run the simulator with a changing world and the service against it, printing each change')
    .addOption(
      new Option('--duration <duration>', 'stop after this long (default: until Ctrl-C)').argParser(
        durationMs,
      ),
    )
    .addOption(new Option('--interval <duration>', 'sync interval').argParser(durationMs).default(5_000))
    .action(
      run((o: { duration?: number; interval: number }) =>
        actions.demo({ durationMs: o.duration, intervalMs: o.interval }),
      ),
    );

  return program;
}

/** Parses `argv` (without node and script) and runs the chosen action; resolves to the exit code. */
export async function runCli(argv: readonly string[], actions: CliActions, io: CliIo): Promise<number> {
  let code = 0;
  const program = buildProgram(actions, io, (c) => {
    code = c;
  });
  if (argv.length === 0) {
    program.outputHelp();
    return EXIT_USAGE;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version are not errors; everything else commander refuses is a usage error.
      return err.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    throw err;
  }
}
