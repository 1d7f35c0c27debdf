// Loading by config.json's `architectures`, as transformers' AutoModel does.
import { BertForPreTraining, BertForSequenceClassification, BertModel } from './bert.js';
import { loadInto, openCheckpoint, type LoadOptions } from './pretrained.js';

export type AnyBert = BertModel | BertForSequenceClassification | BertForPreTraining;

/**
 * Loads whichever architecture config.json names (BertModel when it names none we have).
 *
 * Args:
 *   nameOrDir: a model directory or a Hub id (downloaded into the Hugging Face cache if needed).
 *   opts: `labels` for a classification head, `seed` for weights the checkpoint lacks, `log`.
 *
 * Example: `const model = await loadAuto('runs/pt/model'); if (model instanceof BertForPreTraining) ...`
 */
export async function loadAuto(nameOrDir: string, opts: LoadOptions = {}): Promise<AnyBert> {
  const c = await openCheckpoint(nameOrDir, opts);
  const arch = c.config.architectures?.[0] ?? '';
  const model =
    arch === 'BertForSequenceClassification'
      ? new BertForSequenceClassification(c.config, opts.labels)
      : /PreTraining|MaskedLM/.test(arch)
        ? new BertForPreTraining(c.config)
        : new BertModel(c.config);
  return loadInto(model, c, opts, nameOrDir);
}
