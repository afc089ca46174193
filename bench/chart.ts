/**
 * An SVG line chart of Auth0 calls per second over time against the budget line, written by hand (a few
 * dozen elements; no charting dependency).
 */
export function callsPerSecondSvg(opts: { title: string; perSecond: number[]; budget: number }): string {
  const w = 800;
  const h = 320;
  const m = { l: 56, r: 16, t: 36, b: 44 };
  const xs = opts.perSecond.length;
  const yMax = Math.ceil(Math.max(opts.budget * 1.25, ...opts.perSecond) / 10) * 10;
  const x = (i: number) => m.l + (i / Math.max(1, xs - 1)) * (w - m.l - m.r);
  const y = (v: number) => h - m.b - (v / yMax) * (h - m.t - m.b);
  const line = opts.perSecond.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  const yTicks = Array.from({ length: 6 }, (_, k) => (yMax / 5) * k);
  const xStep = Math.max(1, Math.ceil(xs / 10 / 10) * 10);
  const xTicks = Array.from({ length: Math.floor((xs - 1) / xStep) + 1 }, (_, k) => k * xStep);
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" font-family="sans-serif" font-size="12">
<rect width="${w}" height="${h}" fill="white"/>
<text x="${w / 2}" y="20" text-anchor="middle" font-size="14">${opts.title}</text>
${yTicks.map((v) => `<line x1="${m.l}" x2="${w - m.r}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/><text x="${m.l - 6}" y="${y(v) + 4}" text-anchor="end">${v}</text>`).join("\n")}
${xTicks.map((t) => `<text x="${x(t)}" y="${h - m.b + 16}" text-anchor="middle">${t}</text>`).join("\n")}
<text x="${w / 2}" y="${h - 8}" text-anchor="middle">seconds since the first call</text>
<text x="14" y="${h / 2}" text-anchor="middle" transform="rotate(-90 14 ${h / 2})">Auth0 calls per second</text>
<line x1="${m.l}" x2="${w - m.r}" y1="${y(opts.budget)}" y2="${y(opts.budget)}" stroke="#c0392b" stroke-dasharray="6 4"/>
<text x="${w - m.r}" y="${y(opts.budget) - 6}" text-anchor="end" fill="#c0392b">budget ${opts.budget}/s</text>
<polyline points="${line}" fill="none" stroke="#2c7fb8" stroke-width="1.5"/>
</svg>
`;
}
