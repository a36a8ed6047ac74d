"""``packcheck bench scenes``: write the packing-station-like benchmark set.

The set is procedural (:func:`packcheck.synth.make_scene_manifest`): every
product at 3 colour variants, each photographed on a bench or in a box with a
tilted camera, uneven light, hands, clutter and JPEG noise; one listing image
per variant. It is written in the real-data manifest format, so
``packcheck bench accuracy`` and ``packcheck calibrate`` read it unchanged.
"""
from __future__ import annotations

import time
from pathlib import Path


def cli_command():
    import click

    from ..cli import CONTEXT, handle_errors

    @click.command("scenes", context_settings=CONTEXT)
    @click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
                  help="Folder to write manifest.csv, iconic/ and photos/ into.")
    @click.option("--products", default=12, show_default=True, type=click.IntRange(1, 12),
                  help="Products (at most 12).")
    @click.option("--variants", default=3, show_default=True, type=click.IntRange(1),
                  help="Colour variants per product (at most 3 with every product; see the error otherwise).")
    @click.option("--photos", default=6, show_default=True, type=click.IntRange(1),
                  help="Packing photos per variant.")
    @click.option("--seed", default=0, show_default=True, help="Seed: the same seed writes the same set.")
    @handle_errors
    def scenes(out_dir, products, variants, photos, seed):
        """Generate the synthetic packing-station benchmark set (deterministic).

        \b
        Example:
            packcheck bench scenes --out scenes/
            packcheck bench accuracy --manifest scenes/manifest.csv
        """
        from ..synth import list_products, list_variants, make_scene_manifest

        chosen = list_products()[:products]
        fewest = min(chosen, key=lambda p: len(list_variants(p)))
        if variants > len(list_variants(fewest)):
            raise click.BadParameter(
                f"{variants} is more than the {len(list_variants(fewest))} colour variants of '{fewest}' "
                f"(with --products {products} at most {len(list_variants(fewest))})", param_hint="--variants")
        t = time.perf_counter()
        path = make_scene_manifest(out_dir, n_products=products, n_variants=variants,
                                   photos_per_class=photos, seed=seed)
        click.echo(f"wrote {path} ({products * variants} classes, {products * variants * photos} photos) "
                   f"in {time.perf_counter() - t:.0f} s")

    return scenes
