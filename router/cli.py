"""The ``router`` command: run the worker, try decisions, work the desk, steer at runtime.

Every bad flag or setting ends in one line that names the fix (exit 2), never a traceback.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from .cli_base import RouterGroup, SettingsProblem, settings_or_exit
from .settings import Settings


@click.group(cls=RouterGroup)
@click.version_option(package_name="escalation-router")
def main() -> None:
    """Escalation router: social mentions in, tickets only where support can help."""


# --- the worker -----------------------------------------------------------------------
MODEL_OPTION = click.option(
    "--model", "model_path", default=None, type=click.Path(path_type=Path),
    help="Model artifact (triage.joblib from `router train`, or its folder) instead of "
    "ROUTER_MODEL_PATH or the shipped model.")


def _model_override(model_path: Path | None) -> dict[str, Any]:
    return {} if model_path is None else {"model_path": model_path}


@main.command()
@click.option("--loglevel", "-l", default="warn",
              type=click.Choice(["crit", "error", "warn", "info", "debug"]))
@MODEL_OPTION
def worker(loglevel: str, model_path: Path | None) -> None:
    """Run a Faust worker (triage, escalate, close-loop, publish, web views).

    Everything it needs (Kafka, topics, the model, the desk, the outputs, the web port) is
    checked before it consumes anything: a problem is one line and a non-zero exit.
    """
    import asyncio

    from .lifecycle import check_web_port, start_worker
    from .runtime import build
    from .topics import ensure_topics

    settings = settings_or_exit(**_model_override(model_path))
    from vocab.redact import scrub_logs, secret_values

    scrub_logs(secret_values(settings))  # Kafka's and Faust's messages too
    from .logs import configure, level_of

    configure(settings.log_format, level_of(loglevel))  # JSON lines from the first one on
    check_web_port(settings.web_host, settings.web_port)
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    ensure_topics(settings)
    asyncio.set_event_loop(asyncio.new_event_loop())  # the app, setup and worker share it
    start_worker(build(settings), loglevel=loglevel)


# --- the local broker -----------------------------------------------------------------
@main.group()
def broker() -> None:
    """The local single-node Kafka broker (jars from Maven Central)."""


def _local_broker(data_dir: Path, port: int, settings: Settings) -> Any:
    from .broker import LocalBroker

    return LocalBroker(data_dir=data_dir, port=port, controller_port=port + 1,
                       partitions=settings.partitions)


@broker.command("start")
@click.option("--data-dir", type=click.Path(path_type=Path), default=Path("var/kafka"),
              show_default=True)
@click.option("--port", type=click.IntRange(1024, 65534), default=19092, show_default=True)
def broker_start(data_dir: Path, port: int) -> None:
    """Fetch the jars if needed, format storage on first use, start, create topics."""
    from .topics import ensure_topics

    settings = settings_or_exit(kafka_bootstrap=f"127.0.0.1:{port}")
    b = _local_broker(data_dir, port, settings)
    started = time.monotonic()
    b.start()
    created = ensure_topics(settings)
    click.echo(f"Kafka running on {b.bootstrap} (log: {b.log_file}); "
               f"{len(created)} topics created; {time.monotonic() - started:.1f}s")


@broker.command("stop")
@click.option("--data-dir", type=click.Path(path_type=Path), default=Path("var/kafka"),
              show_default=True)
def broker_stop(data_dir: Path) -> None:
    """Stop the local broker started from this data folder."""
    from .broker import LocalBroker

    LocalBroker(data_dir=data_dir).stop()
    click.echo("Kafka stopped")


@main.command("topics")
def topics_cmd() -> None:
    """Create the router's topics (same partition count everywhere)."""
    from .topics import ensure_topics

    created = ensure_topics(settings_or_exit())
    click.echo(f"created: {', '.join(created) or 'none (all exist)'}")


# --- offline decisions ----------------------------------------------------------------
@main.command()
@click.option("--input", "input_", default="-", show_default=True,
              help="JSON lines of mentions (generic form), or - for stdin.")
@click.option("--output", default="-", show_default=True, help="Where decisions go.")
@MODEL_OPTION
def classify(input_: str, output: str, model_path: Path | None) -> None:
    """Decide on mentions without Kafka: one JSON decision per line (each names the model
    that made it)."""
    from .classify import classify_lines, dumps
    from .live_model import open_model

    settings = settings_or_exit(**_model_override(model_path))
    if input_ != "-" and not Path(input_).is_file():
        raise click.BadParameter(f"no such file: {input_}", param_hint="--input")
    live = open_model(settings.model_path)
    model = live.model
    settings = settings.with_model_defaults(getattr(model, "operating_point", {}))
    src = sys.stdin.buffer if input_ == "-" else open(input_, "rb")  # noqa: SIM115
    dst = sys.stdout if output == "-" else open(output, "w", encoding="utf-8")  # noqa: SIM115
    try:
        for obj in classify_lines(src, settings, model, model_version=live.version):
            dst.write(dumps(obj) + "\n")
    finally:
        if src is not sys.stdin.buffer:
            src.close()
        if dst is not sys.stdout:
            dst.close()


# --- mentions in ----------------------------------------------------------------------
@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--network", default="generic", show_default=True,
              help="Shape of each line: generic, or a network's own payload.")
def replay(file: Path, network: str) -> None:
    """Produce a file of mentions (one JSON per line) to the mentions topic.

    Each line is checked as the worker would check it; a bad line goes to the dead-letter
    topic with its reason and the others are sent. Exits 1 when most lines are bad (then
    nothing is sent if the first lines already were) or when Kafka did not take a line.
    """
    from .replay import replay_file

    report = replay_file(settings_or_exit(), file, network)
    if not report.ok:
        raise click.ClickException(report.summary())
    click.echo(report.summary())


@main.command()
def schema() -> None:
    """Print the JSON Schema of the mentions' input format (what `router replay` and the
    mentions topic accept)."""
    from .validate import mention_schema

    click.echo(json.dumps(mention_schema(), indent=2, ensure_ascii=False))


# --- runtime control ------------------------------------------------------------------
@main.command()
@click.argument("state", type=click.Choice(["on", "off", "status"]))
def killswitch(state: str) -> None:
    """Stop every reply now (on), allow replies again (off), or show the state."""
    from .control import KILL_SWITCH, publish, read_all

    settings = settings_or_exit()
    if state == "status":
        enabled = read_all(settings).get(KILL_SWITCH, settings.replies_enabled)
        click.echo("kill switch off: replies allowed" if enabled
                   else "kill switch ON: no reply will be posted")
        return
    publish(settings, KILL_SWITCH, state == "off")
    click.echo("kill switch ON: no reply will be posted" if state == "on"
               else "kill switch off: replies allowed")


@main.command("set")
@click.argument("name")
@click.argument("value", required=False)
@click.option("--unset", is_flag=True, help="Back to the worker's own setting.")
def set_cmd(name: str, value: str | None, unset: bool) -> None:
    """Change a runtime setting on every worker (thresholds, quiet_hours...); without a
    VALUE, show it as the workers apply it now, and where it comes from."""
    from .control import publish, validate

    settings = settings_or_exit()
    if unset:
        try:
            validate(name, "")
        except ValueError as exc:
            if "unknown runtime setting" in str(exc):
                raise SettingsProblem(str(exc)) from None
        publish(settings, name, None)
        click.echo(f"{name} unset (every worker goes back to its own setting)")
        return
    if value is None:  # show it, with where it comes from
        try:
            validate(name, "")
        except ValueError as exc:
            if "unknown runtime setting" in str(exc):
                raise SettingsProblem(str(exc)) from None
        from .status import show_one

        click.echo(show_one(settings, name))
        return
    try:
        parsed = validate(name, value)
    except ValueError as exc:  # one line naming the valid form (no usage, no pydantic dump)
        raise SettingsProblem(str(exc)) from None
    publish(settings, name, parsed)
    click.echo(f"{name} = {parsed!r} (every worker applies it now)")


@main.command("release")
def release_cmd() -> None:
    """Send held replies (kill switch, quiet hours, failed posts) to be posted again."""
    from .control import release_held, why_replies_wait

    settings = settings_or_exit()
    why = why_replies_wait(settings)
    if why:
        raise click.ClickException(why)
    n = release_held(settings)
    click.echo(f"released {n} held replies; each is checked again and posted at most once"
               if n else "nothing to release")


# --- connectors -----------------------------------------------------------------------
@main.command()
def connectors() -> None:
    """List the desks and networks the router knows, with the settings each needs.

    Per connector, the settings with no default come first, marked * (set them; where two
    are alternatives, the description says so), then the optional ones with their defaults.
    """
    from connectors.registry import desk_paths, load, network_paths

    click.echo("* no default: set it (where two are alternatives, the text says so); "
               "the others show their default")
    for title, paths in (("Desks", desk_paths()), ("Networks", network_paths())):
        click.echo(f"{title}:")
        for key, path in paths.items():
            try:
                cls = load(path)
            except (ImportError, AttributeError) as exc:
                click.echo(f"  {key:<11} (unavailable: {exc})")
                continue
            click.echo(f"  {key:<11} {getattr(cls, 'title', '') or cls.__name__}")
            rows = _connector_settings(cls)
            width = max((len(r[0]) for r in rows), default=0)
            for env, default, secret, description in sorted(rows, key=lambda r: r[1] != ""):
                mark = "*" if default == "" else " "
                flag = "secret" if secret else ""
                tail = f" [default: {default}]" if default else ""
                click.echo(f"    {mark} {env:<{width}} {flag:<6} {description}{tail}")


def _connector_settings(cls: Any) -> list[tuple[str, str, bool, str]]:
    """(variable, default as shown or "" when it has none, secret, description)."""
    from pydantic import SecretStr

    config = cls.Config
    prefix = str(config.model_config.get("env_prefix", "")).upper()
    rows = []
    for name, field in config.model_fields.items():
        secret = field.annotation is SecretStr or "SecretStr" in str(field.annotation)
        default: Any = "" if field.is_required() else field.get_default(
            call_default_factory=True)
        if isinstance(default, SecretStr):
            default = default.get_secret_value() and "(set)"
        if default is None:  # a credential left unset has to be set; others mean "off"
            shown = "" if secret else "unset"
        elif isinstance(default, bool):
            shown = str(default).lower()
        elif isinstance(default, (list, dict)):
            shown = json.dumps(default)
        else:
            shown = str(default)
        rows.append((f"{prefix}{name.upper()}", shown, secret, field.description or ""))
    return rows


# --- demo -----------------------------------------------------------------------------
@main.command()
@click.option("--keep", is_flag=True, help="Leave the broker and worker running.")
def demo(keep: bool) -> None:
    """The whole loop on the embedded default, start to finish, and a summary."""
    from .demo import run_demo

    run_demo(keep=keep)


def _attach_dlq_commands() -> None:
    from .desk_cli import desk
    from .dlq import dlq

    main.add_command(dlq, "dlq")
    main.add_command(desk, "desk")


_attach_dlq_commands()


def _attach_model_commands() -> None:
    from .model_cli import model
    from .status import status

    main.add_command(model, "model")
    main.add_command(status, "status")
    from .audit import audit

    main.add_command(audit, "audit")


_attach_model_commands()


def _attach_classifier_commands() -> None:
    # classifiers' train and evaluate, with --feedback (the labels on the feedback topic)
    from .feedback import evaluate_command, train_command

    main.add_command(train_command(), "train")
    main.add_command(evaluate_command(), "evaluate")


_attach_classifier_commands()
