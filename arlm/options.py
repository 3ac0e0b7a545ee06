"""One declaration per setting: config classes -> flow parameters -> command-line options.

A setting is declared once, as a field of its config class (``TrainConfig`` a dataclass whose fields
carry their help through :func:`opt`; ``IngestConfig`` and ``TokenizerConfig`` pydantic models with
``Field(description=...)``). From that declaration:

- :func:`config_fields` gives pydantic field definitions, from which ``flows/params.py`` builds the
  Prefect flow parameters (``pydantic.create_model``): the UI form shows the same default and help;
- :func:`add_options` turns a flow-parameter model into ``argparse`` options (type, choices,
  default and help taken from the model), plus ``--config FILE.yaml`` and ``--set KEY=VALUE``;
- :func:`params_from_args` builds the parameter model back from the command line, in the order
  defaults < ``--config`` file < options given < ``--set``.

So the CLI, the flows and the loop cannot disagree on a default. The generation uses pydantic's own
machinery (``create_model``, ``FieldInfo``, its validation and JSON schema) rather than a CLI library
such as jsonargparse or tyro: pydantic already defines Prefect's parameter forms, so one library
serves the UI, the CLI and validation, and no dependency is added. Imports only the standard library
at module level (pydantic and YAML when used), so building the command line stays fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import types
import typing
from pathlib import Path
from typing import Any, Literal

from arlm.errors import ConfigError

HELP = "help"  # dataclass field metadata key holding the field's one-line help
CHOICES = "choices"


def opt(default: Any, help: str, *, choices: tuple[str, ...] | None = None) -> Any:
    """A dataclass field with its help (and allowed values): the one declaration of a setting.

    A callable default (``dict``, ``list``) is used as the default factory."""
    meta = {HELP: help}
    if choices is not None:
        meta[CHOICES] = tuple(choices)
    if callable(default):
        return dataclasses.field(default_factory=default, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


# -- config class -> pydantic fields ----------------------------------------------------------------
def config_fields(
    cls: type,
    *,
    include: typing.Iterable[str] | None = None,
    exclude: typing.Iterable[str] = (),
    rename: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``{name: (annotation, FieldInfo)}`` for ``pydantic.create_model``, from a dataclass (help from
    :func:`opt`'s metadata) or a pydantic model (its own fields, constraints included)."""
    from pydantic import Field
    from pydantic.fields import FieldInfo

    rename = rename or {}
    wanted = None if include is None else list(include)
    out: dict[str, Any] = {}
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for name in wanted or list(fields):
            if name in exclude:
                continue
            f = fields[name]
            ann = hints[name]
            if CHOICES in f.metadata:
                ann = Literal[f.metadata[CHOICES]]  # type: ignore[valid-type]
            if f.default is not dataclasses.MISSING:
                info = Field(f.default, description=f.metadata.get(HELP))
            else:  # shown in the form's schema; pydantic copies a mutable default per instance
                info = Field(f.default_factory(), description=f.metadata.get(HELP))
            out[rename.get(name, name)] = (ann, info)
        return out
    model_fields = cls.model_fields  # a pydantic model
    for name in wanted or list(model_fields):
        if name in exclude:
            continue
        fi: FieldInfo = model_fields[name]
        out[rename.get(name, name)] = (fi.annotation, FieldInfo.merge_field_infos(fi))
    return out


# -- pydantic model -> argparse ---------------------------------------------------------------------
def _unwrap_optional(ann: Any) -> tuple[Any, bool]:
    args = typing.get_args(ann)
    if typing.get_origin(ann) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]), True  # noqa: UP007 - built at run time
    return ann, False


def _none_or(convert, optional: bool, what: str):
    def parse(text: str):
        if optional and text.lower() in ("none", "null"):
            return None
        try:
            return convert(text)
        except (ValueError, TypeError):
            raise argparse.ArgumentTypeError(f"expected {what}{' or none' if optional else ''}, got {text!r}") from None

    return parse


def _yaml_value(text: str) -> Any:
    """A value written on the command line: YAML scalars and flow collections (``[1, 2]``,
    ``{a: 1}``), so ``--set betas=[0.9,0.99]`` and ``--set compile=false`` read naturally."""
    import yaml

    if text.strip().lower() in ("none", "null"):  # as the generated options read it
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _show(value: Any) -> str:
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(list(value) if isinstance(value, tuple) else value)
    return str(value)


def add_options(
    parser: argparse.ArgumentParser,
    params_cls: type,
    *,
    exclude: typing.Iterable[str] = (),
    aliases: dict[str, list[str]] | None = None,
    groups: dict[str, str] | None = None,
    config_file: bool = True,
) -> None:
    """Add one option per field of ``params_cls`` (a pydantic model), with the model's type,
    choices, default and description; ``--config``/``--set`` when ``config_file``. Options left out
    keep the model's default (argparse stores nothing for them)."""
    aliases = aliases or {}
    groups = groups or {}
    sections: dict[str, argparse._ArgumentGroup] = {}
    for name, fi in params_cls.model_fields.items():
        if name in exclude:
            continue
        target = parser
        if name in groups:
            title = groups[name]
            target = sections.get(title) or sections.setdefault(title, parser.add_argument_group(title))
        flags = aliases.get(name, [_flag(name)])
        default = fi.get_default(call_default_factory=True)
        help_text = f"{fi.description or ''} (default: {_show(default)})".replace("%", "%%")
        kw: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": help_text}
        ann, optional = _unwrap_optional(fi.annotation)
        origin = typing.get_origin(ann)
        if ann is bool:
            target.add_argument(*flags, action=argparse.BooleanOptionalAction, **kw)
            continue
        if origin is Literal:
            values = typing.get_args(ann)
            kw["choices"] = list(values) + ([None] if optional else [])
            kw["type"] = _none_or(type(values[0]), optional, "one of " + ", ".join(map(str, values)))
            kw["metavar"] = "{" + ",".join(map(str, values)) + ("," + "none" if optional else "") + "}"
        elif ann in (int, float, str):
            kw["type"] = _none_or(ann, optional, {int: "an integer", float: "a number", str: "text"}[ann])
            kw["metavar"] = {int: "N", float: "X", str: "TEXT"}[ann]
        elif origin in (list, tuple) and typing.get_args(ann) in ((str,), (str, ...)):
            kw["action"] = "append"
            kw["metavar"] = "TEXT"
            kw["help"] = help_text + " (repeatable)"
        else:  # dict, tuple, unions: a YAML value
            kw["type"] = _yaml_value
            kw["metavar"] = "YAML"
        target.add_argument(*flags, **kw)
    if config_file:
        parser.add_argument(
            "--config",
            dest="config_file",
            metavar="FILE.yaml",
            default=None,
            help="read parameters from a YAML file mapping parameter names to values "
            "(max_steps: 200); options given on the command line win over the file",
        )
        parser.add_argument(
            "--set",
            dest="set_values",
            metavar="KEY=VALUE",
            action="append",
            default=[],
            help="set any parameter, e.g. --set warmup_steps=50 --set model_overrides.n_layer=6 "
            "(VALUE is YAML; repeatable; applied last)",
        )


# -- argparse -> pydantic model ---------------------------------------------------------------------
def _unknown(key: str, known: typing.Iterable[str], where: str) -> ConfigError:
    known = sorted(known)
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else f" (known: {', '.join(known)})"
    return ConfigError(f"{where}: unknown parameter {key!r}{hint}")


def _put(values: dict[str, Any], key: str, value: Any, known: typing.Iterable[str], where: str) -> None:
    """``values[key] = value``; ``a.b`` sets key ``b`` of the mapping parameter ``a``."""
    head, _, rest = key.partition(".")
    head = head.replace("-", "_")
    if head not in known:
        raise _unknown(head, known, where)
    if rest:
        inner = dict(values.get(head) or {})
        inner[rest] = value
        values[head] = inner
    else:
        values[head] = value


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML mapping of parameter names to values; errors name the file (and line)."""
    import yaml

    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--config {p}: cannot read it ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{p}:{mark.line + 1}" if mark is not None else str(p)
        raise ConfigError(f"--config {where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"--config {p}: expected a mapping of NAME: VALUE, got {type(data).__name__}")
    return data


def validation_message(exc: Any, prefix: str = "--") -> str:
    """One line from a pydantic ``ValidationError``: the option, the problem, the value given."""
    err = exc.errors()[0]
    msg = str(err["msg"]).removeprefix("Value error, ")
    if not err["loc"]:  # a check across fields (e.g. no budget at all)
        return msg
    loc = prefix + "-".join(str(x) for x in err["loc"]).replace("_", "-")
    got = repr(err.get("input"))
    got = got if len(got) <= 60 else got[:57] + "..."
    return f"{loc}: {msg} (got {got})"


def params_from_args(params_cls: type, args: argparse.Namespace, **extra: Any):
    """The parameter model from defaults < ``--config`` < options given < ``--set`` < ``extra``;
    an unknown key is refused with the close matches, a bad value with the option named."""
    from pydantic import ValidationError

    known = list(params_cls.model_fields)
    values: dict[str, Any] = {}
    config_file = getattr(args, "config_file", None)
    if config_file:
        for key, value in read_config_file(config_file).items():
            _put(values, str(key), value, known, f"--config {config_file}")
    for name in known:
        if name in vars(args):
            values[name] = getattr(args, name)
    for item in getattr(args, "set_values", None) or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        _put(values, key.strip(), _yaml_value(text), known, "--set")
    values.update(extra)
    if "home" in known:
        values["home"] = getattr(args, "home", None)
    try:
        return params_cls(**values)
    except ValidationError as exc:
        raise ConfigError(validation_message(exc)) from None
