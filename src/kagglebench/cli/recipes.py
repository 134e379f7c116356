"""`kagglebench recipes`: list the built-in recipes, one line each (name, model, description)."""

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
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def _show(name: str, as_json: bool) -> None:
    from kagglebench.config import load_recipe, recipe_to_dict

    d = recipe_to_dict(load_recipe(name))
    if as_json:
        print(json.dumps(d, indent=2))
        return
    print(f"# {d.pop('name')}: {d.pop('description')}")
    for section, values in d.items():
        print(f"\n[{section}]")
        for key, value in values.items():
            print(f"{key} = {json.dumps(value)}")


def run(args: argparse.Namespace) -> int:
    from kagglebench.config import list_recipes, load_recipe

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
