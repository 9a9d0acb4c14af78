/**
 * A small line chart as a standalone SVG document, for docs/benchmarks.md:
 * one polyline with point markers per series, linear axes with round ticks,
 * a legend. No dependencies; the output is deterministic for the same input.
 */

export interface Series {
  name: string;
  /** [x, y] pairs; NaN values are skipped. */
  points: Array<[number, number]>;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  width?: number;
  height?: number;
}

const COLORS = [
  '#7f7f7f',
  '#1f77b4',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#ff7f0e',
  '#8c564b',
  '#e377c2',
];

/** Round tick step for a range: 1, 2 or 5 times a power of ten, about `count` ticks. */
function tickStep(max: number, count: number): number {
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function label(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(2).replace(/0+$/, '');
}

export function lineChart(series: Series[], options: ChartOptions): string {
  const width = options.width ?? 720;
  const height = options.height ?? 400;
  // The legend sits right of the plot: wide enough for the longest name (about 7 px a character at 12 px).
  const longest = Math.max(0, ...series.map((s) => s.name.length));
  const margin = { top: 40, right: Math.max(170, 60 + 7 * longest), bottom: 50, left: 60 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const finite = series.flatMap((s) =>
    s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)),
  );
  if (finite.length === 0) throw new Error('lineChart: no finite points');
  const xMax = Math.max(...finite.map(([x]) => x));
  const yMax = Math.max(...finite.map(([, y]) => y));
  const xStep = tickStep(xMax, 6);
  const yStep = tickStep(yMax, 5);
  const xTop = Math.ceil(xMax / xStep) * xStep;
  const yTop = Math.ceil(yMax / yStep) * yStep;
  const px = (x: number): number => margin.left + (x / xTop) * plotW;
  const py = (y: number): number => margin.top + plotH - (y / yTop) * plotH;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(options.title)}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${margin.left}" y="22" font-size="14" font-weight="bold">${escapeXml(options.title)}</text>`,
  );
  for (let y = 0; y <= yTop + yStep / 1e6; y += yStep) {
    const at = py(y).toFixed(1);
    out.push(
      `<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${at}" y2="${at}" stroke="#e5e5e5"/>`,
      `<text x="${margin.left - 6}" y="${at}" text-anchor="end" dominant-baseline="middle">${label(y)}</text>`,
    );
  }
  for (let x = 0; x <= xTop + xStep / 1e6; x += xStep) {
    const at = px(x).toFixed(1);
    out.push(
      `<line x1="${at}" x2="${at}" y1="${margin.top + plotH}" y2="${margin.top + plotH + 4}" stroke="#333"/>`,
      `<text x="${at}" y="${margin.top + plotH + 18}" text-anchor="middle">${label(x)}</text>`,
    );
  }
  out.push(
    `<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${margin.top + plotH}" y2="${margin.top + plotH}" stroke="#333"/>`,
    `<line x1="${margin.left}" x2="${margin.left}" y1="${margin.top}" y2="${margin.top + plotH}" stroke="#333"/>`,
    `<text x="${margin.left + plotW / 2}" y="${height - 10}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`,
    `<text transform="translate(16 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(options.yLabel)}</text>`,
  );
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const points = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    const path = points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    out.push(`<polyline points="${path}" fill="none" stroke="${color}" stroke-width="2"/>`);
    for (const [x, y] of points) {
      out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${color}"/>`);
    }
    const ly = margin.top + 10 + i * 20;
    const lx = margin.left + plotW + 16;
    out.push(
      `<line x1="${lx}" x2="${lx + 20}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${lx + 26}" y="${ly}" dominant-baseline="middle">${escapeXml(s.name)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
