"""``advlab datasets list | show NAME | export NAME --out DIR``."""

from __future__ import annotations

import click

from advlab.cli.options import (
    AdvlabGroup,
    data_root_option,
    echo_json,
    force_option,
    json_option,
    out_option,
)


@click.group(cls=AdvlabGroup)
def command() -> None:
    """Describe and export datasets.

    NAME is BASE[:A-B][[START:STOP]] (e.g. mnist5k:0-6[:500], fashion-mnist[:10000]),
    celeba:ATTRIBUTE, or a folder (an advlab artifact or a released CIFAR_ims/CIFAR_lab
    dataset). See docs/datasets.md.
    """


@command.command("list")
@json_option
def list_(as_json: bool) -> None:
    """List the registered datasets (nothing is loaded)."""
    from advlab.data.registry import REGISTRY, info_dict

    rows = [info_dict(i) for i in REGISTRY.values()]
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        sizes = f"{r['n_train'] or '?'}/{r['n_test'] or '?'}"
        shape = "x".join(str(s) for s in r["shape"])
        root = "  needs --data-root" if r["needs_data_root"] else ""
        click.echo(f"{r['name']:<20} {shape:<10} {sizes:<13} {len(r['classes']):>2} classes{root}")
        click.echo(f"{'':<20} {r['description']}")


@command.command("show")
@click.argument("name")
@data_root_option
@json_option
def show(name: str, data_root: str | None, as_json: bool) -> None:
    """Shape, split sizes, classes and per-class counts of NAME (reads the labels)."""
    from advlab.data.registry import describe

    d = describe(name, data_root)
    if as_json:
        echo_json(d)
        return
    click.echo(f"{d['name']}: {'x'.join(str(s) for s in d['shape'])} ({d['dtype']}), "
               f"{d['n_train']} train / {d['n_test']} test, {len(d['classes'])} classes")
    if "description" in d:
        click.echo(f"  {d['description']}\n  source: {d['source']}")
    width = max(5, *(len(c) for c in d["classes"]))
    click.echo(f"  {'class':<{width}}  {'train':>7}  {'test':>7}")
    test = d["per_class_test"] or [0] * len(d["classes"])
    for c, a, b in zip(d["classes"], d["per_class_train"], test, strict=True):
        click.echo(f"  {c:<{width}}  {a:>7}  {b:>7}")


@command.command("export")
@click.argument("name")
@out_option()
@data_root_option
@force_option
@json_option
def export(name: str, out: str, data_root: str | None, force: bool, as_json: bool) -> None:
    """Write NAME (both splits) as a dataset artifact in --out.

    Real images are stored as uint8 (their pixel values are integers), float data
    (digits, constructed or released sets) as float32; loading the artifact gives the
    same tensors as loading NAME.
    """
    from advlab.data.export import export_dataset

    result = export_dataset(name, out, data_root=data_root, force=force)
    if as_json:
        echo_json(result)
    else:
        click.echo(f"wrote {result['out']}: {result['n_train']} train / {result['n_test']} test, {result['dtype']}")
