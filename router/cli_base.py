"""What every ``router`` command group shares: one line for a bad setting or one of the
project's errors instead of a traceback, and the closest command for a mistyped one.

Kept apart from ``router.cli`` so that a command group in its own module (``router desk``)
can be a ``RouterGroup`` without importing the whole command line.
"""

from __future__ import annotations

import difflib
from typing import Any

import click
from pydantic import ValidationError

from vocab.errors import RouterError, SettingsError

from .settings import Settings, load_settings, validation_message


class SettingsProblem(click.ClickException):
    """A bad setting: one line, exit status 2."""

    exit_code = 2


def settings_or_exit(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        raise SettingsProblem(str(exc)) from None


class RouterGroup(click.Group):
    """Turns the project's own errors into one clear line instead of a traceback, and
    suggests the closest command for a mistyped one."""

    group_class = type  # sub-groups (``router desk ...``) are RouterGroups too

    def resolve_command(self, ctx: click.Context, args: list[str]
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            if args and exc.message.startswith("No such command"):
                close = difflib.get_close_matches(args[0], self.list_commands(ctx), n=1)
                if close:  # a new error: click 8.5 makes ``message`` final
                    raise click.UsageError(f"{exc.message} Did you mean {close[0]}?",
                                           exc.ctx) from None
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SettingsError as exc:
            raise SettingsProblem(str(exc)) from None
        except ValidationError as exc:  # a connector's ROUTER_<KEY>_* setting, read late
            raise SettingsProblem(validation_message(exc)) from None
        except RouterError as exc:
            raise click.ClickException(str(exc)) from None
        except Exception as exc:
            from kafka.errors import KafkaError

            if not isinstance(exc, KafkaError):
                raise
            from vocab.redact import mask_url

            # One line, and a password in the bootstrap URL stays out of it.
            raise click.ClickException(
                f"Kafka: {mask_url(str(exc))}; start it with `router broker start` or set "
                "KAFKA_BOOTSTRAP") from None
