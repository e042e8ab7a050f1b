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
    summary = (
        f"Unpruned {entry.base} (reference, 100% of its MACs)"
        if entry.budget >= 1.0
        else f"{entry.base} pruned with {method} to a budget of {entry.budget:.0%} of its MACs"
    )
    return f"""# {entry.key}

{summary}, on {entry.dataset} (trained on `{entry.dataset_variant}`).
{description}
| | |
|---|---|
| Base architecture | `{entry.base}` |
| Dataset (variant) | `{entry.dataset}` (`{entry.dataset_variant}`) |
| MACs budget | {entry.budget:.0%} of the base model |
| MACs (batch 1) | {entry.macs:,} |
| Parameters | {entry.params:,} |
{shape}
## Accuracy

Top-1 accuracy, measured on each named evaluation set. Results on the JPEG
re-encoded CIFAR-10 are not the same number as on the original pixels.

| Evaluation set | Top-1 |
|---|---|
{acc_rows}

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
