// A head view of attention: a tokens x tokens heat-map per layer and head, one shown at a time and
// picked from a menu, as plotly figures for `plot` (display.ts).
import type { Figure } from './display.js';

/**
 * The attention of one text as a heat-map (row: the attending token, column: the token attended to),
 * with a menu over every layer and head.
 *
 * Args:
 *   tokens: the text's tokens, padding left out.
 *   attentions: [layer][head][query][key] probabilities (at least tokens.length square).
 *   title: the chart's title.
 *   start: the [layer, head] shown first (default the last layer's first head).
 *
 * Example: `plot(headViewFigure(tokens, attentionsOf(model, row), 'Attention after fine-tuning'));`
 */
export function headViewFigure(
  tokens: readonly string[],
  attentions: readonly (readonly (readonly (readonly number[])[])[])[],
  title: string,
  start?: [number, number],
): Figure {
  const layers = attentions.length;
  if (!layers) throw new Error('headViewFigure: no layers of attention');
  const heads = attentions[0].length;
  const t = tokens.length;
  if ((attentions[0][0]?.length ?? 0) < t)
    throw new Error(`headViewFigure: ${t} tokens but attention rows for ${attentions[0][0]?.length ?? 0} positions`);
  const [l0, h0] = start ?? [layers - 1, 0];
  // Repeated tokens get their position appended so that plotly keeps them apart on the axes.
  const labels = tokens.map((tok, i) => (tokens.indexOf(tok) === i ? tok : `${tok} (${i})`));
  const data: unknown[] = [];
  const buttons: unknown[] = [];
  for (let l = 0; l < layers; l++)
    for (let h = 0; h < heads; h++) {
      const k = data.length;
      data.push({
        type: 'heatmap',
        z: attentions[l][h].slice(0, t).map((row) => row.slice(0, t)),
        x: labels,
        y: labels,
        zmin: 0,
        zmax: 1,
        colorscale: 'Viridis',
        visible: l === l0 && h === h0,
        hovertemplate: '%{y} -> %{x}: %{z:.3f}<extra></extra>',
      });
      buttons.push({
        label: `layer ${l + 1}, head ${h + 1}`,
        method: 'update',
        args: [{ visible: Array.from({ length: layers * heads }, (_, j) => j === k) }],
      });
    }
  const size = Math.max(360, Math.min(900, 140 + 18 * t));
  return {
    data,
    layout: {
      title: { text: title, x: 0.02, xanchor: 'left' },
      // The menu sits to the right of the title, above the map, so it hides no token.
      margin: { t: 90 },
      height: size,
      width: size + 120,
      xaxis: { tickangle: -60, title: { text: 'attended to' } },
      yaxis: { autorange: 'reversed', title: { text: 'attending token' } },
      updatemenus: [{ buttons, active: l0 * heads + h0, x: 1, xanchor: 'right', y: 1, yanchor: 'bottom' }],
    },
  };
}
