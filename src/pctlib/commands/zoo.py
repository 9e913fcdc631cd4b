"""``pctlib publish-zoo``: write the zoo a params set trained as the repository's reference zoo (verified after)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import UsageError, check_writable, register


def cmd_publish_zoo(args: argparse.Namespace) -> int:
    from ..paths import find_project_root
    from ..reference_zoo import REFERENCE_FOLDER, publish_trained, verify
    from ..zoo import ZooError

    root = Path(args.root).resolve() if args.root else find_project_root(Path.cwd())
    out = Path(args.out) if args.out else root / REFERENCE_FOLDER
    check_writable(out.parent, "--out", folder=True)
    try:
        manifest = publish_trained(root, args.params, out)
        verify(out)
    except ZooError as exc:
        raise UsageError(str(exc)) from None
    size = sum(p.stat().st_size for p in out.iterdir())
    print(f"{out}: {len(manifest['models'])} models, {len(manifest['files'])} files, {size / 1e6:.2f} MB, "
          f"verified")
    return 0


@register("publish-zoo", "write the models a params set trained (04_train_run) as the reference zoo")
def _publish_zoo_cmd():
    def configure(p: argparse.ArgumentParser) -> None:
        p.add_argument("params", help="the name of the params set that trained the zoo (e.g. zoo)")
        p.add_argument("--out", help="the folder to write (default: zoo/reference of the project)")
        p.add_argument("--root", help="the project (default: the one at or above the working directory)")

    return configure, cmd_publish_zoo
