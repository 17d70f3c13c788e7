"""One frozen settings object for the whole router.

Every field is read from an environment variable ``ROUTER_<FIELD>`` (the Kafka address also
from ``KAFKA_BOOTSTRAP``), or from a ``.env`` file. Secrets are ``SecretStr`` and never
printed. ``load_settings()`` turns a validation error into a one-line ``SettingsError``
that names the variable and the fix.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

from vocab.errors import SettingsError

ENV_PREFIX = "ROUTER_"


class Settings(BaseSettings):
    """The router's settings; see each field's description for its meaning."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", frozen=True, extra="ignore"
    )

    # --- Kafka and the worker ---------------------------------------------------------
    kafka_bootstrap: str = Field(
        "127.0.0.1:19092",
        validation_alias=AliasChoices("ROUTER_KAFKA_BOOTSTRAP", "KAFKA_BOOTSTRAP"),
        description="Kafka bootstrap servers, host:port[,host:port] (ROUTER_KAFKA_BOOTSTRAP "
        "or KAFKA_BOOTSTRAP).",
    )
    app_id: str = Field("escalation-router", description="Faust app id and consumer group.")
    topic_prefix: str = Field("", description="Prefix for every topic name (e.g. 'prod.').")
    partitions: int = Field(
        4, ge=1, le=1024,
        description="Partitions of every router topic; tables use the same count.",
    )
    session_timeout: float = Field(
        30.0, ge=6, le=300, description="Seconds before the group gives a silent worker's "
        "partitions to the others (Kafka consumer session timeout).",
    )
    stall_seconds: float = Field(
        60.0, ge=0, le=3600, description="Seconds a partition may keep messages waiting "
        "while the agent that reads it sits idle before the worker stops (non-zero) to be "
        "restarted and read them again (0: never).",
    )
    data_dir: Path = Field(Path("var"), description="Where the worker keeps local state.")
    web_host: str = Field("127.0.0.1", description="Address the worker's web server binds.")
    web_port: int = Field(6066, ge=0, le=65535, description="Port of the worker's web server.")
    agents: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["triage", "escalate", "closeloop", "publish"],
        description="Agents this worker runs (a cluster can run triage on some workers "
        "and desk work on others).",
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="How `router worker` logs: 'text' (Faust's lines) or 'json' "
        "(one JSON object per line: time, level, logger, message, exception).",
    )
    batch_size: int = Field(
        200, ge=1, le=10_000, description="Mentions scored together by the triage agent."
    )
    batch_timeout: float = Field(
        0.2, gt=0, le=30, description="Seconds the triage agent waits to fill a batch."
    )

    # --- Input limits -----------------------------------------------------------------
    max_text_bytes: int = Field(
        16_384, ge=256, description="Longest mention text accepted (UTF-8 bytes); longer "
        "goes to the dead-letter topic.",
    )
    max_message_bytes: int = Field(
        262_144, ge=1024, description="Largest raw mention message accepted."
    )
    poll_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Networks the worker polls for mentions (e.g. 'mastodon,bluesky'); "
        "each needs its own ROUTER_<NETWORK>_* settings.",
    )
    network_poll_seconds: float = Field(
        30.0, gt=0, le=3600, description="How often polled networks are asked for mentions."
    )
    networks: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["generic", "x", "mastodon", "bluesky", "reddit"],
        description="Networks whose mentions are accepted (others go to the DLQ).",
    )

    # --- Accounts that never get a ticket ---------------------------------------------
    # Empty by default: these are the company's own (the demo sets its sample company's).
    own_accounts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="The company's own handles (comma-separated or JSON list); set yours.",
    )
    personas: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Corporate personas' handles (comma-separated or JSON list).",
    )
    employees: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Employees' personal handles."
    )

    # --- The model ----------------------------------------------------------------------
    model_path: Path | None = Field(
        None, description="Model artifact the worker and `router classify` decide with: a "
        "triage.joblib from `router train` or its folder, with the triage.json and the files "
        "written beside it (checked as the shipped model is: sha256, library versions); "
        "unset: the shipped model. `router model promote` replaces it on every worker "
        "without a restart.",
    )

    # --- Thresholds (ops tune these; see `router evaluate`) ----------------------------
    actionable_threshold: float | None = Field(
        None, ge=0, le=1, description="P(actionable) at or above which support is asked "
        "(unset: the operating point chosen for the loaded model, on its card).",
    )
    category_thresholds: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=dict,
        description="Per-category actionable thresholds overriding actionable_threshold, "
        'as JSON, e.g. {"praise": 0.9, "outage": 0.4}.',
    )
    hurtful_threshold: float | None = Field(
        None, ge=0, le=1, description="P(hurtful) at or above which a mention is hurtful "
        "(unset: the loaded model's operating point).",
    )
    sensitive_threshold: float = Field(
        0.5, ge=0, le=1, description="P(sensitive moment) at or above which no reply goes."
    )
    min_coverage: float = Field(
        0.4, ge=0, le=1,
        description="Below this share of known words the model cannot read the mention "
        "(another language, jargon): a human reviews it. 0 turns this off.",
    )
    audit_share: float = Field(
        0.01, ge=0, le=1,
        description="Share of the silent verdicts the model judged (not the rules: own "
        "accounts, reposts, duplicates) that become audit items for a person (router "
        "audit). 0 turns the audit off.",
    )
    audit_per_hour: int = Field(
        20, ge=0, description="At most this many audit items per hour and worker.")
    review_margin: float | None = Field(
        None, ge=0, le=0.5,
        description="Actionable scores within this margin below the threshold go to review "
        "(unset: the band chosen for the loaded model, on its card, to keep review within "
        "3% of general traffic).",
    )
    author_link_hours: float = Field(
        72.0, ge=0, description="A customer's new mention joins their open case this long."
    )
    reopen_hours: float = Field(
        168.0, ge=0, description="A solved case can be joined (reopened) this long after."
    )
    incident_window_seconds: float = Field(
        900.0, gt=0, description="Window in which outage reports are counted together."
    )
    incident_min_reports: int = Field(
        3, ge=2, description="Outage reports in one window that make an incident."
    )

    # --- Desk -------------------------------------------------------------------------
    desk: str = Field("embedded", description="Desk connector key (see `router connectors`).")
    desk_poll_seconds: float = Field(
        5.0, gt=0, le=3600, description="How often desks without webhooks are polled."
    )
    embedded_desk_path: Path = Field(
        Path("var/desk.sqlite"), description="SQLite file of the embedded desk."
    )
    embedded_desk_url: str = Field(
        "http://127.0.0.1:6066/desk/tickets/{id}",
        description="Link to an embedded-desk ticket; {id} is replaced.",
    )
    desk_concurrency: int = Field(
        4, ge=1, le=64,
        description="Cases the escalate agent works on at once (their desk calls overlap; "
        "one case's mentions are always handled in order). 1 calls the desk one at a time.",
    )
    decision_retry_delays: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [10.0, 60.0, 300.0],
        description="Seconds a decision waits on the decisions-retry topic before each new "
        "try while the desk is unavailable (comma-separated); after the last try it goes "
        "to decisions-dlq (`router dlq replay decisions` re-drives it).",
    )

    # --- Inbound HTTP -----------------------------------------------------------------
    ingest_token: SecretStr | None = Field(
        None, description="Bearer token required by POST /ingest/{network} (unset: the "
        "endpoint refuses everything).",
    )
    webhook_secret: SecretStr | None = Field(
        None, description="The desk's webhook signing secret, checked on POST "
        "/webhooks/{desk} (unset: webhooks are refused).",
    )
    dashboard_token: SecretStr | None = Field(
        None, description="Token that opens the ops dashboard at /dashboard (open "
        "/dashboard?token=... once: it sets a cookie); unset: no dashboard.",
    )
    dashboard_remote: bool = Field(
        False, description="Serve the dashboard to hosts other than this one (false: "
        "loopback peers only; put TLS in front before turning it on).",
    )

    # --- Replies ----------------------------------------------------------------------
    replies_enabled: bool = Field(
        True, description="Default of the global kill switch (false: nothing is posted)."
    )
    reply_output: Literal["file", "network"] = Field(
        "file", description="Where replies go: 'file' (a JSON-lines file plus the console) "
        "or 'network' (posted by each network's connector)."
    )
    reply_log_path: Path = Field(
        Path("var/replies.jsonl"), description="File the default reply output appends to."
    )
    quiet_hours: str = Field(
        "", description="UTC hours when no reply is posted, e.g. '22-7' (empty: none)."
    )
    reply_template: str = Field(
        "Hi @{handle}, thanks for your patience: we've sorted this out. "
        "Here is what we did: {link}",
        description="Reply text; {handle} and {link} are replaced. Per network and "
        "language overrides live in reply_templates.",
    )
    reply_templates: dict[str, str] = Field(
        default_factory=dict,
        description='Overrides keyed "network" or "network:lang", as JSON.',
    )

    @field_validator("agents")
    @classmethod
    def _agents(cls, value: list[str]) -> list[str]:
        known = ("triage", "escalate", "closeloop", "publish")
        unknown = [a for a in value if a not in known]
        if unknown:
            raise ValueError(f"unknown agent {unknown[0]!r}; use some of {', '.join(known)}")
        return value

    @field_validator("own_accounts", "personas", "employees", "networks", "agents",
                     "poll_networks", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip().startswith("["):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("decision_retry_delays", mode="before")
    @classmethod
    def _delays(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                value = [float(v) for v in value.split(",") if v.strip()]
            except ValueError:
                raise ValueError("give seconds separated by commas, e.g. 10,60,300") from None
        if isinstance(value, list) and any(not 0 <= float(v) <= 3600 for v in value):
            raise ValueError("each delay is between 0 and 3600 seconds")
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str) -> str:
        if value:
            parse_quiet_hours(value)
        return value

    @field_validator("category_thresholds")
    @classmethod
    def _categories(cls, value: dict[str, float]) -> dict[str, float]:
        from classifiers.api import CATEGORIES

        for category in value:
            if category not in CATEGORIES:
                raise ValueError(f"unknown category {category!r}"
                                 f"{did_you_mean(category, CATEGORIES)}; "
                                 f"the model knows {', '.join(CATEGORIES)}")
        return value

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def threshold_for(self, category: str) -> float:
        return self.category_thresholds.get(category, self.actionable)

    @property
    def actionable(self) -> float:
        return 0.5 if self.actionable_threshold is None else self.actionable_threshold

    @property
    def review_band(self) -> float:
        return 0.1 if self.review_margin is None else self.review_margin

    @property
    def hurtful_cut(self) -> float:
        return 0.5 if self.hurtful_threshold is None else self.hurtful_threshold

    def with_model_defaults(self, operating_point: dict[str, Any]) -> Settings:
        """These settings, with the thresholds left unset taken from the model's card."""
        update: dict[str, float] = {}
        if self.actionable_threshold is None and "actionable" in operating_point:
            update["actionable_threshold"] = float(operating_point["actionable"])
        if self.hurtful_threshold is None and "hurtful" in operating_point:
            update["hurtful_threshold"] = float(operating_point["hurtful"])
        if self.review_margin is None and "review_margin" in operating_point:
            update["review_margin"] = float(operating_point["review_margin"])
        return self.model_copy(update=update) if update else self


QUIET_HOURS_FORM = "quiet_hours must be H-H with hours 0-23, e.g. 22-7 (UTC)"


def parse_quiet_hours(value: str) -> tuple[int, int]:
    """``"22-7"`` -> (22, 7); anything else raises ValueError naming the valid form."""
    try:
        start, end = (int(x) for x in value.strip().split("-"))
    except ValueError:
        raise ValueError(f"{QUIET_HOURS_FORM}; got {value!r}") from None
    if not (0 <= start <= 23 and 0 <= end <= 23):
        raise ValueError(f"{QUIET_HOURS_FORM}; got {value!r}")
    return start, end


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``" (did you mean billing?)"`` for the closest choice, or ``""`` when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _env_prefix(model_name: str) -> str:
    """The env prefix of the settings class called ``model_name`` (a connector's too)."""
    from pydantic_settings import BaseSettings

    seen: list[type] = [BaseSettings]
    while seen:
        cls = seen.pop()
        if cls.__name__ == model_name and issubclass(cls, BaseSettings):
            return str(cls.model_config.get("env_prefix") or "")
        seen.extend(cls.__subclasses__())
    return ENV_PREFIX


def validation_message(exc: ValidationError) -> str:
    """A pydantic error as one line: the variable, what is wrong, the fix; never a URL."""
    err = exc.errors(include_url=False)[0]
    loc = [str(p) for p in err.get("loc", ())]
    prefix = ENV_PREFIX if exc.title == "Settings" else _env_prefix(exc.title)
    env = f"{prefix}{(loc[0] if loc else '?').upper()}"
    where = f" (at {'.'.join(loc[1:])})" if len(loc) > 1 else ""
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    more = len(exc.errors())
    also = f" (and {more - 1} more)" if more > 1 else ""
    return f"bad setting {env}{where}: {msg}{also}; fix or unset {env}"


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; a bad value becomes a one-line SettingsError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(validation_message(exc)) from None
    except SourceError as exc:
        field = str(exc).split('"')[1] if '"' in str(exc) else "?"
        env = f"{ENV_PREFIX}{field.upper()}"
        raise SettingsError(f"bad setting {env}: not valid JSON; fix or unset {env}") from None
