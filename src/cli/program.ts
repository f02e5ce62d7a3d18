/**
 * The command line: parses commands and flags (commander), validates them (the parsers and option
 * types are in options.ts), and hands typed options to the actions main.ts wires. No business
 * logic here. Usage errors print one line and exit 2.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { CHANNEL_NAMES } from '../alerts/index.js';
import { PACKAGE_ROOT } from '../package.js';
import {
  ALERT_STATUSES,
  type AlertsOptions,
  alertIdArg,
  collect,
  type DemoOptions,
  durationArg,
  durationText,
  type EventsOptions,
  type HistoryOptions,
  httpUrlArg,
  instanceArg,
  type LinksOptions,
  ROLES,
  type Role,
  rateArg,
  regionArg,
  rolesArg,
  type SimulateOptions,
  type SyncOnceOptions,
  timeArg,
  vpcArg,
  wholeNumberArg,
} from './options.js';

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
const EXIT_USAGE = 2;

/** `simulate`'s flags as commander names them: the options, under the flags' own names. */
type SimulateFlags = Omit<
  SimulateOptions,
  | 'world'
  | 'churn'
  | 'churnIntervalMs'
  | 'latencyMs'
  | 'qpsCap'
  | 'actionTrailDelayMs'
  | 'eventbridgeTarget'
  | 'eventbridgeToken'
  | 'eventbridgeDelayMs'
> & {
  eventbridgeDelay?: number;
  eventbridgeTarget?: string;
  eventbridgeToken?: string;
  world?: string;
  churn?: boolean;
  churnInterval: number;
  latency: number;
  qpsCap?: number;
  actiontrailDelay: number;
};

/** The package's version, from its package.json. */
function packageVersion(): string {
  const pkg: unknown = JSON.parse(readFileSync(new URL('package.json', PACKAGE_ROOT), 'utf8'));
  const version = typeof pkg === 'object' && pkg !== null && 'version' in pkg ? pkg.version : undefined;
  return typeof version === 'string' ? version : 'unknown';
}

const CONFIGURATION_HELP =
  '\nConfiguration comes from environment variables (DATABASE_URL, REDIS_URL, SYNC_REGIONS,\n' +
  'ALIBABA_CLOUD_ACCESS_KEY_ID, ...): .env.example lists every one with its default.\n';

/** The command line, with `actions` behind it. Exported for tests (the README's table of flags). */
export function buildProgram(actions: CliActions, io: CliIo, setCode: (code: number) => void): Command {
  const program = new Command('classiclink-sync')
    .description('Exact, auditable history of Alibaba Cloud ClassicLink links, with alerts on every change.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .addHelpText('afterAll', CONFIGURATION_HELP)
    .exitOverride();
  /** A usage error found after parsing: one line naming the command, exit 2. */
  const usage = (command: string, message: string): number => {
    io.stderr.write(`classiclink-sync ${command}: ${message}\n`);
    return EXIT_USAGE;
  };
  /** Was this option given on the command line (not its default)? */
  const given = (cmd: Command, option: string) => cmd.getOptionValueSource(option) === 'cli';
  const run =
    <T>(fn: (opts: T, cmd: Command) => Promise<number>) =>
    async (opts: T, cmd: Command) => {
      setCode(await fn(opts, cmd));
    };

  program
    .command('migrate')
    .description('create the database if needed and apply the SQL migrations')
    .action(run(() => actions.migrate()));

  program
    .command('start')
    .description('run the service: scheduler, workers, alert delivery and HTTP')
    .option(
      '--role <roles>',
      `run only these parts, a comma list or repeated (default: ${ROLES.join(',')})`,
      rolesArg,
    )
    .action(run((o: { role?: Role[] }) => actions.start({ roles: o.role ?? [...ROLES] })));

  program
    .command('sync')
    .description('sync every configured target once through the queues, wait, and report')
    .option('--once', 'required: sync once and exit (the long-running service is `start`)')
    .option('--region <region>', 'only this region (repeatable)', collect(regionArg))
    .option('--vpc <vpc-id>', 'only this VPC (repeatable)', collect(vpcArg))
    .option('--json', 'print the summary as JSON')
    .addOption(
      new Option(
        '--alert-wait <duration>',
        'deliver the alerts of these runs for at most this long before exiting',
      )
        .argParser(durationArg)
        .default(30_000, '30s'),
    )
    .action(
      run(
        async (o: {
          once?: boolean;
          region?: string[];
          vpc?: string[];
          json?: boolean;
          alertWait: number;
        }) => {
          if (!o.once) return usage('sync', '--once is required (the long-running service is `start`)');
          return actions.syncOnce({
            regions: o.region ?? [],
            vpcs: o.vpc ?? [],
            json: o.json === true,
            alertWaitMs: o.alertWait,
          });
        },
      ),
    );

  program
    .command('links')
    .description('the links now, or as they were at a point in time')
    .option('--region <region>', 'only this region (repeatable)', collect(regionArg))
    .option('--vpc <vpc-id>', 'only this VPC (repeatable)', collect(vpcArg))
    .option('--at <iso-time>', 'the links as they were at this time', timeArg)
    .option('--json', 'print JSON')
    .action(
      run((o: { region?: string[]; vpc?: string[]; at?: Date; json?: boolean }) =>
        actions.links({ regions: o.region ?? [], vpcs: o.vpc ?? [], at: o.at, json: o.json === true }),
      ),
    );

  program
    .command('events')
    .description('the change log: every link added or removed')
    .option('--since <iso-time>', 'only events detected at or after this time', timeArg)
    .option('--until <iso-time>', 'only events detected before this time', timeArg)
    .option('--region <region>', 'only this region (repeatable)', collect(regionArg))
    .option('--vpc <vpc-id>', 'only this VPC (repeatable)', collect(vpcArg))
    .option('--instance <instance-id>', 'only this instance (repeatable)', collect(instanceArg))
    .option(
      '--limit <n>',
      'show the newest this many events (listed oldest first)',
      wholeNumberArg(1, 1_000_000),
      1_000,
    )
    .option('--json', 'print JSON')
    .action(
      run(
        async (o: {
          since?: Date;
          until?: Date;
          region?: string[];
          vpc?: string[];
          instance?: string[];
          limit: number;
          json?: boolean;
        }) => {
          if (o.since && o.until && o.since.getTime() >= o.until.getTime()) {
            return usage('events', '--until must be later than --since');
          }
          return actions.events({
            since: o.since,
            until: o.until,
            regions: o.region ?? [],
            vpcs: o.vpc ?? [],
            instances: o.instance ?? [],
            limit: o.limit,
            json: o.json === true,
          });
        },
      ),
    );

  program
    .command('history')
    .description(
      'one timeline: every change of an instance (--instance) or of a VPC (--vpc), and where it stands now',
    )
    .option('--instance <instance-id>', 'the instance to follow', instanceArg)
    .option('--vpc <vpc-id>', 'the VPC to follow', vpcArg)
    .option('--region <region>', 'only this region (repeatable)', collect(regionArg))
    .option('--json', 'print JSON')
    .action(
      run(async (o: { instance?: string; vpc?: string; region?: string[]; json?: boolean }) => {
        if ((o.instance === undefined) === (o.vpc === undefined)) {
          return usage('history', 'give exactly one of --instance or --vpc');
        }
        return actions.history({
          instance: o.instance,
          vpc: o.vpc,
          regions: o.region ?? [],
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
    .option('--id <alert-id>', 'only this alert (repeatable)', collect(alertIdArg))
    .option('--limit <n>', 'at most this many alerts', wholeNumberArg(1, 100_000), 100)
    .option(
      '--requeue',
      'move the dead-lettered alerts (all, or those of --channel / --id) back to pending: the alerts role delivers them again, under the same ids',
    )
    .option('--json', 'print JSON')
    .action(
      run(
        async (
          o: {
            status?: AlertsOptions['status'];
            channel?: AlertsOptions['channel'];
            id?: string[];
            limit: number;
            requeue?: boolean;
            json?: boolean;
          },
          cmd,
        ) => {
          if (o.requeue === true && o.status !== undefined) {
            return usage(
              'alerts',
              o.status === 'dead'
                ? '--requeue always moves dead-lettered alerts: drop --status dead (narrow with --channel or --id)'
                : `--requeue only moves dead-lettered alerts, never ${o.status} ones: drop --status`,
            );
          }
          if (o.requeue === true && given(cmd, 'limit')) {
            return usage('alerts', '--requeue moves every dead-lettered alert that matches: drop --limit');
          }
          return actions.alerts({
            status: o.status,
            channel: o.channel,
            ids: o.id ?? [],
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
    .addOption(new Option('--host <host>', 'address to listen on').default('127.0.0.1', '127.0.0.1'))
    .addOption(
      new Option('--port <n>', 'port to listen on (0 = any free port)')
        .argParser(wholeNumberArg(0, 65535))
        .default(9080),
    )
    .addOption(
      new Option('--seed <n>', 'seed of the generated world and faults')
        .argParser(wholeNumberArg(0, 2 ** 31))
        .default(1),
    )
    .addOption(
      new Option('--regions <list>', 'comma list of regions to generate')
        .argParser((v: string) => v.split(',').map((r) => regionArg(r.trim())))
        .default(['cn-hangzhou', 'cn-beijing'], 'cn-hangzhou,cn-beijing'),
    )
    .addOption(new Option('--vpcs <n>', 'VPCs per region').argParser(wholeNumberArg(0, 100_000)).default(3))
    .addOption(new Option('--links <n>', 'links per VPC').argParser(wholeNumberArg(0, 1_000)).default(5))
    .addOption(
      new Option('--unlinked <n>', 'unlinked classic instances per region')
        .argParser(wholeNumberArg(0, 1_000_000))
        .default(10),
    )
    .option('--world <file>', 'load the world from a JSON file instead of generating it')
    .option('--churn', 'attach and detach links by themselves every --churn-interval')
    .addOption(
      new Option('--churn-interval <duration>', 'how often the world changes (with --churn)')
        .argParser(durationArg)
        .default(4_000, durationText(4_000)),
    )
    .addOption(
      new Option('--latency <ms>', 'added to every answer').argParser(wholeNumberArg(0, 600_000)).default(0),
    )
    .addOption(
      new Option('--throttle-rate <p>', 'probability of Throttling.User').argParser(rateArg).default(0),
    )
    .addOption(
      new Option('--error-rate <p>', 'probability of 503 ServiceUnavailable').argParser(rateArg).default(0),
    )
    .addOption(
      new Option('--qps-cap <n>', 'per-key calls per second before Throttling.User').argParser(
        wholeNumberArg(1, 1_000_000),
      ),
    )
    .addOption(
      new Option('--actiontrail-delay <duration>', 'how long a call takes to show in LookupEvents')
        .argParser(durationArg)
        .default(1_000, durationText(1_000)),
    )
    .addOption(
      new Option(
        '--eventbridge-target <url>',
        'push each ActionTrail record, once visible, to this HTTP target (CloudEvents, like EventBridge)',
      ).argParser(httpUrlArg),
    )
    .option('--eventbridge-token <token>', "the target's token (with --eventbridge-target)")
    .addOption(
      new Option('--eventbridge-auth <how>', 'send the token as a bearer token or as the Basic password')
        .choices(['bearer', 'basic'])
        .default('bearer', 'bearer'),
    )
    .addOption(
      new Option(
        '--eventbridge-delay <duration>',
        'push a record this long after its call (default: once visible, --actiontrail-delay)',
      ).argParser(durationArg),
    )
    .action(
      run(async (o: SimulateFlags, cmd) => {
        if (o.churn !== true && given(cmd, 'churnInterval')) {
          return usage('simulate', '--churn-interval needs --churn (the world changes only with --churn)');
        }
        if (
          o.eventbridgeTarget === undefined &&
          (o.eventbridgeToken !== undefined ||
            given(cmd, 'eventbridgeAuth') ||
            o.eventbridgeDelay !== undefined)
        ) {
          return usage(
            'simulate',
            '--eventbridge-token, --eventbridge-auth and --eventbridge-delay need --eventbridge-target',
          );
        }
        const { churn, churnInterval, latency, actiontrailDelay, eventbridgeDelay, ...rest } = o;
        return actions.simulate({
          ...rest,
          world: o.world,
          qpsCap: o.qpsCap,
          churn: churn === true,
          churnIntervalMs: churnInterval,
          latencyMs: latency,
          actionTrailDelayMs: actiontrailDelay,
          eventbridgeTarget: o.eventbridgeTarget,
          eventbridgeToken: o.eventbridgeToken,
          eventbridgeDelayMs: eventbridgeDelay,
        });
      }),
    );

  program
    .command('demo')
    .description('run the simulator with a changing world and the service against it, printing each change')
    .addOption(
      new Option('--duration <duration>', 'stop after this long (default: until Ctrl-C)').argParser(
        durationArg,
      ),
    )
    .addOption(
      new Option('--interval <duration>', 'sync interval')
        .argParser(durationArg)
        .default(5_000, durationText(5_000)),
    )
    .option(
      '--embedded',
      'run on an embedded Postgres started for the demo and removed at exit (the default when DATABASE_URL is not set and nothing answers at 127.0.0.1:5432)',
    )
    .action(
      run((o: { duration?: number; interval: number; embedded?: boolean }) =>
        actions.demo({ durationMs: o.duration, intervalMs: o.interval, embedded: o.embedded === true }),
      ),
    );

  // Usage errors are one line, named after the command: "classiclink-sync links: unknown option
  // '--frob' (see classiclink-sync links --help)" instead of commander's "error: …" plus a hint line.
  for (const cmd of [program, ...program.commands]) {
    const name = cmd === program ? 'classiclink-sync' : `classiclink-sync ${cmd.name()}`;
    cmd.configureOutput({
      outputError: (text, write) =>
        write(`${name}: ${text.trim().replace(/^error: /, '')} (see ${name} --help)\n`),
    });
  }
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
