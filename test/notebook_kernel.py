"""Drives notebook 01 in a live tslab kernel as a student does (jupyter_client), for
test/notebook-kernel.slow.test.ts:

  settings   for every setting of the parameters cell: change it (as a cell inserted after the
             parameters cell would), re-run the training cell alone: it must refuse, naming the cell
             to re-run from; follow that advice (re-run from there): the run must use the new value.
  interrupt  interrupt the kernel during the training cell: the cell must end with one line saying
             where it stopped and what was kept, no later cell may receive output from the old loop,
             and the tensor count must come back to what it was before the cell.
  burst      after the notebook's import cell, cells that print 1,200 lines at once (more than
             zeromq.js sends before it defers one) must deliver every line and end (their idle status).

Usage: python3 test/notebook_kernel.py settings|interrupt|burst NOTEBOOK KERNEL_PATH
Prints one JSON object (the findings) on its last line; exits 1 when a check fails.
"""
import json
import os
import re
import sys
import time

from jupyter_client.manager import start_new_kernel

mode, notebook, kernel_path = sys.argv[1], sys.argv[2], sys.argv[3]
os.environ['JUPYTER_PATH'] = kernel_path + os.pathsep + os.environ.get('JUPYTER_PATH', '')
nb = json.load(open(notebook))
cells = nb['cells']


def src(c):
    return c['source'] if isinstance(c['source'], str) else ''.join(c['source'])


def section(heading):
    """Index of the first code cell after the markdown cell whose first line is `## heading`."""
    for i, c in enumerate(cells):
        if c['cell_type'] == 'markdown' and src(c).split('\n')[0].lstrip('#').strip() == heading:
            return next(j for j in range(i + 1, len(cells)) if cells[j]['cell_type'] == 'code')
    raise SystemExit(f'no section "{heading}" in {notebook}')


PARAMS = next(i for i, c in enumerate(cells) if 'parameters' in c['metadata'].get('tags', []))
SETTINGS = section('The settings of this run')
TRAINING = section('The training loop')
REPORT = section('Validation report')

km, kc = start_new_kernel(kernel_name='tslab', cwd=os.path.dirname(os.path.abspath(notebook)))


CELL_TIMEOUT = float(os.environ.get('BERT_LAB_KERNEL_CELL_TIMEOUT', '600'))


def execute(code, timeout=CELL_TIMEOUT, on_output=None):
    """Runs `code`; returns (status, text of every output, error name). A request the kernel aborts
    (it aborts the requests that reach it right after a cell failed, as Jupyter's stop-on-error asks)
    is sent again once the kernel has settled."""
    for _ in range(3):
        status, text, ename = execute_once(code, timeout, on_output)
        if status not in ('abort', 'aborted'):
            break
        time.sleep(1.5)
    return status, text, ename


trace = []  # the last iopub messages seen (type, parent id), printed when a reply never comes


def execute_once(code, timeout, on_output):
    msg_id = kc.execute(code)
    text, ename, status = [], None, None
    deadline = time.time() + timeout
    while True:
        try:
            msg = kc.get_iopub_msg(timeout=max(1, deadline - time.time()))
        except Exception:
            shell = []
            while True:
                try:
                    r = kc.get_shell_msg(timeout=1)
                    shell.append(f"{r['msg_type']} {r['parent_header'].get('msg_id', '')[:8]} {r['content'].get('status')}")
                except Exception:
                    break
            print(f'[notebook_kernel] no idle for {msg_id[:8]} ({code[:60]!r}) in {timeout} s; shell replies '
                  f'waiting: {shell}; last iopub messages:\n' + '\n'.join(trace[-40:]), file=sys.stderr, flush=True)
            raise
        trace.append(f"{time.strftime('%H:%M:%S')} {msg['msg_type']} {msg['parent_header'].get('msg_id', '')[:8]} "
                     f"{msg['content'].get('execution_state', '')}")
        del trace[:-200]
        if msg['parent_header'].get('msg_id') != msg_id:
            # Output of another execution: a loop still running from an earlier cell.
            if msg['msg_type'] == 'stream':
                strays.append(msg['content']['text'])
            continue
        t, c = msg['msg_type'], msg['content']
        if t == 'stream':
            text.append(c['text'])
            if on_output:
                on_output(''.join(text))
        elif t in ('display_data', 'execute_result'):
            text.append(c['data'].get('text/plain', '') + c['data'].get('text/html', ''))
        elif t == 'error':
            ename = c['ename']
            text.append(f"{c['ename']}: {c['evalue']}")
        elif t == 'status' and c['execution_state'] == 'idle':
            break
    while True:
        reply = kc.get_shell_msg(timeout=120)
        if reply['parent_header'].get('msg_id') == msg_id:
            break
    status = reply['content'].get('status', 'error')
    return status, ''.join(text), ename


def run_cells(a, b):
    """Runs cells a..b (inclusive), stopping at the first that fails; returns the last output."""
    out = ''
    for i in range(a, b + 1):
        if cells[i]['cell_type'] != 'code':
            continue
        print(f'[notebook_kernel] cell {i + 1}: {src(cells[i]).splitlines()[0][:70]}', file=sys.stderr, flush=True)
        status, out, _ = execute(src(cells[i]))
        if status != 'ok':
            raise AssertionError(f'cell {i} failed:\n{src(cells[i])[:300]}\n--- its output:\n{out[-2000:]}')
    return out


strays = []
findings = {}
failures = []
# A tiny model and a few hundred tweets: the mechanics are what is tested, not the score.
QUICK = {
    'model': "'../models/bert-lab-tiny'",
    'limit': '160',
    'epochs': '1',
    'batchSize': '16',
    'out': "require('os').tmpdir() + '/bert-lab-nb-test-' + process.pid",
}


def set_values(values):
    status, out, _ = execute('\n'.join(f'{k} = {v};' for k, v in values.items()))
    assert status == 'ok', out


try:
    if mode == 'burst':
        # Only the import cell: bert-lab keeps the kernel's sends from colliding (src/ui/display.ts).
        run_cells(0, next(i for i, c in enumerate(cells) if "dist/bert-lab.cjs'" in src(c)))
        for k in range(3):
            status, out, _ = execute('for (let i = 0; i < 1200; i++) console.log(`line ${i}`);', timeout=60)
            lines = out.count('\n')
            findings[f'burst_{k + 1}'] = {'status': status, 'lines': lines}
            if status != 'ok' or lines != 1200:
                failures.append(f'burst {k + 1}: status {status}, {lines} of 1200 lines')
        raise SystemExit(0)
    run_cells(0, PARAMS)
    set_values(QUICK)
    run_cells(PARAMS + 1, TRAINING)

    if mode == 'settings':
        # Each setting: a new value, and how the run shows it used it (`p`: the probe's JSON).
        probe = ('console.log(JSON.stringify({ hp: hp, rows: train.labels.length + val.labels.length, '
                 'model: run.modelDir, out: run.out, csv: run.trainCsv }))')
        changes = {
            'epochs': ('2', lambda p, t: p['hp']['epochs'] == 2 and '======== Epoch 2 / 2 ========' in t),
            'batchSize': ('8', lambda p, t: p['hp']['batchSize'] == 8),
            'lr': ('5e-5', lambda p, t: p['hp']['lr'] == 5e-5),
            'warmupRatio': ('0.5', lambda p, t: p['hp']['warmupSteps'] == 4),  # 0.5 x 8 steps
            'weightDecay': ('0.01', lambda p, t: p['hp']['weightDecay'] == 0.01),
            'seed': ('7', lambda p, t: p['hp']['seed'] == 7),
            'limit': ('120', lambda p, t: p['rows'] == 120),
            'model': ("'../models/bert-lab-mini'", lambda p, t: p['model'].endswith('bert-lab-mini')),
            'out': ("require('os').tmpdir() + '/bert-lab-nb-test2-' + process.pid",
                    lambda p, t: 'bert-lab-nb-test2-' in p['out'] and 'bert-lab-nb-test2-' in t),
            'trainCsv': ("(() => { const f = require('os').tmpdir() + '/bert-lab-nb-train.csv'; "
                         "require('fs').copyFileSync(lab.labFile('train.csv'), f); return f; })()",
                         lambda p, t: p['csv'].endswith('/bert-lab-nb-train.csv')),
        }
        reset = {'epochs': '1', 'batchSize': '16', 'lr': 'undefined', 'warmupRatio': 'undefined',
                 'weightDecay': '0', 'seed': '42', 'limit': '160', 'trainCsv': "lab.labFile('train.csv')"}
        only = os.environ.get('BERT_LAB_KERNEL_ONLY')
        if only:
            changes = {k: v for k, v in changes.items() if k in only.split(',')}
        for name, (value, uses) in changes.items():
            set_values({name: value})
            status, out, ename = execute(src(cells[TRAINING]))
            refused = status == 'error' and 'The settings of this run' in out and name in out
            if not refused:
                failures.append(f'{name}: the training cell did not refuse, naming the cell to re-run:\n{out[-600:]}')
            elif len(out.strip().split('\n')) > 2:
                failures.append(f'{name}: the refusal is more than one line:\n{out[-800:]}')
            # Follow the advice: run from "The settings of this run" down to the training cell.
            shown = run_cells(SETTINGS, TRAINING)
            _, pj, _ = execute(probe)
            p = json.loads(pj.strip().split('\n')[-1])
            ok = uses(p, shown)
            findings[name] = {'refused': refused, 'used_after_advice': ok, 'hp': p['hp'] if name in
                              ('epochs', 'lr') else None}
            if not ok:
                failures.append(f'{name} = {value}: the run after the advice did not use it: {pj[-600:]}')
            set_values({name: QUICK.get(name, reset.get(name, 'undefined'))})
            run_cells(SETTINGS, TRAINING - 1)

    elif mode == 'interrupt':
        set_values({'epochs': '40', 'limit': '800'})
        run_cells(SETTINGS, TRAINING - 1)
        _, before, _ = execute('console.log(`tensors ${tf.memory().numTensors}`)')
        before_n = int(before.split('tensors ')[1].split()[0])
        sent = {'at': None}

        def maybe_interrupt(text):
            # Early in epoch 2: its first line is out, its steps are running (an epoch of this
            # quick run takes about 2 s on a quiet machine, so the wait is short).
            if sent['at'] is None and '======== Epoch 2 /' in text:
                time.sleep(0.3)
                sent['at'] = time.time()
                km.interrupt_kernel()

        status, out, ename = execute(src(cells[TRAINING]), on_output=maybe_interrupt)
        findings['interrupt_sent'] = sent['at'] is not None
        findings['seconds_to_stop'] = round(time.time() - sent['at'], 2) if sent['at'] else None
        findings['cell_status'] = status
        findings['last_line'] = out.strip().split('\n')[-1]
        # Where it stopped depends on the machine's speed; that it names a step of epoch 2 or later does not.
        where = re.search(r'Interrupted: stopped at epoch (\d+), step (\d+) of (\d+)', out)
        if status != 'error' or not where or int(where.group(1)) < 2:
            failures.append(f'the interrupted cell does not say where it stopped:\n{out[-1500:]}')
        if 'best epoch so far stays in' not in out:
            failures.append('the interrupted cell does not say what was kept')
        if 'at evalmachine' in out or '    at ' in out:
            failures.append(f'a stack trace was printed:\n{out[-1500:]}')
        time.sleep(3)
        strays.clear()
        status2, after, _ = execute('await new Promise((r) => setTimeout(r, 3000));\n'
                                    'console.log(`tensors ${tf.memory().numTensors}`)')
        after_n = int(after.split('tensors ')[1].split()[0])
        findings['tensors_before'] = before_n
        findings['tensors_after'] = after_n
        findings['stray_output'] = ''.join(strays)[:300]
        if after_n != before_n:
            failures.append(f'tensors: {before_n} before the training cell, {after_n} after the interrupt')
        if strays or 'Epoch' in after or 'Batch' in after:
            failures.append(f'the old loop printed after the interrupt: {"".join(strays)[:500]} {after[:500]}')
        # Re-running the cell starts cleanly.
        set_values({'epochs': '1', 'limit': '160'})
        run_cells(SETTINGS, TRAINING - 1)
        status3, again, _ = execute(src(cells[TRAINING]))
        findings['rerun_status'] = status3
        if status3 != 'ok' or 'Training complete!' not in again:
            failures.append(f'the training cell does not run again after the interrupt:\n{again[-1500:]}')
except SystemExit:
    pass
except Exception as e:  # a step of the drive failed: reported as a failure, with the findings so far
    import traceback
    traceback.print_exc()
    failures.append(f'{type(e).__name__}: {e}')
finally:
    km.shutdown_kernel(now=True)
    import glob
    import shutil
    import tempfile
    for d in glob.glob(os.path.join(tempfile.gettempdir(), 'bert-lab-nb-test*')):
        shutil.rmtree(d, ignore_errors=True)

print(json.dumps({'findings': findings, 'failures': failures}))
sys.exit(1 if failures else 0)
