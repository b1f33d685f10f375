"""``serlive predict`` past one machine's defaults: the Dask cluster, ``--output`` and ``--resume``.

Why apart from :mod:`serlive.cli.commands`: the predict command reads the same either way
(analyse in input order, write each record, count it); what differs is where the results come
from (a cluster, this machine's workers, the serial ``--segments`` loop) and where they go (standard
output, or a file with its ledger).  Those choices live here, beside the command and not in it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def predict_results(args: argparse.Namespace, model: Any, paths: list[Path], seg_cfg: Any) -> Iterator[Any]:
    """Each file's ``(Analysis or why it failed, (segments, centred windows) or None)``, in input order.

    On a Dask cluster (``--cluster`` or ``$SERLIVE_CLUSTER``), else here: with ``--segments`` one
    file at a time (the segmenter is fed as each analysis goes), otherwise on ``--jobs`` workers.
    """
    from serlive.files.parallel import analyse_files, default_jobs
    from serlive.files.segmented import analyse_files_segmented

    if args.cluster:
        yield from _cluster_results(args, model, paths, seg_cfg)
    elif seg_cfg is not None:
        yield from analyse_files_segmented(paths, model, seg_cfg, args.session)
    else:
        jobs = args.jobs or default_jobs()
        for a in analyse_files(paths, model, jobs, keep_embeddings=args.session):
            yield a, None


def _cluster_results(args: argparse.Namespace, model: Any, paths: list[Path], seg_cfg: Any) -> Iterator[Any]:
    """:func:`predict_results` on Dask; the client (and a ``local:N`` cluster) closes with the generator."""
    from serlive.files.cluster import analyse_files_on_cluster, check_paths_visible, open_client

    with open_client(args.cluster) as client:
        warning = check_paths_visible(client, [str(p) for p in paths])
        if warning:
            print(f"serlive predict: {warning}", file=sys.stderr)
        results = analyse_files_on_cluster(
            client, paths, model, keep_embeddings=args.session, seg_cfg=seg_cfg
        )
        for r in results:
            yield r if seg_cfg is not None else (r, None)


def open_output(args: argparse.Namespace, model: Any, preamble: str) -> Any:
    """``--output``'s :class:`~serlive.cli.resume.ResultsFile`, opened (and cut back with ``--resume``)."""
    from serlive.cli.resume import ResultsFile

    settings = {
        "format": args.format,
        "timeline": args.timeline,
        "segments": args.segments,
        "min_pause": args.min_pause,
        "max_segment": args.max_segment,
        "labels": list(args.labelset.names),
        "model_sha256": model.sha256,
    }
    results = ResultsFile(Path(args.output), settings)
    results.open(args.resume, preamble)
    return results


def check_scale_options(args: argparse.Namespace) -> str | None:
    """Resolve ``--format``, ``--cluster`` and ``$SERLIVE_CLUSTER``; the usage error, if any."""
    from serlive.cli.resume import output_format

    args.format = output_format(args.format, args.output)
    if args.resume and not args.output:
        return "--resume needs --output FILE (the file to go on with)"
    if args.resume and args.session:
        return "--session judges all the files together, so it cannot resume part of them"
    spec = args.cluster or os.environ.get("SERLIVE_CLUSTER") or None
    args.cluster = None
    if spec:
        from serlive.files.cluster import parse_cluster

        try:
            args.cluster = parse_cluster(spec)
        except ValueError as exc:
            return str(exc)
    return None
