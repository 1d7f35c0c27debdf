# nbconvert configuration used by scripts/run-notebooks.ts: when a cell fails, print the cell's own
# output (tslab reports errors on stderr, not as an "error" output) between markers, so the run
# log shows the TypeScript diagnostic or stack trace rather than only nbclient's traceback.
import sys


def _report_cell_error(cell=None, cell_index=None, execute_reply=None, **_):
    parts = []
    for o in (cell or {}).get("outputs", []):
        if o.get("output_type") == "stream":
            parts.append(o.get("text", ""))
        elif o.get("output_type") == "error":
            parts.append("%s: %s\n%s" % (o.get("ename"), o.get("evalue"), "\n".join(o.get("traceback", []))))
    text = "".join(parts)[-6000:] or "(the cell printed nothing)"
    sys.stderr.write("[bert-lab-cell-error %d]\n%s\n[/bert-lab-cell-error]\n" % ((cell_index or 0) + 1, text.rstrip()))
    sys.stderr.flush()


c = get_config()  # noqa: F821 (provided by traitlets when loading the config file)
c.ExecutePreprocessor.on_cell_error = _report_cell_error
