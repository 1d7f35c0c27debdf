// A head view of attention for teaching, after BertViz's head view: all heads of one layer at a
// glance, a menu over the layers, so every layer x head is one click away. Each head is a
// tokens x tokens heat-map (row: the attending token, column: the token it attends to) with its own
// colour scale, 0 to that head's largest weight: with one 0-1 scale for all, most heads (whose
// weights spread thin) look uniformly dark. Token labels get the room they need, so none is cut.
import type { Figure } from './display.js';

/** Pixels per character of a tick label (plotly's default 12 px font), for the margins. */
const CHAR_PX = 7.2;

/**
 * The attention of one text, every layer and head, as a plotly figure for `plot`.
 *
 * Args:
 *   tokens: the text's tokens, padding left out.
 *   attentions: [layer][head][query][key] probabilities (at least tokens.length square; extra
 *     positions, e.g. padding, are cut off).
 *   title: the chart's title.
 *   start: the layer shown first (0-based; a [layer, head] pair is accepted too). Default: the last.
 *
 * Example: `plot(headViewFigure(tokens, attentionOf(model), 'Attention after fine-tuning'));`
 */
export function headViewFigure(
  tokens: readonly string[],
  attentions: readonly (readonly (readonly (readonly number[])[])[])[],
  title: string,
  start?: number | [number, number],
): Figure {
  const layers = attentions.length;
  if (!layers) throw new Error('headViewFigure: no layers of attention');
  const heads = attentions[0].length;
  if (!heads) throw new Error('headViewFigure: no attention heads');
  const t = tokens.length;
  if (!t) throw new Error('headViewFigure: no tokens');
  for (const [l, layer] of attentions.entries()) {
    if (layer.length !== heads)
      throw new Error(`headViewFigure: layer ${l + 1} has ${layer.length} heads, layer 1 has ${heads}`);
    for (const head of layer)
      if (head.length < t || head.some((row) => row.length < t))
        throw new Error(
          `headViewFigure: ${t} tokens but attention rows for ${Math.min(head.length, ...head.map((r) => r.length))} positions`,
        );
  }
  const first = Math.min(layers - 1, Math.max(0, Array.isArray(start) ? start[0] : (start ?? layers - 1)));
  // Repeated tokens get their position appended so that plotly keeps them apart on the axes.
  const labels = tokens.map((tok, i) => (tokens.indexOf(tok) === i ? tok : `${tok} (${i})`));

  // The grid: up to 4 heads a row (bert-base's 12 heads: 3 rows of 4), square cells sized to the tokens.
  // Fewer columns for long texts, so the figure stays about as wide as a notebook (1,200 px).
  const cell = Math.max(200, Math.min(420, 16 * t + 40));
  const gap = 36; // between cells, room for each head's title
  const longest = Math.max(...labels.map((l) => l.length));
  const marginL = Math.ceil(longest * CHAR_PX) + 24;
  const fit = Math.max(1, Math.min(heads, 4, Math.floor((1200 - marginL) / (cell + gap))));
  const rows = Math.ceil(heads / fit);
  const cols = Math.ceil(heads / rows); // balanced: 4 heads as 2 x 2 rather than 3 + 1
  const marginB = Math.ceil(longest * CHAR_PX) + 24; // x labels are vertical
  const marginT = 150; // the title, the layer menu and the reading hint above the grid
  const plotW = cols * cell + (cols - 1) * gap;
  const marginR = Math.max(30, 460 - plotW); // room for the hint above a single narrow cell
  const width = marginL + plotW + marginR;
  const height = marginT + rows * cell + (rows - 1) * gap + marginB;
  const plotH = height - marginT - marginB;
  const domain = (k: number, n: number, extent: number) => {
    const size = cell / extent,
      step = (cell + gap) / extent;
    return [k * step, Math.min(1, k * step + size)];
  };

  const data: unknown[] = [];
  const axes: Record<string, unknown> = {};
  const titlesOf: unknown[][] = [];
  for (let l = 0; l < layers; l++) {
    const titles: unknown[] = [];
    for (let h = 0; h < heads; h++) {
      const z = attentions[l][h].slice(0, t).map((row) => row.slice(0, t).map((v) => Math.round(v * 1e4) / 1e4));
      const zmax = Math.max(1e-6, ...z.flat());
      const k = h + 1; // axis number of this head's cell (the same cell in every layer)
      data.push({
        type: 'heatmap',
        z,
        x: labels,
        y: labels,
        xaxis: k === 1 ? 'x' : `x${k}`,
        yaxis: k === 1 ? 'y' : `y${k}`,
        zmin: 0,
        zmax,
        colorscale: 'Viridis',
        showscale: false,
        visible: l === first,
        name: `layer ${l + 1}, head ${h + 1}`,
        hovertemplate: `layer ${l + 1}, head ${h + 1}<br>%{y} → %{x}: %{z:.3f}<extra></extra>`,
      });
      const [c, r] = [h % cols, Math.floor(h / cols)];
      titles.push({
        text: `head ${h + 1} <span style="color:#777">(brightest = ${zmax.toFixed(2)})</span>`,
        xref: 'paper',
        yref: 'paper',
        x: (c * (cell + gap) + cell / 2) / plotW,
        y: 1 - (r * (cell + gap)) / plotH,
        xanchor: 'center',
        yanchor: 'bottom',
        showarrow: false,
        font: { size: 13 },
      });
    }
    titlesOf.push(titles);
  }
  for (let h = 0; h < heads; h++) {
    const k = h + 1;
    const [c, r] = [h % cols, Math.floor(h / cols)];
    const bottomRow = r === rows - 1 || h + cols >= heads;
    axes[k === 1 ? 'xaxis' : `xaxis${k}`] = {
      domain: domain(c, cols, plotW),
      anchor: k === 1 ? 'y' : `y${k}`,
      tickangle: -90,
      // Every token labelled: plotly would skip some on a crowded axis.
      tickmode: 'array',
      tickvals: labels,
      ticktext: labels,
      showticklabels: bottomRow,
      tickfont: { size: 12 },
      automargin: true,
      showgrid: false,
      constrain: 'domain',
    };
    const top = 1 - (r * (cell + gap)) / plotH;
    axes[k === 1 ? 'yaxis' : `yaxis${k}`] = {
      domain: [Math.max(0, top - cell / plotH), top],
      anchor: k === 1 ? 'x' : `x${k}`,
      autorange: 'reversed',
      tickmode: 'array',
      tickvals: labels,
      ticktext: labels,
      showticklabels: c === 0,
      tickfont: { size: 12 },
      automargin: true,
      showgrid: false,
    };
  }
  const hint = {
    text: 'rows: the token attending · columns: the token it attends to<br>colours per head: dark = 0, bright = that head’s largest weight',
    xref: 'paper',
    yref: 'paper',
    x: 0,
    y: 1 + 24 / plotH,
    xanchor: 'left',
    yanchor: 'bottom',
    align: 'left',
    showarrow: false,
    font: { size: 12, color: '#555' },
  };
  const buttons = Array.from({ length: layers }, (_, l) => ({
    label: `layer ${l + 1} of ${layers}`,
    method: 'update',
    args: [
      { visible: Array.from({ length: layers * heads }, (_, j) => Math.floor(j / heads) === l) },
      { annotations: [hint, ...titlesOf[l]] },
    ],
  }));
  return {
    data,
    layout: {
      title: { text: title, x: 0, xanchor: 'left', xref: 'paper', y: 1 - 12 / height, yanchor: 'top' },
      width,
      height,
      margin: { l: marginL, r: marginR, t: marginT, b: marginB },
      ...axes,
      annotations: [hint, ...titlesOf[first]],
      // The menu sits above the grid at the left, clear of the title, the tool bar and every token.
      updatemenus: [
        {
          buttons,
          active: first,
          type: 'dropdown',
          direction: 'down',
          showactive: true,
          x: 0,
          xanchor: 'left',
          y: 1 + 70 / plotH,
          yanchor: 'bottom',
        },
      ],
    },
  };
}
