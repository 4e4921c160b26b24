"""A model card (``README.md``) beside every checkpoint advlab writes, as Hugging Face
repositories have one: architecture, data, threat model, clean and robust accuracy, and
the command that trained (or imported) the model. Rendered from ``config.json``."""

from __future__ import annotations

import json
from typing import Any


def _threat(train: dict[str, Any]) -> str:
    adv = train.get("adversarial")
    if not adv:
        return "none: standard training (not robust by construction)"
    kind = "TRADES" if adv.get("kind") == "trades" else "PGD adversarial training"
    step = adv.get("step_size") or f"eps/5 = {float(adv['eps']) / 5:g}"
    return (f"{kind}, {adv['norm']} ball of radius {adv['eps']:g} (pixel units, box [0, 1]), "
            f"{adv['steps']} steps of {step}")


def _accuracy(doc: dict[str, Any]) -> list[str]:
    m = doc.get("metrics") or {}
    rows = []
    if m.get("test_acc") is not None:
        rows.append(f"| clean | {100 * float(m['test_acc']):.2f}% |")
    if m.get("robust_acc") is not None:
        threat = (doc.get("train") or {}).get("robust_eval_norm") or "the adversary's"
        rows.append(f"| robust (PGD, {threat} threat; per-epoch check, subset) | "
                    f"{100 * float(m['robust_acc']):.2f}% |")
    if not rows:
        return ["No accuracy is recorded in this checkpoint; measure it with `advlab evaluate "
                "--checkpoint THIS_FOLDER --dataset NAME --eps ...`."]
    return ["| measure | test accuracy |", "|---|---|", *rows, "",
            "Robust accuracy here is the training run's own per-epoch check; for a reportable "
            "number run `advlab evaluate` (docs/attacks.md)."]


def model_card(doc: dict[str, Any]) -> str:
    """The README.md text of a checkpoint whose ``config.json`` is ``doc``."""
    model = doc.get("model") or {}
    train = doc.get("train") or {}
    kwargs = json.dumps(model.get("kwargs") or {}, sort_keys=True)
    lines = [f"# {model.get('arch', 'model')} checkpoint (advlab)", "",
             "Load it with `advlab.load_model(\"THIS_FOLDER\")` (the weights' sha256 is checked "
             "against config.json). Inputs are images in [0, 1]; normalisation is inside the "
             "model.", "", "## Architecture", "",
             f"`{model.get('arch')}` with arguments `{kwargs}`, input shape "
             f"{tuple(model.get('in_shape') or ())}, {model.get('num_classes')} classes."]
    if "import" in doc:
        rec = doc["import"]
        lines += ["", "## Origin", "", f"Imported from a `{rec.get('from', 'foreign')}` checkpoint "
                  f"(`{rec.get('file', '')}`, sha256 `{rec.get('source_sha256', '')}`); its logits "
                  "were checked against the original model's at import."]
    if train:
        lines += ["", "## Data", "", f"Trained on `{train.get('dataset')}`, tested on the test "
                  f"split of `{doc.get('test_dataset') or train.get('test_dataset') or train.get('dataset')}`; "
                  f"{train.get('epochs')} epochs, {train.get('optimizer')} at lr {train.get('lr')}, "
                  f"batch {train.get('batch_size')}, augmentation `{train.get('augment')}`, "
                  f"seed {train.get('seed')}.",
                  "", "## Threat model", "", _threat(train)]
    lines += ["", "## Accuracy", "", *_accuracy(doc)]
    if doc.get("command"):
        lines += ["", "## How it was made", "", "```", str(doc["command"]), "```"]
    return "\n".join(lines) + "\n"
