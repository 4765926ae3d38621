"""What the VastModelZOO migration found: per library, models and vdsp fields by verdict.

Reads the shipped manifests: a model migrated by `zoo import vmz` carries an `upstream` block
listing every field where the upstream files differ from zoo's rendering. A vdsp field that is
not listed is equal; so "equal" is the number of fields of zoo's build_in vdsp file minus the
listed vdsp fields. Build YAML settings are counted apart.
Run: .venv/bin/python scripts/vmz_summary.py
"""

from __future__ import annotations

import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from zoo.deploy.audit import flatten
from zoo.deploy.render import render_model
from zoo.manifest.catalog import load_catalog
from zoo.migrate.folder import read_document

VERDICTS = ("equal", "zoo right", "upstream right", "format")


def main() -> None:
    models = [m for m in load_catalog().models.values() if m.upstream is not None]
    per_library: dict[str, Counter[str]] = defaultdict(Counter)
    build: dict[str, Counter[str]] = defaultdict(Counter)
    with tempfile.TemporaryDirectory(prefix="zoo-vmz-") as scratch:
        for model in models:
            counts = per_library[model.source.library]
            counts["models"] += 1
            assert model.upstream is not None
            vdsp = [f for f in model.upstream.files if "vdsp_params" in f]
            listed = [f for f in model.upstream.fields if "vdsp_params" in f.file]
            for found in model.upstream.fields:
                (counts if "vdsp_params" in found.file else build[model.source.library])[found.verdict.value] += 1
            if vdsp:
                counts["with vdsp file"] += 1
                rendered = render_model(model, out_dir=Path(scratch), profile="build_in")
                document = next(read_document(f) for f in rendered.files if f.name.endswith("vdsp_params.json"))
                counts["equal"] += len(flatten(document)) - len(listed)
    print(f"{'library':12} {'models':>6} {'w/ vdsp':>7} " + " ".join(f"{v:>14}" for v in VERDICTS)
          + "   build settings (upstream right / zoo right)")
    for library, counts in sorted(per_library.items()):
        print(f"{library:12} {counts['models']:6} {counts['with vdsp file']:7} "
              + " ".join(f"{counts[v]:14}" for v in VERDICTS)
              + f"   {build[library]['upstream right']} / {build[library]['zoo right']}")
    total = sum(per_library.values(), Counter())
    print(f"{'all':12} {total['models']:6} {total['with vdsp file']:7} " + " ".join(f"{total[v]:14}" for v in VERDICTS))


if __name__ == "__main__":
    main()
