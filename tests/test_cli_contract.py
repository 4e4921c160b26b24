"""The CLI contract, as a table: every user error is one line on stderr starting with
``advlab: error:``, names the flag (or argument) at fault, exits with code 2, shows no
traceback, and creates nothing under ``--out``.

Every command is covered. The cases run in-process (``advlab.cli.main``), so the table is
fast; ``test_data_cli.py`` and the recipe tests check a few of them in a real process.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from advlab.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")

OUT, FILE, CKPT = "{out}", "{file}", "{ckpt}"
TRAIN = ["train", "--dataset", "digits", "--model", "mlp", "--out", OUT]
EVAL = ["evaluate", "--checkpoint", CKPT, "--dataset", "digits", "--out", OUT]
ATTACK = ["attack", "--min-norm", "--checkpoint", CKPT, "--dataset", "digits", "--out", OUT]
CONSTRUCT = ["construct", "rand", "--source", CKPT, "--dataset", "digits", "--out", OUT]
ILYAS = ["reproduce", "ilyas2019", "--out", OUT]
RW = ["reproduce", "richardson2020", "--out", OUT]

#: (argv, text the error line must contain)
CASES: list[tuple[list[str], str]] = [
    # the command line itself
    (["nope"], "No such command 'nope'"),
    (["train", "--bogus"], "No such option '--bogus'"),
    (["reproduce", "nope"], "No such command 'nope'"),
    # datasets
    (["datasets", "show", "nope"], "nope"),
    (["datasets", "show", "mnist5k:0-0"], "0-0"),
    (["datasets", "show", "mnist5k:3-x"], "3-x"),
    (["datasets", "show", "digits[5:x]"], "digits[5:x]"),
    (["datasets", "show", "cifar10", "--data-root", "/nonexistent/advlab"], "/nonexistent/advlab"),
    (["datasets", "export", "digits", "--out", FILE], "--out"),
    (["datasets", "export", "nope", "--out", OUT], "nope"),
    (["datasets", "export", "digits"], "Missing option '--out'"),
    # train
    (["train", "--dataset", "digits", "--model", "resnet19", "--out", OUT], "resnet19"),
    (["train", "--dataset", "nope", "--model", "mlp", "--out", OUT], "nope"),
    (["train", "--model", "mlp", "--out", OUT], "--dataset: missing"),
    ([*TRAIN, "--epochs", "0"], "--epochs"),
    ([*TRAIN, "--epochs", "-1"], "--epochs"),
    ([*TRAIN, "--lr", "inf"], "--lr"),
    ([*TRAIN, "--lr", "nan"], "--lr"),
    ([*TRAIN, "--lr", "-1"], "--lr"),
    ([*TRAIN, "--momentum", "nan"], "--momentum"),
    ([*TRAIN, "--momentum", "1.5"], "--momentum"),
    ([*TRAIN, "--checkpoint-seconds", "-5"], "--checkpoint-seconds"),
    ([*TRAIN, "--seed", str(2**70)], "--seed"),
    ([*TRAIN, "--seed", "-1"], "--seed"),
    ([*TRAIN, "--batch-size", "0"], "--batch-size"),
    ([*TRAIN, "--weight-decay", "-1"], "--weight-decay"),
    ([*TRAIN, "--lr-drop", "1,x"], "--lr-drop"),
    ([*TRAIN, "--lr-drop-factor", "0"], "--lr-drop-factor"),
    ([*TRAIN, "--adv", "l3:1"], "--adv"),
    ([*TRAIN, "--adv", "l2:-1"], "--adv"),
    ([*TRAIN, "--adv", "l2:abc"], "--adv"),
    ([*TRAIN, "--adv", "l2:1", "--adv-steps", "0"], "--adv-steps"),
    ([*TRAIN, "--adv", "l2:1", "--adv-step-size", "inf"], "--adv-step-size"),
    ([*TRAIN, "--trades", "6"], "--trades"),
    ([*TRAIN, "--model-kwargs", "hidden=1000000000"], "hidden"),
    ([*TRAIN, "--model-kwargs", "depth"], "--model-kwargs"),
    ([*TRAIN, "--optimizer", "rmsprop"], "--optimizer"),
    ([*TRAIN, "--augment", "rotate"], "--augment"),
    ([*TRAIN, "--robust-eval-subset", "-1"], "--robust-eval-subset"),
    ([*TRAIN, "--set", "nope=1"], "--set nope"),
    ([*TRAIN, "--set", "seed=1"], "--set seed"),
    ([*TRAIN, "--set", "lr=abc"], "--set lr"),
    ([*TRAIN, "--config", "/nonexistent/config.json"], "/nonexistent/config.json"),
    (["train", "--dataset", "digits", "--model", "mlp", "--out", FILE], "--out"),
    # evaluate
    (["evaluate", "--checkpoint", "/nonexistent/ckpt", "--dataset", "digits", "--out", OUT], "/nonexistent/ckpt"),
    ([*EVAL, "--eps", "-1"], "--eps"),
    ([*EVAL, "--eps", "abc"], "--eps"),
    ([*EVAL, "--eps", "1/0"], "--eps"),
    ([*EVAL, "--eps", "0.5,inf"], "--eps"),
    ([*EVAL, "--steps", "-1"], "--steps"),
    ([*EVAL, "--restarts", "0"], "--restarts"),
    ([*EVAL, "--n", "0"], "--n"),
    ([*EVAL, "--step-size", "inf"], "--step-size"),
    ([*EVAL, "--norm", "l3"], "--norm"),
    ([*EVAL, "--attack", "pgd"], "--attack"),
    ([*EVAL, "--eps", "0.5", "--attack", "autoattack", "--steps", "5"], "--steps"),
    ([*EVAL, "--eps", "0.5", "--attack", "autoattack-apgd", "--step-size", "0.1"], "--step-size"),
    (["evaluate", "--checkpoint", CKPT, "--dataset", "mnist5k", "--out", OUT], "shape"),
    (["evaluate", "--checkpoint", CKPT, "--dataset", "digits", "--out", FILE], "--out"),
    # attack
    (["attack", "--checkpoint", CKPT, "--dataset", "digits", "--out", OUT], "--min-norm"),
    ([*ATTACK, "--method", "pgd"], "--method"),
    ([*ATTACK, "--steps", "0"], "--steps"),
    ([*ATTACK, "--box", "0,2"], "--box"),
    ([*ATTACK, "--save", FILE], "--save"),
    (["attack", "--min-norm", "--checkpoint", "/nonexistent/ckpt", "--dataset", "digits", "--out", OUT],
     "/nonexistent/ckpt"),
    # construct
    (["construct", "foo", "--source", CKPT, "--dataset", "digits", "--out", OUT], "foo"),
    (["construct", "rand", "--source", "/nonexistent/ckpt", "--dataset", "digits", "--out", OUT],
     "/nonexistent/ckpt"),
    ([*CONSTRUCT, "--step-size", "inf"], "--step-size"),
    ([*CONSTRUCT, "--eps", "-1"], "--eps"),
    ([*CONSTRUCT, "--steps", "-5"], "--steps"),
    ([*CONSTRUCT, "--n", "0"], "--n"),
    ([*CONSTRUCT, "--shard-size", "0"], "--shard-size"),
    (["construct", "robust", "--source", CKPT, "--dataset", "digits", "--out", OUT, "--noise-std", "nan"],
     "--noise-std"),
    # reproduce
    ([*ILYAS, "--set", "bogus=1"], "--set bogus"),
    ([*ILYAS, "--set", "n_train=abc"], "--set n_train"),
    ([*ILYAS, "--set", "n_construct=0"], "--set n_construct"),
    ([*ILYAS, "--set", "eval_eps=0.5,inf"], "--set eval_eps"),
    ([*ILYAS, "--set", "dataset=cifar10"], "--set dataset"),
    ([*ILYAS, "--set", "device=cpu"], "--set device"),
    ([*ILYAS, "--set", "noequals"], "--set"),
    ([*ILYAS, "--set", "constructed_train.lr=-1"], "constructed_train.lr"),
    ([*ILYAS, "--scale", "huge"], "--scale"),
    ([*ILYAS, "--figure-format", "gif"], "--figure-format"),
    ([*ILYAS, "--config", "/nonexistent/config.json"], "/nonexistent/config.json"),
    ([*RW, "--set", "seed=1"], "--set seed"),
    ([*RW, "--pairs", "3-3"], "--pairs"),
    ([*RW, "--dataset", "svhn"], "--dataset"),
    ([*RW, "--set", "cnn_widths=0"], "--set cnn_widths"),
    (["reproduce", "ilyas2019", "--out", FILE], "--out"),
    # theory and demo
    (["theory", "nope", "--out", OUT], "KIND"),
    (["theory", "gaussian", "--out", FILE], "--out"),
    (["theory", "gaussian", "--out", OUT, "--set", "gaussian.mc_n=abc"], "--set gaussian.mc_n"),
    (["theory", "gaussian", "--out", OUT, "--set", "bogus=1"], "--set bogus"),
    (["demo", "--scale", "huge", "--out", OUT], "--scale"),
    (["demo", "--out", FILE], "--out"),
    # models
    (["models", "import", "--from", "robustness", "/nonexistent/model.pt", "--out", OUT], "/nonexistent/model.pt"),
    (["models", "import", "--from", "nope", "x", "--out", OUT], "--from"),
]


@pytest.fixture(scope="module")
def digits_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny MLP on 8x8 digits (seconds to train)."""
    from advlab.train import TrainConfig, train

    out = tmp_path_factory.mktemp("digits_mlp")
    train(TrainConfig(dataset="digits", model="mlp", epochs=1, batch_size=64, seed=0,
                      checkpoint_every_seconds=1e9), out)
    return out


def test_the_table_covers_every_command_with_enough_cases() -> None:
    commands = {argv[0] for argv, _ in CASES}
    assert commands >= {"datasets", "train", "evaluate", "attack", "construct", "reproduce",
                        "theory", "demo", "models"}
    assert len({tuple(a) for a, _ in CASES}) == len(CASES) >= 60


@pytest.mark.parametrize("argv, needle", CASES, ids=[" ".join(a)[:70] for a, _ in CASES])
def test_user_error_is_one_line_exit_2_and_writes_nothing(
        argv: list[str], needle: str, digits_ckpt: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    out, existing = tmp_path / "out", tmp_path / "a-file"
    existing.write_text("keep me")
    args = [a.replace(OUT, str(out)).replace(FILE, str(existing)).replace(CKPT, str(digits_ckpt))
            for a in argv]
    with pytest.raises(SystemExit) as e:
        main(args)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert e.value.code == 2, err
    assert len(lines) == 1 and lines[0].startswith("advlab: error: "), err
    assert needle in lines[0] and "Traceback" not in err, err
    assert not out.exists() and existing.read_text() == "keep me"
