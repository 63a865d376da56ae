"""The `sagewire` command against a scripted API: output, --json, stderr, exit codes, help,
completion."""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.samples import Sample, sagewire_line
from sagewire import cli, completion
from sagewire.version import __version__
from tests.api_server import Answer, FakeApi, Seen, answer, error, running

RUN = {
    "name": "ll-200",
    "status": "Completed",
    "metrics": {"train:loss": 0.125, "validation:f1": 0.9},
    "metric_statistics": {"validation:f1": {"max": 0.95}},
    "eligibility": {"project": "p", "promotable": False, "reason": "guard failed"},
}


@pytest.fixture
def api() -> Iterator[FakeApi]:
    yield from running()


def sagewire(api: FakeApi, *argv: str) -> int:
    return cli.main(["--endpoint-url", api.url, *argv])


def _leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield path, parser
    for action in subparsers:
        for name, child in action.choices.items():
            yield from _leaves(child, (*path, name))


COMMANDS = [" ".join(path) for path, _ in _leaves(cli.build_parser())]


def test_every_command_of_the_issue_is_there() -> None:
    assert set(COMMANDS) == {
        "predict",
        "projects list",
        "projects get",
        "projects put",
        "projects delete",
        "leaderboard",
        "champion",
        "promotions",
        "promotion",
        "promote",
        "runs get",
        "lineage endpoint",
        "lineage dataset",
        "report",
        "completion",
    }


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_a_description_and_an_example(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main([*command.split(), "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "example:\n  " in text
    example = text.split("example:\n  ", 1)[1].strip()
    assert example.startswith(("sagewire ", 'eval "$(sagewire'))
    assert len(text.split("\n\n")) >= 3  # usage, description, arguments


def test_help_lists_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    for code in range(8):
        assert f"\n  {code}  " in text
    assert "SAGEWIRE_URL" in text


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"sagewire {__version__}\n"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["projects"],
        ["nope"],
        ["champion"],
        ["predict", "p"],
        ["leaderboard", "p", "--limit", "0"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(argv)
    assert done.value.code == 2
    assert "usage: sagewire" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("status", "code", "exit_code"),
    [
        (400, "InvalidParameter", 1),
        (404, "ProjectNotFound", 3),
        (409, "EndpointBusy", 4),
        (412, "PreconditionFailed", 4),
        (422, "InvalidShape", 1),
        (502, "ModelError", 1),
        (503, "EndpointUnavailable", 5),
        (504, "EndpointTimeout", 5),
        (403, "AccessDenied", 7),
        (500, "InternalError", 1),
    ],
)
def test_api_errors_go_to_stderr_with_their_code_and_exit_status(
    api: FakeApi, capsys: pytest.CaptureFixture[str], status: int, code: str, exit_code: int
) -> None:
    api.script = lambda _: error(status, code, "why")
    assert sagewire(api, "champion", "p", "--json") == exit_code
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"sagewire: {code} ({status}): why [request req-1]\n"


def test_no_answer_exits_6(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--endpoint-url", "http://127.0.0.1:9", "projects", "list"]) == 6
    assert capsys.readouterr().err.startswith("sagewire: ConnectionFailed: no answer from ")


def test_no_credentials_for_a_stage_exits_7(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.delenv("AWS_SECURITY_TOKEN")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    stage = "https://abc123.execute-api.us-east-1.amazonaws.com/api"
    assert cli.main(["--endpoint-url", stage, "champion", "p"]) == 7
    assert "NoCredentials" in capsys.readouterr().err


def test_no_url_is_an_error_not_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SAGEWIRE_URL", raising=False)
    assert cli.main(["projects", "list"]) == 1
    assert capsys.readouterr().err.startswith("sagewire: NoEndpoint: no API URL")


def test_a_missing_file_is_an_error_not_a_traceback(
    api: FakeApi, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert sagewire(api, "predict", "p", str(tmp_path / "nope.png")) == 1
    assert "No such file" in capsys.readouterr().err
    assert api.seen == []


PREDICTION = {
    "project": "digits",
    "endpoint": "digits-ep",
    "variant": "AllTraffic",
    "predictions": [
        {"label": "7", "probability": 0.98, "top_k": [{"label": "7", "probability": 0.98}]}
    ],
    "request_id": "r",
}


def test_predict_sends_each_file_with_its_type_and_prints_a_table(
    api: FakeApi, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "seven.jpg").write_bytes(b"\xff\xd8jpeg")
    (tmp_path / "rows.csv").write_text("1,2\n")
    api.script = lambda _: answer(PREDICTION)
    files = [str(tmp_path / "seven.jpg"), str(tmp_path / "rows.csv")]
    assert sagewire(api, "predict", "digits", *files, "--top-k", "1", "--variant", "B") == 0
    assert [(s.headers["content-type"], s.body) for s in api.seen] == [
        ("image/jpeg", b"\xff\xd8jpeg"),
        ("text/csv", b"1,2\n"),
    ]
    assert api.seen[0].params() == {"variant": ["B"], "top_k": ["1"]}
    out = capsys.readouterr().out
    assert f"{files[0]}: digits -> digits-ep (AllTraffic)" in out
    assert "#  LABEL  PROBABILITY  TOP_K\n1  7      0.98         7 (0.98)" in out


def test_json_prints_the_apis_document_one_a_line(
    api: FakeApi, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "a.png").write_bytes(b"png")
    api.script = lambda _: answer(PREDICTION)
    # --json before or after the command
    assert (
        cli.main(["--json", "--endpoint-url", api.url, "predict", "d", str(tmp_path / "a.png")])
        == 0
    )
    assert (
        sagewire(api, "predict", "d", str(tmp_path / "a.png"), str(tmp_path / "a.png"), "--json")
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in lines] == [PREDICTION] * 3


def test_leaderboard_table_and_all_pages(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    def page(seen: Seen) -> Answer:
        following = None if seen.params().get("cursor") else "next-1"
        return answer(
            {
                "project": "p",
                "sort": "Metrics.validation:f1.max",
                "order": "desc",
                "runs": [RUN],
                "next_cursor": following,
            }
        )

    api.script = page
    assert sagewire(api, "leaderboard", "p", "--filter", "Status=Completed", "--limit", "1") == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "p: by Metrics.validation:f1.max (desc)",
        "#  RUN     STATUS     validation:f1.max  PROMOTABLE",
        "1  ll-200  Completed  0.95               no: guard failed",
        "more: --cursor next-1",
    ]
    assert sagewire(api, "leaderboard", "p", "--all", "--json") == 0
    merged = json.loads(capsys.readouterr().out)
    assert [run["name"] for run in merged["runs"]] == ["ll-200", "ll-200"]
    assert merged["next_cursor"] is None
    assert api.seen[-1].params()["cursor"] == ["next-1"]


def test_promote_posts_the_run(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.script = lambda _: answer({"run_name": "ll-200", "outcome": "deploying"}, 201)
    assert sagewire(api, "promote", "p", "ll-200") == 0
    assert (api.last.method, api.last.path) == ("POST", "/v1/projects/p/promotions")
    assert json.loads(api.last.body) == {"run": "ll-200"}
    out = capsys.readouterr().out
    assert "run_name:           ll-200" in out
    assert "outcome:            deploying" in out


def test_projects_put_reads_the_file_and_names_the_project(
    api: FakeApi, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"name": "p", "objective": {}}))
    assert sagewire(api, "projects", "put", str(path)) == 0
    assert (api.last.method, api.last.path) == ("PUT", "/v1/projects/p")
    assert sagewire(api, "projects", "put", str(path), "--name", "q", "--if-match", "r1") == 0
    assert api.last.path == "/v1/projects/q"
    assert json.loads(api.last.body)["name"] == "q"
    assert api.last.headers["if-match"] == '"r1"'
    path.write_text("[1]")
    assert sagewire(api, "projects", "put", str(path)) == 1
    path.write_text("{")
    assert sagewire(api, "projects", "put", str(path)) == 1
    err = capsys.readouterr().err
    assert "is not a JSON object" in err
    assert "is not JSON" in err
    assert len(api.seen) == 2


def test_report_to_a_file_or_stdout(
    api: FakeApi, capfdbinary: pytest.CaptureFixture[bytes], tmp_path: Path
) -> None:
    api.script = lambda _: Answer(200, b"<html>r</html>", {"Content-Type": "text/html"})
    out = tmp_path / "r.html"
    assert sagewire(api, "report", "--format", "html", "-o", str(out), "--json") == 0
    assert out.read_bytes() == b"<html>r</html>"
    written = json.loads(capfdbinary.readouterr().out)
    assert written == {"file": str(out), "format": "html", "content_type": "text/html", "bytes": 14}
    assert sagewire(api, "report", "--format", "html") == 0
    assert capfdbinary.readouterr().out == b"<html>r</html>"
    assert api.last.params() == {"format": ["html"]}


@pytest.mark.parametrize(
    ("argv", "document", "expected"),
    [
        (
            ["projects", "list"],
            {
                "projects": [
                    {
                        "name": "p",
                        "objective": {"metric": "m", "goal": "minimize"},
                        "endpoint": {"name": "e", "strategy": {"type": "canary"}},
                    }
                ]
            },
            "PROJECT  ENDPOINT  OBJECTIVE     STRATEGY\np        e         m (minimize)  canary",
        ),
        (
            ["promotions", "p"],
            {"project": "p", "promotions": []},
            "p: no promotions",
        ),
        (
            ["lineage", "dataset", "s3://b/k/"],
            {
                "uri": "s3://b/k/",
                "runs": [
                    {
                        "run_name": "r",
                        "status": "Completed",
                        "channels": [{"name": "train"}],
                        "deployments": [{"endpoint": "e", "outcome": "succeeded", "serving": True}],
                    }
                ],
            },
            "s3://b/k/\nRUN  STATUS     CHANNELS  DEPLOYED TO\n"
            "r    Completed  train     e (succeeded, serving)",
        ),
        (
            ["champion", "p"],
            {
                "project": "p",
                "champion": None,
                "promotion": None,
                "serving": {"status": "Absent"},
                "drift": False,
                "managed": True,
                "variants": [],
            },
            "project:      p\nchampion:     none yet\nobjective:    -\nsince:        -\n"
            "outcome:      -\nserving:      Absent -\nserving run:  -\ndrift:        no\n"
            "managed:      yes",
        ),
    ],
)
def test_tables_for_people(
    api: FakeApi,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    document: object,
    expected: str,
) -> None:
    api.script = lambda _: answer(document)
    assert sagewire(api, *argv) == 0
    assert capsys.readouterr().out == expected + "\n"


def test_every_other_command_calls_its_route(
    api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    routes = {
        ("projects", "get", "p"): ("GET", "/v1/projects/p"),
        ("projects", "delete", "p", "--teardown"): ("DELETE", "/v1/projects/p"),
        ("runs", "get", "job"): ("GET", "/v1/runs/job"),
        ("lineage", "endpoint", "e"): ("GET", "/v1/lineage/endpoints/e"),
        ("promotions", "p", "--limit", "3"): ("GET", "/v1/projects/p/promotions"),
        ("promotion", "p", "2026-11-20T13:05:00Z#r"): (
            "GET",
            "/v1/projects/p/promotions/2026-11-20T13%3A05%3A00Z%23r",
        ),
    }
    for argv, route in routes.items():
        assert sagewire(api, *argv, "--json") == 0
        assert (api.last.method, api.last.path) == route
    assert json.loads(capsys.readouterr().out.splitlines()[0]) == {}


BASH = shutil.which("bash")


@pytest.mark.skipif(BASH is None, reason="bash is not installed")
def test_the_bash_completion_loads_names_every_command_and_completes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert cli.main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    path = tmp_path / "sagewire.bash"
    path.write_text(script)
    assert BASH is not None
    subprocess.run([BASH, "-n", str(path)], check=True)
    for command in COMMANDS:
        for word in command.split():
            assert word in script

    def complete(*words: str) -> list[str]:
        array = " ".join(shlex.quote(word) for word in ("sagewire", *words))
        program = (
            f"source {shlex.quote(str(path))}; COMP_WORDS=({array}); "
            f"COMP_CWORD={len(words)}; _sagewire; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        )
        assert BASH is not None
        done = subprocess.run([BASH, "-c", program], capture_output=True, text=True, check=True)
        return done.stdout.split()

    assert set(complete("")) >= {"predict", "projects", "lineage", "--json", "--endpoint-url"}
    assert complete("projects", "") == ["list", "get", "put", "delete", "-h", "--help"]
    assert complete("--json", "lineage", "d") == ["dataset"]
    assert complete("report", "--format", "") == ["json", "html", "csv", "openlineage"]
    assert "--top-k" in complete("predict", "p", "--")


def test_the_zsh_completion_is_bashs_through_bashcompinit() -> None:
    parser = cli.build_parser()
    script = completion.zsh(parser)
    assert script.startswith("#compdef sagewire\n")
    assert "bashcompinit" in script
    assert script.endswith(completion.bash(parser))


def test_the_serve_banners_sagewire_lines_parse(tmp_path: Path) -> None:
    sample = Sample(tmp_path / "seven.jpg", "image/jpeg", "digits-classifier", "?top_k=3")
    words = shlex.split(sagewire_line("http://127.0.0.1:8000", sample))
    command = words.index("--endpoint-url")
    args = cli.build_parser().parse_args(words[command:])
    assert (args.url, args.project, args.files, args.top_k) == (
        "http://127.0.0.1:8000",
        "digits-classifier",
        [str(tmp_path / "seven.jpg")],
        3,
    )
