"""mapi's configuration file: MAPI's ``mapi.conf``, modernised as TOML.

The first file found is used (MAPI's ``pc_load`` did the same with its list of files):

1. ``$MAPI_CONFIG`` when set (it must exist);
2. ``$XDG_CONFIG_HOME/mapi/mapi.toml`` (``~/.config/mapi/mapi.toml``);
3. ``/etc/mapi/mapi.toml``.

No file is fine: every network interface is then a device of its own name with the defaults.
Example::

    # Defaults for every live device (these are the built-in ones).
    [live]
    snaplen = 262144          # bytes kept of each packet, 1..262144
    promisc = true            # promiscuous mode
    buffer_size = "4MiB"      # kernel capture buffer: bytes, or a string with KiB/MiB/GiB
    backend = "auto"          # "afpacket" (Linux TPACKET_V3 ring), "pcap" (libpcap) or "auto"
    timeout_ms = 10           # longest wait before a partly filled buffer block is handed over
    immediate = false         # hand every packet over at once (more wake-ups)
    fanout = 0                # afpacket: join this PACKET_FANOUT group (1..65535): the kernel shares
                              # the packets out by flow hash among its sockets; 0: no group

    # A device: the name flows use, the interface it captures, other names, its own options.
    [devices.uplink]
    interface = "eth0"
    alias = ["wan", "probe0"]   # one string or a list
    description = "campus uplink, SPAN port"
    snaplen = 1514
    buffer_size = "64MiB"

Every key is checked; a mistake is a :class:`ConfigError` naming the file, the line and the key.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from mapi_core.errors import ErrorCode, MapiError

CONFIG_ENV = "MAPI_CONFIG"
SYSTEM_CONFIG = Path("/etc/mapi/mapi.toml")
MAX_SNAPLEN = 262144
MIN_BUFFER = 64 * 1024
MAX_BUFFER = 2**31 - 1          # libpcap takes an int
BACKENDS = ("auto", "afpacket", "pcap")
DEFAULT_DRIVER = "nic"


class ConfigError(MapiError):
    """A configuration file that cannot be used; the message says where and why.

    Its code is MAPI's 6141 (MAPI cannot initialise), since MAPI read its configuration when it
    started."""

    def __init__(self, detail: str) -> None:
        super().__init__(ErrorCode.MAPI_INIT_ERROR, detail)


@attrs.frozen
class LiveOptions:
    """How a live device captures (see the module's example for the meaning of each)."""

    snaplen: int = MAX_SNAPLEN
    promisc: bool = True
    buffer_size: int = 4 * 1024 * 1024
    backend: str = "auto"
    timeout_ms: int = 10
    immediate: bool = False
    fanout: int = 0


OPTION_NAMES = tuple(field.name for field in attrs.fields(LiveOptions))


@attrs.frozen
class DeviceEntry:
    """A ``[devices.NAME]`` section: ``options`` holds only the options it sets."""

    name: str
    interface: str
    aliases: tuple[str, ...] = ()
    description: str = ""
    driver: str = DEFAULT_DRIVER
    options: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        """Every name that designates this device."""
        return (self.name, *self.aliases, *((self.interface,) if self.interface != self.name else ()))


@attrs.frozen
class Config:
    """A loaded configuration (empty when there is no file)."""

    path: Path | None = None
    live: LiveOptions = LiveOptions()
    devices: tuple[DeviceEntry, ...] = ()

    def find(self, name: str) -> DeviceEntry | None:
        """The device a name designates: its section name, an alias, or its interface."""
        for entry in self.devices:
            if name in entry.names:
                return entry
        return None

    def options(self, entry: DeviceEntry | None = None, **overrides: Any) -> LiveOptions:
        """The options of a device: ``overrides`` (not None), then its section, then ``[live]``.
        Overrides are checked like the file's values: a wrong one is MapiError 7000 naming it."""
        values = attrs.asdict(self.live)
        if entry is not None:
            values.update(entry.options)
        for key, value in overrides.items():
            if value is None:
                continue
            if key not in OPTION_NAMES:
                raise MapiError(ErrorCode.MFUNCT_INVALID_ARGUMENT,
                                f"unknown live device option {key!r} (options: {', '.join(OPTION_NAMES)})")
            try:
                values[key] = _check_option(key, value)
            except (TypeError, ValueError) as err:
                raise MapiError(ErrorCode.MFUNCT_INVALID_ARGUMENT, f"live device option {key}: {err}") from None
        return LiveOptions(**values)


# -- checking values -------------------------------------------------------------------------

_UNITS = {"": 1, "b": 1, "k": 1024, "kib": 1024, "kb": 1000, "m": 1024**2, "mib": 1024**2, "mb": 1000**2,
          "g": 1024**3, "gib": 1024**3, "gb": 1000**3}


def _integer(value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"must be an integer from {low} to {high}, not {value!r}")
    if not low <= value <= high:
        raise ValueError(f"must be from {low} to {high}, not {value}")
    return value


def parse_size(value: Any) -> int:
    """Bytes from an integer or a string such as ``"4MiB"``, ``"512 KiB"``, ``"64k"``."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+)\s*([A-Za-z]*)\s*", value)
        if match is None or match[2].lower() not in _UNITS:
            raise ValueError(f"must be a number of bytes, e.g. 4194304 or \"4MiB\", not {value!r}")
        value = int(match[1]) * _UNITS[match[2].lower()]
    return _integer(value, MIN_BUFFER, MAX_BUFFER)


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"must be true or false, not {value!r}")
    return value


def _check_option(key: str, value: Any) -> Any:
    if key == "snaplen":
        return _integer(value, 1, MAX_SNAPLEN)
    if key == "buffer_size":
        return parse_size(value)
    if key == "timeout_ms":
        return _integer(value, 1, 60000)
    if key in ("promisc", "immediate"):
        return _boolean(value)
    if key == "fanout":
        return _integer(value, 0, 65535)
    if key == "backend":
        if value not in BACKENDS:
            raise ValueError(f"must be one of {', '.join(map(repr, BACKENDS))}, not {value!r}")
        return value
    raise KeyError(key)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"must be a string, not {value!r}")
    return value


def _device_name(value: Any) -> str:
    """A name flows can use for a device: no '/', ':', '@' or blanks (those mean files,
    DiMAPI probes and offline devices)."""
    name = _text(value)
    if not name or re.search(r"[/:@\s]", name):
        raise ValueError(f"must be a non-empty name without '/', ':', '@' or blanks, not {value!r}")
    return name


# -- locating keys for messages ----------------------------------------------------------------

def _normalise_table(header: str) -> str:
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"|\'([^\']*)\'|([^.\s]+)', header)
    return ".".join(next(p for p in part if p) if any(part) else "" for part in parts)


def _line_of(text: str, table: str, key: str | None = None) -> int | None:
    """The line of ``key`` in ``[table]`` (or of the table header itself), if it can be found."""
    current = ""
    header_line = None
    target = f"{table}.{key}" if table else key
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.split("#", 1)[0].strip()
        header = re.fullmatch(r"\[\s*([^\[\]]+?)\s*\]", stripped)
        if header:
            current = _normalise_table(header[1])
            if key is not None and (current == target or current.startswith(f"{target}.")):
                return number   # the key is a table of its own
            if current == table and header_line is None:
                header_line = number
            continue
        if key is None:
            continue
        assignment = re.match(r'("[^"]*"|\'[^\']*\'|[A-Za-z0-9_.-]+)\s*=', stripped)
        if assignment:
            name = _normalise_table(assignment[1])
            if (f"{current}.{name}" if current else name) == target:
                return number
    return header_line


class _Reader:
    """Checks one parsed file and reports mistakes with their place."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text

    def error(self, table: str, key: str | None, problem: str) -> ConfigError:
        line = _line_of(self.text, table, key)
        where = f"{self.path}:{line}" if line else f"{self.path}"
        what = f"[{table}]" if table else ""
        if key is not None:
            what = f"{what} {key}".strip()
        return ConfigError(f"{where}: {what}: {problem}" if what else f"{where}: {problem}")

    def table(self, data: Mapping[str, Any], name: str, key: str) -> Mapping[str, Any]:
        value = data[key]
        if not isinstance(value, Mapping):
            raise self.error(name, key, "must be a table ([...] section)")
        return value

    def options(self, table: str, values: Mapping[str, Any], allowed_extra: tuple[str, ...]) -> dict[str, Any]:
        options = {}
        for key, value in values.items():
            if key in allowed_extra:
                continue
            if key not in OPTION_NAMES:
                known = ", ".join((*allowed_extra, *OPTION_NAMES))
                raise self.error(table, key, f"unknown key (known keys: {known})")
            try:
                options[key] = _check_option(key, value)
            except (TypeError, ValueError) as err:
                raise self.error(table, key, str(err)) from None
        return options

    def device(self, name: str, values: Mapping[str, Any]) -> DeviceEntry:
        table = f"devices.{name}"
        try:
            _device_name(name)
        except (TypeError, ValueError) as err:
            raise self.error(table, None, f"device name {err}") from None
        extra = ("interface", "alias", "description", "driver")
        options = self.options(table, values, extra)
        fields: dict[str, Any] = {}
        for key, check in (("interface", _device_name), ("description", _text), ("driver", _text)):
            if key in values:
                try:
                    fields[key] = check(values[key])
                except (TypeError, ValueError) as err:
                    raise self.error(table, key, str(err)) from None
        aliases = values.get("alias", ())
        if isinstance(aliases, str):
            aliases = (aliases,)
        if not isinstance(aliases, (list, tuple)):
            raise self.error(table, "alias", f"must be a name or a list of names, not {aliases!r}")
        try:
            aliases = tuple(_device_name(a) for a in aliases)
        except (TypeError, ValueError) as err:
            raise self.error(table, "alias", f"each alias {err}") from None
        return DeviceEntry(name, fields.get("interface", name), aliases, fields.get("description", ""),
                           fields.get("driver", DEFAULT_DRIVER), options)

    def read(self, data: Mapping[str, Any]) -> Config:
        for key in data:
            if key not in ("live", "devices"):
                raise self.error("", key, "unknown section (sections: [live], [devices.NAME])")
        live = LiveOptions()
        if "live" in data:
            live = LiveOptions(**self.options("live", self.table(data, "", "live"), ()))
        devices = []
        if "devices" in data:
            for name, values in self.table(data, "", "devices").items():
                if not isinstance(values, Mapping):
                    raise self.error("devices", name, "must be a table: [devices.NAME]")
                devices.append(self.device(name, values))
        self._check_unique(devices)
        return Config(self.path, live, tuple(devices))

    def _check_unique(self, devices: list[DeviceEntry]) -> None:
        owner: dict[str, str] = {}
        interfaces: dict[str, str] = {}
        for entry in devices:
            for name in dict.fromkeys((entry.name, *entry.aliases)):
                if name in owner and owner[name] != entry.name:
                    raise self.error(f"devices.{entry.name}", "alias" if name != entry.name else None,
                                     f"the name {name!r} is already used by [devices.{owner[name]}]")
                owner[name] = entry.name
            if entry.interface in interfaces:
                raise self.error(f"devices.{entry.name}", "interface",
                                 f"interface {entry.interface!r} is already captured by "
                                 f"[devices.{interfaces[entry.interface]}]: one device per interface")
            interfaces[entry.interface] = entry.name
        for entry in devices:
            # an interface name may only designate its own device
            if entry.interface in owner and owner[entry.interface] != entry.name:
                raise self.error(f"devices.{entry.name}", "interface",
                                 f"{entry.interface!r} is a name of [devices.{owner[entry.interface]}]")


def _toml_loads(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise ConfigError("reading mapi.toml needs Python 3.11 or the tomli package") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(str(err)) from None


def parse(text: str, path: str | os.PathLike = "<string>") -> Config:
    """A configuration from TOML text (``path`` is only used in messages)."""
    path = Path(path)
    try:
        data = _toml_loads(text)
    except (TypeError, ValueError) as err:
        found = re.search(r"\(at line (\d+), column (\d+)\)", str(err))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(err))
        where = f"{path}:{found[1]}:{found[2]}" if found else str(path)
        raise ConfigError(f"{where}: not valid TOML: {message}") from None
    return _Reader(path, text).read(data)


def candidates() -> Iterator[Path]:
    """The places a configuration file is looked for, in order."""
    configured = os.environ.get(CONFIG_ENV)
    if configured:
        yield Path(configured)
        return
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    yield Path(base) / "mapi" / "mapi.toml"
    yield SYSTEM_CONFIG


def config_path() -> Path | None:
    """The configuration file in use, None when there is none."""
    configured = os.environ.get(CONFIG_ENV)
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise ConfigError(f"{CONFIG_ENV} names {path}, which is not a file")
        return path
    for path in candidates():
        if path.is_file():
            return path
    return None


def load(path: str | os.PathLike | None = None) -> Config:
    """The configuration from ``path``, or from the first file found (empty if none)."""
    path = Path(path) if path is not None else config_path()
    if path is None:
        return Config()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot be read: {err}") from None
    return parse(text, path)


class ConfigCache:
    """The configuration, read again when the file (or ``$MAPI_CONFIG``) changes."""

    def __init__(self) -> None:
        self._key: tuple[Any, ...] | None = None
        self._config = Config()

    def get(self) -> Config:
        path = config_path()
        try:
            stamp = path.stat().st_mtime_ns if path is not None else None
        except OSError:
            stamp = None
        key = (path, stamp)
        if key != self._key:
            self._config = load(path) if path is not None else Config()
            self._key = key
        return self._config
