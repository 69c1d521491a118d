"""The copywriters' templates: loading, sandboxed rendering, and what a text costs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)
from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
    meta,
)
from jinja2.sandbox import ImmutableSandboxedEnvironment

from notifier.errors import ConfigError
from notifier.rules import Rule, RuleConfig, load_rules

MAX_BODY = 1600
TEMPLATE_NAMES = frozenset({"user", "habits", "rule", "local_date"})
_FIRST_NAME_LIMIT = 40
_FALLBACK_FIRST_NAME = "there"
_PACKAGED = Path(__file__).parent / "default_templates"
_CHECKOUT = Path(__file__).parent.parent / "templates"


def default_templates_dir() -> Path:
    """The templates shipped with the package (or the checkout's, when run from git)."""
    return _PACKAGED if _PACKAGED.is_dir() else _CHECKOUT


@dataclass(frozen=True, slots=True)
class Recipient:
    """What a template may know about the person it is written to."""

    id: int
    name: str | None
    habits: tuple[str, ...]


def first_name(name: str | None) -> str:
    """The first word of a name, or a friendly stand-in when there is none."""
    words = (name or "").split()
    if not words:
        return _FALLBACK_FIRST_NAME
    return words[0][:_FIRST_NAME_LIMIT]


def template_context(
    recipient: Recipient, rule: Rule, local_date: date
) -> dict[str, Any]:
    """The names a template can use; ``templates/README.md`` documents them."""
    return {
        "user": {
            "id": recipient.id,
            "name": recipient.name or "",
            "first_name": first_name(recipient.name),
        },
        "habits": list(recipient.habits),
        "rule": rule.value,
        "local_date": local_date,
    }


SAMPLE_RECIPIENTS = (
    Recipient(101, "Maya Lopez", ("Read 10 pages", "Stretch")),
    Recipient(102, None, ()),
    Recipient(103, "Zoë Ødegård", ("Meditate 🧘",)),
    Recipient(104, "Christopher-Alexander Montgomery-Featherstonehaugh", ("Walk",)),
)


class Renderer:
    """Renders each enabled rule's template; built only from sound templates."""

    def __init__(self, templates_dir: Path, *, only: Rule | None = None) -> None:
        self.templates_dir = templates_dir
        self.rules = load_rules(templates_dir)
        self._env = ImmutableSandboxedEnvironment(
            loader=FileSystemLoader(templates_dir),
            undefined=StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._templates = {
            rule: self._load(config)
            for rule, config in self.rules.items()
            if (config.enabled if only is None else rule is only)
        }
        for rule in self._templates:
            for person in SAMPLE_RECIPIENTS:
                self.render(rule, person, date(2026, 1, 1))

    def enabled(self, rule: Rule) -> bool:
        """Whether the rules file has this rule switched on."""
        return rule in self._templates

    def render(self, rule: Rule, recipient: Recipient, local_date: date) -> str:
        """The text for one person, stripped of surrounding white space."""
        context = template_context(recipient, rule, local_date)
        try:
            body: str = self._templates[rule].render(context)
            return body.strip()
        except UndefinedError as error:
            name = self.rules[rule].template
            raise ConfigError(
                f"template {name} names something a text does not have "
                f"({error.message}); a user has id, name and first_name, and habits "
                "is a list of names (see templates/README.md)"
            ) from None
        except TemplateError as error:
            name = self.rules[rule].template
            raise ConfigError(f"template {name}: {error}; fix the template") from None

    def _load(self, config: RuleConfig) -> Any:
        name = config.template
        try:
            source, _, _ = self._env.loader.get_source(self._env, name)  # type: ignore[union-attr]  # loader is set above
            unknown = sorted(
                meta.find_undeclared_variables(self._env.parse(source)) - TEMPLATE_NAMES
            )
            template = self._env.get_template(name)
        except UnicodeDecodeError:
            raise ConfigError(
                f"template {name} is not UTF-8 text: save it as UTF-8"
            ) from None
        except TemplateNotFound:
            raise ConfigError(
                f"template {name} (rule {config.rule.value}) not found in "
                f"{self.templates_dir}; add it or fix rules.toml"
            ) from None
        except TemplateSyntaxError as error:
            raise ConfigError(
                f"template {name}, line {error.lineno}: {error.message}; fix it"
            ) from None
        if unknown:
            raise ConfigError(
                f"template {name} uses unknown name {unknown[0]!r}; templates may use "
                f"{', '.join(sorted(TEMPLATE_NAMES))}"
            )
        return template


@dataclass(frozen=True, slots=True)
class SmsShape:
    """How a body travels: its encoding, length in that encoding, and segment count."""

    encoding: str
    units: int
    segments: int
    non_gsm: tuple[str, ...] = ()

    def cost(self, price_per_segment: Decimal) -> Decimal:
        """What sending it costs at a flat price per segment."""
        return price_per_segment * self.segments


def sms_shape(body: str) -> SmsShape:
    """GSM-7 when every character has a GSM-7 code (extension characters take two),
    otherwise UCS-2 counted in UTF-16 units; concatenated segments lose their header."""
    try:
        units = len(body.encode("gsm03.38"))
        encoding, single, multi = "GSM-7", 160, 153
        non_gsm: tuple[str, ...] = ()
    except UnicodeEncodeError:
        units = len(body.encode("utf-16-le")) // 2
        encoding, single, multi = "UCS-2", 70, 67
        non_gsm = tuple(dict.fromkeys(char for char in body if not _in_gsm(char)))
    segments = 1 if units <= single else math.ceil(units / multi)
    return SmsShape(encoding, units, segments, non_gsm)


def _in_gsm(char: str) -> bool:
    try:
        char.encode("gsm03.38")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Rendered:
    """A template rendered for one sample person, with its shape."""

    rule: Rule
    recipient: Recipient
    body: str
    shape: SmsShape


@dataclass(frozen=True, slots=True)
class TemplateCheck:
    """What ``templates check`` found for one rule: renders, or the problem."""

    rule: Rule
    template: str
    enabled: bool
    rendered: tuple[Rendered, ...] = ()
    problem: str | None = None
    non_gsm: tuple[str, ...] = ()


def check_templates(
    templates_dir: Path,
    local_date: date,
    recipients: tuple[Recipient, ...] = SAMPLE_RECIPIENTS,
) -> list[TemplateCheck]:
    """Render every rule's template, enabled or not, against sample people."""
    rules = load_rules(templates_dir)
    checks = []
    for rule, config in rules.items():
        try:
            renderer = Renderer(templates_dir, only=rule)
            rendered = tuple(
                Rendered(rule, person, body, sms_shape(body))
                for person in recipients
                for body in [renderer.render(rule, person, local_date)]
            )
        except ConfigError as error:
            checks.append(
                TemplateCheck(rule, config.template, config.enabled, problem=str(error))
            )
            continue
        too_long = [item for item in rendered if len(item.body) > MAX_BODY]
        problem = (
            f"renders {len(too_long[0].body)} characters for a sample person; "
            f"texts over {MAX_BODY} are never sent"
            if too_long
            else None
        )
        source = (templates_dir / config.template).read_text(encoding="utf-8")
        checks.append(
            TemplateCheck(
                rule,
                config.template,
                config.enabled,
                rendered,
                problem,
                sms_shape(source).non_gsm,
            )
        )
    return checks
