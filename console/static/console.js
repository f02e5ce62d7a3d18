// classiclink-sync console: the burn-down chart (uPlot, served by this server) and a small poll that
// reloads the overview and the change log when a new change lands. Everything else works without
// JavaScript. Loaded as a file (the Content-Security-Policy allows no inline script); the chart's
// data comes from the page's data-burndown attribute.

(() => {
  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  // Distinct hues around the wheel, lighter in dark mode.
  function color(i, dark) {
    const hue = (i * 137.508) % 360;
    return `hsl(${hue.toFixed(0)}, 65%, ${dark ? 65 : 42}%)`;
  }

  function drawBurnDown(el) {
    const data = JSON.parse(el.dataset.burndown);
    if (data.series.length === 0 || data.days.length === 0) {
      el.dataset.points = '0';
      el.dataset.series = '0';
      return;
    }
    const xs = data.days.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000);
    const dark = window.matchMedia('(prefers-color-scheme: dark)').matches;
    const fg = cssVar('--fg');
    const grid = { stroke: cssVar('--grid') };
    const many = data.series.length > 1;
    const series = [{ label: 'day' }];
    const ys = [];
    if (many) {
      series.push({ label: 'total', stroke: fg, width: 2.5, points: { show: xs.length < 3 } });
      ys.push(xs.map((_, j) => data.series.reduce((n, s) => n + s.active[j], 0)));
    }
    data.series.forEach((s, i) => {
      series.push({
        label: data.series.some((o) => o.account !== s.account) ? `${s.account} ${s.regionId}` : s.regionId,
        stroke: color(i, dark),
        width: 1.5,
        points: { show: xs.length < 3 },
      });
      ys.push(s.active);
    });
    const width = () => Math.max(280, el.clientWidth);
    const opts = {
      width: width(),
      height: Math.round(Math.min(360, Math.max(220, width() * 0.45))),
      series,
      scales: {
        // One day on record (a new deployment, the demo): a day either side, so the point shows.
        x:
          xs.length === 1
            ? { time: true, auto: false, min: xs[0] - 86400, max: xs[0] + 86400 }
            : { time: true },
        y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.05)] },
      },
      axes: [
        { stroke: fg, grid, ticks: grid },
        { stroke: fg, grid, ticks: grid, size: 60 },
      ],
      // The days are UTC days: so are the axis and the legend.
      tzDate: (ts) => window.uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
      legend: { live: true },
      hooks: {
        draw: [
          (u) => {
            // What the browser tests read: points per series and series drawn.
            el.dataset.points = String(u.data[0].length);
            el.dataset.series = String(u.series.length - 1);
            el.dataset.drawn = 'true';
          },
        ],
      },
    };
    const chart = new window.uPlot(opts, [xs, ...ys], el);
    window.addEventListener('resize', () => chart.setSize({ width: width(), height: opts.height }));
  }

  // A new change since the page was rendered: reload (no more often than the poll).
  function watch(body) {
    const url = body.dataset.live;
    const seen = body.dataset.newest;
    const poll = async () => {
      try {
        const res = await fetch(url, { headers: { accept: 'application/json' }, credentials: 'same-origin' });
        if (!res.ok) return;
        const answer = await res.json();
        const newest = answer.events.length > 0 ? answer.events[0].id : '';
        if (newest !== seen) window.location.reload();
      } catch {
        // The server is away for a moment: the next poll tries again.
      }
    };
    setInterval(poll, 5000);
  }

  function start() {
    const chart = document.getElementById('burndown');
    if (chart && window.uPlot) drawBurnDown(chart);
    if (document.body.dataset.live) watch(document.body);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
