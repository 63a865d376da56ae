"""The `sagewire` command: the API from a shell, tables for people and --json for scripts."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sagewire import completion, render
from sagewire.client import AUTH_MODES, DEFAULT_TIMEOUT, REPORT_FORMATS, Client
from sagewire.errors import (
    AccessDenied,
    ConfigurationError,
    Conflict,
    ConnectionFailed,
    GatewayTimeout,
    NotFound,
    PreconditionFailed,
    SagewireError,
    Unavailable,
)
from sagewire.version import __version__

EXIT_ERROR = 1
EXIT_NOT_FOUND = 3
EXIT_CONFLICT = 4
EXIT_UNAVAILABLE = 5
EXIT_CONNECTION = 6
EXIT_DENIED = 7
_EXIT_CODES: tuple[tuple[type[SagewireError], int], ...] = (
    (NotFound, EXIT_NOT_FOUND),
    (Conflict, EXIT_CONFLICT),
    (PreconditionFailed, EXIT_CONFLICT),
    (Unavailable, EXIT_UNAVAILABLE),
    (GatewayTimeout, EXIT_UNAVAILABLE),
    (ConnectionFailed, EXIT_CONNECTION),
    (AccessDenied, EXIT_DENIED),
)

EPILOG = """\
exit codes:
  0  success
  1  any other error: the API refused the request (400, 413, 415, 422, 500, 502), or the
     client could not make it (no URL, a file it cannot read)
  2  usage error: an unknown command, option or argument
  3  not found (404): no such project, run, endpoint or report
  4  conflict (409, 412): the resource changed, or the endpoint is busy; try again
  5  throttled, unavailable or timed out (429, 503, 504); try again later
  6  no answer: a wrong URL, or the API is unreachable
  7  access denied (401, 403), or no AWS credentials, API key or token to send

Errors go to stderr as `sagewire: <code> (<status>): <message> [request <id>]`, the code
being the API's (ProjectNotFound, InvalidShape, ...).

environment:
  SAGEWIRE_URL      the API's URL (--endpoint-url)
  SAGEWIRE_AUTH     iam, api-key, cognito or none (--auth)
  SAGEWIRE_API_KEY  the API key for --auth api-key
  SAGEWIRE_TOKEN    the Cognito ID token for --auth cognito
  AWS credentials and region as for the AWS CLI (AWS_PROFILE, AWS_REGION, ...)

examples:
  sagewire --endpoint-url http://127.0.0.1:8000 predict digits-classifier digit.png
  export SAGEWIRE_URL=https://<api-id>.execute-api.<region>.amazonaws.com/api
  sagewire leaderboard digits-zero --filter 'HyperParameters.mini_batch_size>=200'
  eval "$(sagewire completion bash)"
"""

Handler = Callable[[argparse.Namespace], int]


def exit_code(error: SagewireError) -> int:
    if isinstance(error, ConfigurationError) and error.code == "NoCredentials":
        return EXIT_DENIED
    return next((code for kind, code in _EXIT_CODES if isinstance(error, kind)), EXIT_ERROR)


def _client(args: argparse.Namespace) -> Client:
    return Client(
        args.url,
        auth=args.auth,
        api_key=args.api_key,
        token=args.token,
        region=args.region,
        profile=args.profile,
        timeout=args.timeout,
    )


def _emit(args: argparse.Namespace, document: Any, human: Callable[[Any], str]) -> None:
    """The API's document: one line of JSON with --json, else as people read it."""
    print(json.dumps(document) if args.json else human(document))


def _show(
    call: Callable[[Client, argparse.Namespace], Any], human: Callable[[Any], str]
) -> Handler:
    """A handler that prints the document one client call answers."""

    def handle(args: argparse.Namespace) -> int:
        _emit(args, call(_client(args), args), human)
        return 0

    return handle


def _definition(path: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
        return json.loads(text)
    except ValueError as error:
        raise ConfigurationError(f"{path} is not JSON: {error}", code="InvalidFile") from None


def _put_project(client: Client, args: argparse.Namespace) -> Any:
    document = _definition(args.file)
    if not isinstance(document, dict):
        raise ConfigurationError(f"{args.file} is not a JSON object", code="InvalidFile")
    if args.name:
        document["name"] = args.name
    name = document.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"{args.file} names no project: give --name", code="InvalidFile")
    return client.put_project(name, document, args.if_match)


def _predict(args: argparse.Namespace) -> int:
    client = _client(args)
    for name in args.files:
        path = Path(name)
        document = client.predict_file(
            args.project, path, args.variant, args.top_k, args.content_type
        )
        _emit(args, document, functools.partial(render.prediction, name))
    return 0


def _leaderboard(args: argparse.Namespace) -> int:
    client = _client(args)
    query = (args.project, args.filter or [], args.sort, args.order, args.limit)
    if args.all:
        pages = list(client.leaderboard_pages(*query))
    else:
        pages = [client.leaderboard(*query, cursor=args.cursor)]
    merged = {
        **pages[0],
        "runs": [run for page in pages for run in page.get("runs", [])],
        "next_cursor": pages[-1].get("next_cursor"),
    }
    _emit(args, merged, lambda _: render.leaderboard(pages))
    return 0


def _report(args: argparse.Namespace) -> int:
    report = _client(args).latest_report(args.format)
    if args.output is None:
        sys.stdout.buffer.write(report.body)
        sys.stdout.flush()
        return 0
    Path(args.output).write_bytes(report.body)
    written = {
        "file": args.output,
        "format": report.format,
        "content_type": report.content_type,
        "bytes": len(report.body),
    }
    _emit(args, written, lambda w: f"wrote {w['file']} ({w['bytes']} bytes, {w['content_type']})")
    return 0


def _global_options(parser: argparse.ArgumentParser, top: bool) -> None:
    """The connection and output options; a subcommand's copy leaves the values of the main
    parser's alone unless given (`sagewire --json champion p` and `sagewire champion p --json`)."""

    def default(value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    group = parser.add_argument_group("connection and output")
    group.add_argument(
        "--endpoint-url",
        dest="url",
        metavar="URL",
        default=default(None),
        help="the API's URL: the stage's invoke URL, or http://127.0.0.1:8000 for `make serve` "
        "(default: $SAGEWIRE_URL)",
    )
    group.add_argument(
        "--auth",
        choices=AUTH_MODES,
        default=default(None),
        help="how predictions authenticate: iam (SigV4), api-key, cognito or none; other routes "
        "are signed unless none (default: $SAGEWIRE_AUTH, else none for 127.0.0.1/localhost, "
        "else iam)",
    )
    group.add_argument("--api-key", default=default(None), help="default: $SAGEWIRE_API_KEY")
    group.add_argument(
        "--token", default=default(None), help="a Cognito ID token (default: $SAGEWIRE_TOKEN)"
    )
    group.add_argument("--region", default=default(None), help="the region to sign for")
    group.add_argument("--profile", default=default(None), help="the AWS profile to sign with")
    group.add_argument(
        "--timeout",
        type=int,
        default=default(DEFAULT_TIMEOUT),
        metavar="SECONDS",
        help=f"per request (default: {DEFAULT_TIMEOUT})",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print the API's JSON, one document a line",
    )


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1, got {text!r}")
    return int(text)


class _Commands:
    """Adds subcommands, each with its description, an example and the global options."""

    def __init__(self, parser: argparse.ArgumentParser, title: str) -> None:
        self._group = parser.add_subparsers(title=title, metavar="COMMAND", required=True)

    def add(
        self, name: str, summary: str, example: str, handler: Handler | None = None
    ) -> argparse.ArgumentParser:
        parser = self._group.add_parser(
            name,
            help=summary,
            description=summary,
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if handler is not None:
            _global_options(parser, top=False)
            parser.set_defaults(handler=handler)
        return parser


def _projects(commands: _Commands) -> None:
    group = _Commands(
        commands.add(
            "projects",
            "List, read, create, replace or delete project definitions.",
            "sagewire projects list",
        ),
        "project commands",
    )
    group.add(
        "list",
        "List every project.",
        "sagewire projects list",
        _show(lambda c, a: c.list_projects(), render.projects),
    )
    get = group.add(
        "get",
        "Print one project's definition.",
        "sagewire projects get digits-zero",
        _show(lambda c, a: c.get_project(a.project), render.definition),
    )
    get.add_argument("project")
    put = group.add(
        "put",
        "Create or replace a project from a JSON definition (its `name`, or --name).",
        "sagewire projects put mnist-zero.json",
        _show(_put_project, render.definition),
    )
    put.add_argument("file", help="the definition, a JSON file (- for stdin)")
    put.add_argument("--name", help="the project's name, replacing the definition's `name`")
    put.add_argument("--if-match", metavar="ETAG", help="replace only this revision")
    delete = group.add(
        "delete",
        "Delete a project's definition; with --teardown, its endpoint and models too.",
        "sagewire projects delete digits-zero --teardown",
        _show(lambda c, a: c.delete_project(a.project, a.teardown, a.if_match), render.deletion),
    )
    delete.add_argument("project")
    delete.add_argument(
        "--teardown", action="store_true", help="also delete what sagewire deployed for it"
    )
    delete.add_argument("--if-match", metavar="ETAG", help="delete only this revision")


def _runs_and_lineage(commands: _Commands) -> None:
    runs = _Commands(
        commands.add("runs", "Read recorded training runs.", "sagewire runs get JOB"),
        "run commands",
    )
    get = runs.add(
        "get",
        "One run: its metrics, hyperparameters, inputs and where it was deployed.",
        "sagewire runs get linear-mbs-100",
        _show(lambda c, a: c.run(a.training_job), render.run),
    )
    get.add_argument("training_job", metavar="JOB", help="the training job's name")
    lineage = _Commands(
        commands.add(
            "lineage",
            "What serves behind an endpoint, or what was built from a dataset.",
            "sagewire lineage endpoint digits-zero",
        ),
        "lineage commands",
    )
    endpoint = lineage.add(
        "endpoint",
        "Endpoint -> config -> variants -> models -> runs -> datasets.",
        "sagewire lineage endpoint digits-zero",
        _show(lambda c, a: c.endpoint_lineage(a.endpoint), render.endpoint_lineage),
    )
    endpoint.add_argument("endpoint", metavar="NAME", help="the SageMaker endpoint's name")
    dataset = lineage.add(
        "dataset",
        "The runs that read an S3 object or prefix, and where each was deployed.",
        "sagewire lineage dataset s3://sagewire-local/datasets/digits/train/",
        _show(lambda c, a: c.dataset_lineage(a.uri), render.dataset_lineage),
    )
    dataset.add_argument("uri", metavar="URI", help="s3://<bucket>/<key or prefix>")


def _champions(commands: _Commands) -> None:
    leaderboard = commands.add(
        "leaderboard",
        "A project's runs ranked by its objective or any metric, filtered, a page at a time.",
        "sagewire leaderboard digits-zero --filter 'HyperParameters.mini_batch_size>=200' "
        "--sort Metrics.validation:binary_f_beta --limit 5",
        _leaderboard,
    )
    leaderboard.add_argument("project")
    leaderboard.add_argument(
        "--filter",
        action="append",
        metavar="FILTER",
        help="repeatable, all must hold: Metrics.<name><op><number>, HyperParameters.<name><op>"
        "<value>, Tags.<key>=<value>, Status=<status>; <op> one of = != < <= > >=",
    )
    leaderboard.add_argument(
        "--sort", help="Metrics.<name> or Metrics.<name>.<last|max|min|avg> (default: objective)"
    )
    leaderboard.add_argument("--order", choices=("asc", "desc"))
    leaderboard.add_argument("--limit", type=_positive, help="runs a page (API default: 10)")
    paging = leaderboard.add_mutually_exclusive_group()
    paging.add_argument("--cursor", help="continue from a page's next cursor")
    paging.add_argument("--all", action="store_true", help="follow every page")
    champion = commands.add(
        "champion",
        "A project's champion, its promotion, and what its endpoint really serves.",
        "sagewire champion digits-zero",
        _show(lambda c, a: c.champion(a.project), render.champion),
    )
    champion.add_argument("project")
    promotions = commands.add(
        "promotions",
        "A project's promotion ledger, newest first.",
        "sagewire promotions digits-zero --limit 5",
        _show(lambda c, a: c.promotions(a.project, a.limit), render.promotions),
    )
    promotions.add_argument("project")
    promotions.add_argument("--limit", type=_positive, help="entries (API default: 100)")
    promotion = commands.add(
        "promotion",
        "One promotion of the ledger by its id, to follow its outcome.",
        "sagewire promotion digits-zero '2026-11-20T13:05:00.123456Z#linear-mbs-200'",
        _show(lambda c, a: c.promotion(a.project, a.promotion_id), render.promotion),
    )
    promotion.add_argument("project")
    promotion.add_argument("promotion_id", metavar="ID", help="its promotion_id")
    promote = commands.add(
        "promote",
        "Make a recorded run the champion whatever its metrics, or roll back to it.",
        "sagewire promote digits-zero linear-mbs-200",
        _show(lambda c, a: c.promote(a.project, a.run), render.promotion),
    )
    promote.add_argument("project")
    promote.add_argument("run", metavar="RUN", help="the training job's name")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sagewire",
        description="Call the sagewire API: predictions, projects, leaderboards, champions, "
        "promotions, runs, lineage and reports.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"sagewire {__version__}")
    _global_options(parser, top=True)
    commands = _Commands(parser, "commands")
    predict = commands.add(
        "predict",
        "Send files to a project's model: one prediction request a file, its content type "
        "from its suffix (.png .jpg .jpeg .csv .json .npy .txt).",
        "sagewire predict digits-classifier seven.jpg --top-k 3",
        _predict,
    )
    predict.add_argument("project")
    predict.add_argument("files", nargs="+", metavar="FILE")
    predict.add_argument("--variant", help="the endpoint variant to ask")
    predict.add_argument("--top-k", type=_positive, help="labels a prediction (classifiers)")
    predict.add_argument("--content-type", help="for every file, whatever its suffix")
    _projects(commands)
    _champions(commands)
    _runs_and_lineage(commands)
    report = commands.add(
        "report",
        "The newest lineage report (written on a schedule) to stdout or a file.",
        "sagewire report --format html -o lineage.html",
        _report,
    )
    report.add_argument("--format", choices=REPORT_FORMATS, default="json")
    report.add_argument("-o", "--output", metavar="FILE", help="write it here (default: stdout)")
    shell = commands.add(
        "completion",
        "Print a shell completion script.",
        'eval "$(sagewire completion bash)"',
    )
    shell.add_argument("shell", choices=("bash", "zsh"))
    shell.set_defaults(handler=lambda args: _completion(parser, args.shell))
    return parser


def _completion(parser: argparse.ArgumentParser, shell: str) -> int:
    print(completion.bash(parser) if shell == "bash" else completion.zsh(parser), end="")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except SagewireError as error:
        print(f"sagewire: {error}", file=sys.stderr)
        return exit_code(error)
    except OSError as error:
        print(f"sagewire: {error}", file=sys.stderr)
        return EXIT_ERROR
    return code
