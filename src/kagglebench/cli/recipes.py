"""`kagglebench recipes`: list the built-in recipes, show one, or the seed reproduction table."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "recipes", parents=[common], help="list the built-in training recipes",
        description="List the built-in recipes: one per system in the seed reports, plus `demo-cnn` "
                    "(the demo competition) and `fast` (an airbench-style speed run). Train one with "
                    "`kagglebench train NAME`, change any setting with key=value (e.g. `epochs=5`, "
                    "`optim.weight_decay=1e-4`), or write your own TOML file that starts with "
                    "`base = \"NAME\"` and changes only what differs.")
    p.add_argument("name", nargs="?", metavar="NAME",
                   help="show this recipe's full settings (every key, as TOML-style sections)")
    p.add_argument("--table", action="store_true",
                   help="each seed system: the report's accuracy and Kaggle score beside kagglebench's "
                        "measured figures (this workspace's finished runs on real data; the demo)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def _parameters(recipe) -> tuple[int, int]:
    """(parameters, classes) of the recipe's model for its seed's data (its classes, else 10)."""
    import dataclasses

    from kagglebench.models import build_model, count_parameters
    from kagglebench.reproduction import seed_system

    seed = seed_system(recipe.name)
    classes = len(recipe.data.classes) or (seed.classes if seed else 10)
    cfg = dataclasses.replace(recipe.model, pretrained=False)   # the same architecture, no download
    return count_parameters(build_model(cfg, classes, recipe.data.input_size or None)), classes


def _show(name: str, as_json: bool) -> None:
    from kagglebench.config import load_recipe, recipe_to_dict

    recipe = load_recipe(name)
    params, classes = _parameters(recipe)
    d = recipe_to_dict(recipe)
    if as_json:
        print(json.dumps({**d, "parameters": params, "parameters_classes": classes}, indent=2))
        return
    print(f"# {d.pop('name')}: {d.pop('description')}")
    print(f"# model {recipe.model.name}: {params:,} parameters with {classes} classes")
    for section, values in d.items():
        print(f"\n[{section}]")
        for key, value in values.items():
            print(f"{key} = {json.dumps(value)}")


def _workspace(explicit: str | None):
    from kagglebench.errors import UserError
    from kagglebench.workspace import find_workspace

    try:
        return find_workspace(explicit)
    except UserError:
        if explicit:
            raise
        return None   # outside a workspace: nothing measured on real data here


def _table(args: argparse.Namespace) -> None:
    from kagglebench.reproduction import demo_measured, table_rows

    rows = table_rows(_workspace(getattr(args, "workspace", None)))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    cols = [("SEED", "seed"), ("RECIPE", "recipe"), ("DATA", "data"), ("REPORT", "report_acc"),
            ("REPORT KAGGLE", "report_kaggle"), ("KAGGLEBENCH, REAL DATA", "measured_real"),
            ("KAGGLEBENCH, DEMO", "measured_demo")]
    cells = [[str(r[k] if r[k] is not None else "-") for _, k in cols] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (h, _) in enumerate(cols)]
    print("  ".join(h.ljust(w) for (h, _), w in zip(cols, widths)).rstrip())
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths)).rstrip())
    setup = demo_measured().get("setup")
    if setup:
        print(f"\nDemo: {setup['summary']}")


def run(args: argparse.Namespace) -> int:
    from kagglebench.config import list_recipes, load_recipe

    if args.table:
        _table(args)
        return 0
    if args.name:
        _show(args.name, args.json)
        return 0
    rows = [(name, load_recipe(name).model.name, desc) for name, desc in list_recipes()]
    if args.json:
        print(json.dumps([{"name": n, "model": m, "description": d} for n, m, d in rows], indent=2))
        return 0
    w_name = max(len("RECIPE"), *(len(n) for n, _, _ in rows))
    w_model = max(len("MODEL"), *(len(m) for _, m, _ in rows))
    print(f"{'RECIPE':<{w_name}}  {'MODEL':<{w_model}}  DESCRIPTION")
    for n, m, d in rows:
        print(f"{n:<{w_name}}  {m:<{w_model}}  {d}")
    return 0
