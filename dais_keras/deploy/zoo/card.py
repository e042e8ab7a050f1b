"""The model card of a zoo entry: a markdown page with its cost, accuracy,
use and provenance, written by `publish` next to the weights."""

import json


def model_card(entry):
    """Returns the markdown model card of an entry (written by `publish`)."""
    acc_rows = "\n".join(
        f"| `{eval_set}` | {acc:.2%} |" for eval_set, acc in sorted(entry.accuracy.items())
    )
    weights = f"`{entry.file}` (in the zoo directory)" if entry.file else f"<{entry.url}>"
    shape = "" if not entry.input_shape else f"| Input shape | {tuple(entry.input_shape)} |\n"
    description = f"\n{entry.description}\n" if entry.description else ""
    extra = ""
    if entry.extra:
        extra = "\n## Extra metadata\n\n```json\n" + json.dumps(entry.extra, indent=2) + "\n```\n"
    method = (entry.extra or {}).get("method", "DAIS")
    summary, budget_row = _budget_text(entry, method)
    latency = _latency_section(entry.latency)
    return f"""# {entry.key}

{summary}, on {entry.dataset} (trained on `{entry.dataset_variant}`).
{description}
| | |
|---|---|
| Base architecture | `{entry.base}` |
| Dataset (variant) | `{entry.dataset}` (`{entry.dataset_variant}`) |
| {budget_row} |
| MACs (batch 1) | {entry.macs:,} |
| Parameters | {entry.params:,} |
{shape}
## Accuracy

Top-1 accuracy, measured on each named evaluation set. Results on the JPEG
re-encoded CIFAR-10 are not the same number as on the original pixels.

| Evaluation set | Top-1 |
|---|---|
{acc_rows}
{latency}
## Use

```python
import dais_keras as dk

model = dk.zoo.load("{entry.key}")         # checks the sha256, safe_mode=True
dk.zoo.export("{entry.key}", "model.tflite")
```

```sh
dais export {entry.key} --format onnx --out model.onnx
```

## Provenance

- Weights: {weights}, {entry.size:,} bytes
- sha256: `{entry.sha256}`
- Published: {entry.date} with dais-keras {entry.library_version}
- Command: `{entry.command}`

## Licence

{entry.licence}
{extra}"""


def _budget_text(entry, method):
    """The card's summary sentence and budget table row."""
    budget = entry.budget
    if isinstance(budget, dict):
        kind, value = next(iter(budget.items()))
        target = (f"{value:g} ms" if kind == "latency_ms"
                  else f"{value:.0%} of the base model's latency")
        return (f"{entry.base} pruned with {method} to a latency budget of {target}",
                f"Latency budget | {target} (predicted by the measured table)")
    if budget >= 1.0:
        return (f"Unpruned {entry.base} (reference, 100% of its MACs)",
                "MACs budget | 100% of the base model")
    return (f"{entry.base} pruned with {method} to a budget of {budget:.0%} of its MACs",
            f"MACs budget | {budget:.0%} of the base model")


def _latency_section(latency):
    """The card's measured-latency section (empty without a record)."""
    if not latency:
        return ""
    rows = []
    for key, value in latency.items():
        if not key.endswith("_ms") or key.startswith("unpruned_"):
            continue
        runtime = key[:-3]
        base = latency.get(f"unpruned_{key}")
        speedup = f"{base / value:.2f}×" if base else "-"
        rows.append(f"| {runtime} | {value:.3f} | {f'{base:.3f}' if base else '-'} | {speedup} |")
    details = {k: v for k, v in latency.items() if not k.endswith("_ms") and k != "machine"}
    note = "; ".join(f"{k}: {v}" for k, v in details.items())
    return ("\n## Latency\n\nMeasured on " + latency["machine"] + (f" ({note})" if note else "")
            + ".\n\n| Runtime | ms | base model ms | speed-up |\n|---|---|---|---|\n"
            + "\n".join(rows) + "\n")
