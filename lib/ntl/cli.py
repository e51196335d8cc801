"""``python -m ntl``: run the chain, score new data (or partition it for the Dask path),
monitor it, record inspection outcomes, retrain safely, or serve a run's models as a web app and
JSON API."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ntl.errors import NtlError, ParameterError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: run, score, partition, serve, monitor, outcomes, retrain, champion,
    rollback."""
    parser = argparse.ArgumentParser(prog="python -m ntl", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="execute notebooks 01 -> 04 with papermill")
    run.add_argument("--params", help="YAML parameter file (e.g. params/default.yaml)")
    run.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one parameter (repeatable), e.g. --set seed=7",
    )
    run.add_argument("--from", dest="start", help="first notebook, by number (02) or name")
    run.add_argument("--to", dest="stop", help="last notebook, by number (03) or name")
    run.add_argument("--no-html", action="store_true", help="skip the HTML copies of reports")
    run.add_argument(
        "--show-code",
        action="store_true",
        help="keep the code cells in the HTML reports (hidden by default; the .ipynb keeps them)",
    )

    score = commands.add_parser("score", help="score new meter data with a run's artifacts")
    score.add_argument(
        "input",
        help="meter data file (SGCC wide, long or interval layout; csv, csv.gz, parquet)",
    )
    score.add_argument(
        "--artifacts",
        help="artifacts folder of a finished run (default: the champion, else artifacts/default)",
    )
    score.add_argument("--out", default="inspection_list.csv", help="ranked list to write (CSV)")
    score.add_argument("--drift-out", help="drift report JSON (default: <out>_drift.json)")
    score.add_argument(
        "--layout", default="auto", choices=["auto", "wide", "long", "wide-interval"]
    )
    score.add_argument("--id-column", default="CONS_NO")
    score.add_argument("--label-column", default="FLAG")
    score.add_argument("--date-column", default="date", help="long layout: the date column")
    score.add_argument("--value-column", default="kwh", help="long layout: the reading column")
    score.add_argument(
        "--period-column", help="long interval layout: the interval number in the day (1..48)"
    )
    score.add_argument(
        "--day-code-origin",
        help="long interval layout: the date column holds DDDHH codes (Irish trial); day 1 is "
        "this date, e.g. 2009-01-01",
    )
    score.add_argument(
        "--timezone",
        help="interval data: the utility's time zone, e.g. Europe/London (default: the clock "
        "the stamps are written in)",
    )
    score.add_argument(
        "--interval-stamps",
        choices=["start", "end"],
        help="interval data: a stamp opens (start, default) or closes (end) its interval",
    )
    score.add_argument(
        "--max-missing-share",
        type=float,
        help="interval data: a day missing more of its intervals is missing (default 0.1)",
    )
    score.add_argument(
        "--max-daily-kwh",
        type=float,
        help="readings above this many kWh a day are implausible and set missing (default 100000)",
    )
    score.add_argument(
        "--reasons-for-top",
        type=int,
        metavar="N",
        help="write reasons for the N highest-risk customers (default: the high and medium tiers)",
    )
    score.add_argument(
        "--dask-scheduler",
        default="",
        metavar="ADDRESS",
        help="score on Dask: 'local' (a cluster on this machine) or a scheduler address such as "
        "tcp://10.0.0.5:8786; the input may then be a partitioned dataset folder (default: in "
        "memory)",
    )
    score.add_argument("--quiet", action="store_true", help="no progress bar")

    partition = commands.add_parser(
        "partition", help="write a meter export as a partitioned parquet dataset, in pieces"
    )
    partition.add_argument(
        "input", help="meter data file (wide, long or interval layout; csv, csv.gz, parquet)"
    )
    partition.add_argument("out", help="dataset folder to write (a new folder)")
    partition.add_argument(
        "--rows-per-part", type=int, help="customers per part (default: ~64 MB of readings)"
    )
    partition.add_argument("--id-column", default="CONS_NO")
    partition.add_argument("--label-column", default="FLAG")
    partition.add_argument("--min-days", type=int, default=14)
    partition.add_argument("--layout", default="auto", help="auto, wide, long or wide-interval")
    partition.add_argument("--date-column", default="date")
    partition.add_argument("--value-column", default="kwh")
    partition.add_argument("--period-column", help="interval number column (1..48), if any")
    partition.add_argument("--timezone", help="interval data: the utility's time zone")
    partition.add_argument("--interval-stamps", default="start", help="start or end")
    partition.add_argument("--max-daily-kwh", type=float, default=100000.0)

    serve = commands.add_parser("serve", help="web app and JSON API over a run's models")
    serve.add_argument(
        "--artifacts",
        help="artifacts folder of a finished run (default: the champion, else artifacts/default)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--token-file",
        help="file whose first line is the API token (else the NTL_API_TOKEN variable); "
        "required for any address other than loopback",
    )
    serve.add_argument(
        "--max-upload-mb", type=float, default=250, help="largest upload accepted (413 above)"
    )
    serve.add_argument(
        "--keep-results", type=int, default=3, help="scored uploads kept for browsing"
    )
    serve.add_argument(
        "--scoring-processes",
        type=int,
        default=None,
        help="worker processes scoring single customers beside the app's own (0: none, the app "
        "scores them itself; default: 2, or 0 on a single core)",
    )
    serve.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info"]
    )
    _add_operations(commands)
    return parser


def _add_operations(commands: argparse._SubParsersAction) -> None:
    """monitor, outcomes add, retrain, champion and rollback (ntl.monitor, .outcomes, .retrain)."""
    from ntl.monitor import add_monitor_arguments

    add_monitor_arguments(
        commands.add_parser("monitor", help="drift and performance of a new month; exit 3: retrain")
    )
    outcomes = commands.add_parser("outcomes", help="inspection outcomes, fed back as labels")
    actions = outcomes.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="validate and record an outcome file (CSV)")
    add.add_argument(
        "file", help="CSV: customer, inspection_date, outcome (theft / no theft), notes"
    )
    add.add_argument(
        "--artifacts",
        help="run whose customers are the known ones (default: the champion, else "
        "artifacts/default)",
    )
    actions.add_parser("show", help="how many outcomes are recorded")

    retrain = commands.add_parser(
        "retrain", help="train a challenger, compare it with the champion, promote if not worse"
    )
    retrain.add_argument("--data", required=True, help="meter data file to train on")
    retrain.add_argument(
        "--params", default="params/default.yaml", help="YAML parameter file for the chain"
    )
    retrain.add_argument(
        "--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
        help="override one parameter (repeatable)",
    )  # fmt: skip
    retrain.add_argument("--no-html", action="store_true", help="skip the HTML copies of reports")
    commands.add_parser("champion", help="show which run serves")
    commands.add_parser("rollback", help="return to the previous champion")


def _artifacts_or_default(given: str | None) -> str | Path:
    """--artifacts as given, else the default run (the champion, else artifacts/default),
    said on stderr so the user knows which models answered."""
    from ntl.champion import default_artifacts

    if given:
        return given
    chosen = default_artifacts()
    print(f"run: {chosen} (no --artifacts: the champion, else artifacts/default)", file=sys.stderr)
    return chosen


def _score(args: argparse.Namespace) -> int:
    from ntl.score import score_file

    artifacts = _artifacts_or_default(args.artifacts)
    read_options = {
        "layout": args.layout,
        "id_column": args.id_column,
        "label_column": args.label_column,
        "date_column": args.date_column,
        "value_column": args.value_column,
    }
    interval_options = {
        "period_column": args.period_column,
        "day_code_origin": args.day_code_origin,
        "timezone": args.timezone,
        "interval_stamps": args.interval_stamps,
        "max_missing_share": args.max_missing_share,
        "max_daily_kwh": args.max_daily_kwh,
    }  # given only: the defaults are read_meter_data's
    read_options.update({k: v for k, v in interval_options.items() if v is not None})
    ranked = score_file(
        args.input,
        artifacts,
        args.out,
        drift_path=args.drift_out,
        read_options=read_options,
        progress=not args.quiet,
        reasons_for_top=args.reasons_for_top,
        dask_scheduler=args.dask_scheduler,
    )
    if "n_customers" in ranked.attrs:  # the Dask path returns the top of the list only
        print(f"scored {ranked.attrs['n_customers']:,} customers -> {args.out}")
        return 0
    scored = int(ranked["risk_score"].notna().sum())
    print(f"scored {scored:,} of {len(ranked):,} customers -> {args.out}")
    return 0


def _partition(args: argparse.Namespace) -> int:
    from ntl.distributed.partitions import convert_meter_file

    if args.rows_per_part is not None and args.rows_per_part < 1:
        raise ParameterError(f"--rows-per-part must be >= 1, got {args.rows_per_part}")
    dataset, report = convert_meter_file(
        args.input,
        args.out,
        rows_per_part=args.rows_per_part,
        id_column=args.id_column,
        label_column=args.label_column,
        min_days=args.min_days,
        layout=args.layout,
        date_column=args.date_column,
        value_column=args.value_column,
        period_column=args.period_column,
        timezone=args.timezone,
        interval_stamps=args.interval_stamps,
        max_daily_kwh=args.max_daily_kwh,
    )
    for line in report.messages():
        print(line)
    print(f"wrote {len(dataset.parts)} parts of {dataset.n_customers:,} customers -> {args.out}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from ntl.serve.config import build_config
    from ntl.serve.main import serve
    from ntl.serve.service import check_run_folder
    from ntl.serve.workers import default_scoring_processes

    config = build_config(
        _artifacts_or_default(args.artifacts),
        host=args.host,
        port=args.port,
        token_file=args.token_file,
        max_upload_mb=args.max_upload_mb,
        keep_results=args.keep_results,
        scoring_processes=(
            default_scoring_processes()
            if args.scoring_processes is None
            else args.scoring_processes
        ),
    )
    check_run_folder(config.artifacts_dir)
    return serve(config, log_level=args.log_level)


def _outcomes(args: argparse.Namespace) -> int:
    from ntl.outcomes import add_outcomes, known_customers, read_store
    from ntl.project import outcomes_dir

    if args.action == "show":
        store = read_store(outcomes_dir())
        thefts = int((store["outcome"] == "theft").sum())
        print(f"{len(store):,} outcomes recorded in {outcomes_dir()} ({thefts:,} theft)")
        return 0
    known = known_customers(_artifacts_or_default(args.artifacts))
    result = add_outcomes(args.file, known, outcomes_dir())
    where = f" -> {result.batch}" if result.batch else ""
    print(f"{result.added:,} outcome(s) recorded, {result.duplicates:,} already on record{where}")
    return 0


def _operation(args: argparse.Namespace) -> int:
    """monitor, outcomes, retrain, champion, rollback."""
    if args.command == "monitor":
        from ntl.monitor import main_monitor

        return main_monitor(args)
    if args.command == "outcomes":
        return _outcomes(args)
    if args.command == "retrain":
        from ntl.retrain import main_retrain

        return main_retrain(args.data, args.params, args.sets, html=not args.no_html)
    from ntl import champion

    if args.command == "rollback":
        champion.rollback()
    print(champion.describe())
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse `argv`, run the command; errors `ntl` raises on purpose print without a traceback."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            from ntl.run import main_run

            sets = [*args.sets, *(["show_code=true"] if args.show_code else [])]
            return main_run(args.params, sets, args.start, args.stop, html=not args.no_html)
        if args.command == "partition":
            return _partition(args)
        if args.command == "serve":
            return _serve(args)
        if args.command == "score":
            return _score(args)
        return _operation(args)
    except NtlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
