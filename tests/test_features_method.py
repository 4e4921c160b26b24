"""What a construction records about its method, and that it never changes the source model.

* A BatchNorm source passed in train mode: every probe (check_features, the class count,
  the inversion, the relabelling) runs in eval mode under no_grad, so the state dict
  (running statistics included) and every module's mode are unchanged afterwards.
* The card's provenance says which inversion optimizer built D_R / D_NR and which rule
  chose D_rand / D_det's targets; the stats carry the median relative distance.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from advlab.errors import AdvlabError
from advlab.features import (
    OPTIMIZERS,
    POLYAK_DEFAULTS,
    TARGET_RULES,
    RelabelConfig,
    RobustifyConfig,
    construct_dataset,
    relabel,
    resolve_config,
    robustify,
)
from advlab.features.robustify import check_features


class BNDigits(nn.Module):
    """An 8x8 classifier with BatchNorm in its trunk and a Dropout before the head."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                  nn.Flatten(), nn.Linear(256, 12), nn.BatchNorm1d(12), nn.Tanh())
        self.drop = nn.Dropout(0.5)
        self.head = nn.Linear(12, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.features(x)))


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_untouched(model: nn.Module, before: dict[str, torch.Tensor],
                      modes: list[bool]) -> None:
    after = model.state_dict()
    assert after.keys() == before.keys()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert not changed, f"changed by the construction: {changed}"
    assert [m.training for m in model.modules()] == modes
    assert all(p.grad is None for p in model.parameters())


def _bn_model() -> tuple[BNDigits, dict[str, torch.Tensor], list[bool]]:
    torch.manual_seed(0)
    model = BNDigits().train()
    model(torch.rand(32, 1, 8, 8))  # non-trivial running statistics
    model.drop.eval()  # a sub-module deliberately in another mode comes back as it was
    return model, _snapshot(model), [m.training for m in model.modules()]


@pytest.mark.parametrize("kind", ["robust", "rand", "det"])
def test_a_batchnorm_source_in_train_mode_is_unchanged_by_a_construction(
        tmp_path: Path, kind: str) -> None:
    model, before, modes = _bn_model()
    assert before["body.1.num_batches_tracked"] == 1
    kw = {"steps": 3, "step_size": 0.1} | ({"eps": 1.0} if kind != "robust" else {})
    construct_dataset(kind, source_checkpoint=model, dataset="digits", out=tmp_path / kind,  # type: ignore[arg-type]
                      n=20, shard_size=10, **kw)  # type: ignore[arg-type]
    _assert_untouched(model, before, modes)


def test_the_probes_and_the_algorithms_leave_a_batchnorm_model_unchanged() -> None:
    model, before, modes = _bn_model()
    x = torch.rand(6, 1, 8, 8)
    assert check_features(model, x) == 12
    robustify(model, x, torch.zeros(6, dtype=torch.long), x0=torch.rand(6, 1, 8, 8), steps=4,
              step_size=0.2, optimizer="polyak", tol=0.5, batch_size=4)
    relabel(model, x, torch.arange(6), mode="rand", num_classes=10,
            config=RelabelConfig(eps=1.0, steps=3, step_size=0.3),
            generator=torch.Generator().manual_seed(0))
    _assert_untouched(model, before, modes)


def test_provenance_names_the_optimizer_and_stats_carry_the_median(tmp_path: Path) -> None:
    model, _, _ = _bn_model()
    out = construct_dataset("robust", source_checkpoint=model, dataset="digits",
                            out=tmp_path / "c", n=24, shard_size=10, steps=6, step_size=0.3,
                            optimizer="polyak", tol=0.05)
    prov = json.loads((out / "card.json").read_text())["provenance"]
    assert prov["optimizer"]["name"] == "polyak" and prov["optimizer"]["description"] == OPTIMIZERS["polyak"]
    assert prov["parameters"]["optimizer"] == "polyak" and prov["parameters"]["tol"] == 0.05
    s = load_file(str(out / "samples.safetensors"))
    rel = s["rep_rel"]
    assert prov["stats"]["rep_rel_median"] == pytest.approx(float(torch.quantile(rel.double(), 0.5)))
    assert prov["stats"]["grad_evals_mean"] == pytest.approx(float(s["grad_evals"].double().mean()))
    assert (s["grad_evals"] <= 6).all() and (s["best_step"] <= 6).all()
    paper = construct_dataset("robust", source_checkpoint=model, dataset="digits",
                              out=tmp_path / "p", n=24, shard_size=10, steps=6, step_size=0.3)
    p2 = json.loads((paper / "card.json").read_text())["provenance"]
    assert p2["optimizer"]["name"] == "paper" and p2["key"] != prov["key"]
    assert "Figure 5" in p2["optimizer"]["returns"]


def test_provenance_names_the_target_rule(tmp_path: Path) -> None:
    model, _, _ = _bn_model()
    for kind in ("rand", "det"):
        out = construct_dataset(kind, source_checkpoint=model, dataset="digits",  # type: ignore[arg-type]
                                out=tmp_path / kind, n=200, shard_size=100, steps=1, eps=0.5)
        prov = json.loads((out / "card.json").read_text())["provenance"]
        assert prov["target_rule"] == TARGET_RULES[kind] and "optimizer" not in prov
        s = load_file(str(out / "samples.safetensors"))
        rate = prov["stats"]["target_is_label_rate"]
        assert rate == pytest.approx(float((s["y"] == s["source_label"]).double().mean()))
        assert rate == 0.0 if kind == "det" else 0.04 < rate < 0.18  # about 1/C = 0.1 of 200


def test_resolve_config_defaults_per_optimizer_and_refusals() -> None:
    paper = resolve_config("robust", "cifar10")
    assert isinstance(paper, RobustifyConfig)
    assert (paper.optimizer, paper.steps, paper.step_size, paper.tol) == ("paper", 1000, 0.1, 0.0)
    cos = resolve_config("robust", "mnist5k", optimizer="polyak")
    assert isinstance(cos, RobustifyConfig) and cos.optimizer == "polyak"
    assert cos.steps == round(1000 * POLYAK_DEFAULTS["steps_factor"])
    assert cos.step_size == pytest.approx(0.1 * POLYAK_DEFAULTS["step_size_factor"])
    noise = resolve_config("nonrobust", "restricted-imagenet", optimizer="polyak", init="noise")
    assert isinstance(noise, RobustifyConfig)
    assert noise.steps == round(20_000 * POLYAK_DEFAULTS["steps_factor"])
    for name, kw in (("optimizer", {"optimizer": "polyak"}), ("tol", {"tol": 0.1})):
        with pytest.raises(AdvlabError, match=f"^{name}: .*no {name} for rand/det") as e:
            resolve_config("det", "mnist5k", **kw)  # type: ignore[arg-type]
        assert e.value.param == name
    with pytest.raises(AdvlabError, match="^optimizer: got 'sgd'"):
        resolve_config("robust", "mnist5k", optimizer="sgd")
