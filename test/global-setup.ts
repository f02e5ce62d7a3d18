/**
 * Vitest global setup: checks that the machine's Postgres and Redis answer, and says exactly how
 * to start them if not. (The store work extends this with the migrated template database.)
 */
import net from 'node:net';

const PG_START = 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start';
const REDIS_START =
  'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log';

function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export default async function setup(): Promise<void> {
  if (!(await reachable(5432)))
    throw new Error(`Postgres is not reachable on 127.0.0.1:5432; start it with: ${PG_START}`);
  if (!(await reachable(6379)))
    throw new Error(`Redis is not reachable on 127.0.0.1:6379; start it with: ${REDIS_START}`);
}
