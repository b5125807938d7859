"""``mapi devices``: device kinds, open devices, configured devices and the network interfaces
that can be captured (libpcap's ``pcap_findalldevs`` merged with the kernel's view in sysfs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from mapi_core import constants
from mapi_core.cli._common import MapiGroup, echo_json, err, out
from mapi_core.config import Config, ConfigError, DeviceEntry
from mapi_core.constants import DEVICE_STATUS_NAMES
from mapi_core.devices.base import Device
from mapi_core.errors import MapiError
from mapi_core.plugins.types import DeviceDef
from mapi_core.runtime import default_runtime

SYS_NET = Path("/sys/class/net")
#: PCAP_IF_* flags of pcap_findalldevs, as tcpdump -D names them
PCAP_FLAGS = ((0x2, "Up"), (0x4, "Running"), (0x8, "Wireless"), (0x1, "Loopback"))
PCAP_CONNECTION = {0x10: "Connected", 0x20: "Disconnected"}   # 0x30, not applicable: not shown


def kind_record(kind: DeviceDef) -> dict[str, Any]:
    return {"name": kind.name, "description": kind.description, "device_oid": kind.device_oid,
            "formats": [{"code": code, "name": format_name(code)} for code in kind.formats], "live": kind.live, "library": kind.library,
            "distribution": kind.distribution, "version": kind.version}


def device_record(device: Device) -> dict[str, Any]:
    return {"name": device.name, "id": device.devid, "driver": device.driver,
            "status": DEVICE_STATUS_NAMES.get(device.status, str(device.status)), "packets": device.packets}


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return ""


def network_interfaces(root: Path = SYS_NET) -> list[dict[str, Any]]:
    """The machine's interfaces (name, operstate, MTU, MAC) from sysfs; [] when it is unreadable."""
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return []
    interfaces = []
    for entry in entries:
        mtu = _read(entry / "mtu")
        interfaces.append({"name": entry.name, "operstate": _read(entry / "operstate") or "unknown",
                           "mtu": int(mtu) if mtu.isdigit() else None, "mac": _read(entry / "address")})
    return interfaces


def pcap_flag_names(flags: int) -> list[str]:
    """``["Up", "Running", "Connected"]`` for libpcap's PCAP_IF_* flags (tcpdump -D's words)."""
    names = [name for bit, name in PCAP_FLAGS if flags & bit]
    if flags & 0x30 in PCAP_CONNECTION:
        names.append(PCAP_CONNECTION[flags & 0x30])
    return names


def linktype_text(linktype: int | None) -> str:
    """``"EN10MB (1)"``: libpcap's name and the LINKTYPE_ value."""
    if linktype is None:
        return "-"
    from mapi_core.engine._engine import ffi, lib

    name = ffi.string(lib.mapi_live_linktype_name(linktype)).decode()
    return f"{name} ({linktype})" if name else str(linktype)


def capture_interfaces(root: Path = SYS_NET) -> list[dict[str, Any]]:
    """Every device live capture can open: libpcap's list (names, flags, addresses, as
    ``tcpdump -D``) merged with the kernel's interfaces (link type from the interface type,
    MTU, MAC, state).  ``backend`` is what ``backend="auto"`` picks for it."""
    from mapi_core.devices.live import pcap_devices
    from mapi_core.engine._engine import lib

    try:
        found = pcap_devices()
    except MapiError:
        found = []
    kernel = {i["name"]: i for i in network_interfaces(root)}
    names = [d["name"] for d in found] + [n for n in kernel if n not in {d["name"] for d in found}]
    by_name = {d["name"]: d for d in found}
    result = []
    for name in names:
        pcap = by_name.get(name, {})
        sysfs = kernel.get(name)
        arphrd = _read(root / name / "type") if sysfs else ""
        linktype = lib.mapi_live_linktype_of_arphrd(int(arphrd)) if arphrd.isdigit() else None
        if name == "any":
            linktype = lib.mapi_live_linktype_of_arphrd(0xFFFF)   # cooked headers: LINUX_SLL
        result.append({
            "name": name,
            "description": pcap.get("description", ""),
            "flags": pcap_flag_names(int(pcap.get("flags", 0))),
            "linktype": linktype,
            "linktype_name": linktype_text(linktype),
            "addresses": list(pcap.get("addresses", [])),
            "mtu": sysfs["mtu"] if sysfs else None,
            "mac": sysfs["mac"] if sysfs else "",
            "operstate": sysfs["operstate"] if sysfs else "",
            "backend": "afpacket" if sysfs or name == "any" else "pcap",
            "pcap": name in by_name,
        })
    return result


def configured_record(entry: DeviceEntry) -> dict[str, Any]:
    return {"name": entry.name, "interface": entry.interface, "aliases": list(entry.aliases),
            "description": entry.description, "driver": entry.driver, "options": dict(entry.options)}


def format_name(code: int) -> str:
    """``MFF_PCAP`` for 0: MAPI's name of a file-format code."""
    names = [name for name in dir(constants) if name.startswith("MFF_") and getattr(constants, name) == code]
    return names[0] if names else str(code)


def kinds_table(kinds: list[DeviceDef]) -> Table:
    table = Table(title="Device kinds", title_justify="left")
    table.add_column("Name", style="bold cyan", no_wrap=True)
    table.add_column("OID", no_wrap=True)
    table.add_column("Formats", no_wrap=True)
    table.add_column("Live", no_wrap=True)
    table.add_column("Library", no_wrap=True)
    table.add_column("Description", overflow="fold")
    for kind in kinds:
        table.add_row(kind.name, kind.device_oid, ", ".join(map(format_name, kind.formats)) or "-",
                      "yes" if kind.live else "no", kind.library, kind.description)
    return table


def open_devices_table(devices: list[Device]) -> Table:
    table = Table(title="Open devices", title_justify="left")
    for column in ("Name", "Id", "Driver", "Status", "Packets"):
        table.add_column(column, overflow="fold")
    for device in devices:
        record = device_record(device)
        table.add_row(record["name"], str(record["id"]), record["driver"], record["status"], str(record["packets"]))
    return table


def interfaces_table(interfaces: list[dict[str, Any]], config: Config) -> Table:
    table = Table(title="Network interfaces (live capture)", title_justify="left")
    for column in ("Name", "Flags", "Link type", "Addresses", "MTU", "Backend", "Configured as", "Description"):
        table.add_column(column, no_wrap=column in ("Name", "Link type", "MTU", "Backend"), overflow="fold")
    for interface in interfaces:
        entry = config.find(interface["name"])
        configured = ", ".join((entry.name, *entry.aliases)) if entry is not None else ""
        table.add_row(interface["name"], ", ".join(interface["flags"]) or "none", interface["linktype_name"],
                      "\n".join(interface["addresses"]) or "-", str(interface["mtu"] or "-"),
                      interface["backend"], configured or "-", interface["description"] or "-")
    return table


def configured_table(config: Config) -> Table:
    table = Table(title=f"Configured devices ({config.path})", title_justify="left")
    for column in ("Name", "Interface", "Aliases", "Options", "Description"):
        table.add_column(column, overflow="fold")
    for entry in config.devices:
        options = " ".join(f"{k}={v}" for k, v in entry.options.items())
        table.add_row(entry.name, entry.interface, ", ".join(entry.aliases) or "-", options or "-",
                      entry.description or "-")
    return table


def _print_devices(console: Console, kinds: list[DeviceDef], devices: list[Device],
                   interfaces: list[dict[str, Any]], config: Config) -> None:
    console.print(kinds_table(kinds) if kinds else "No device kinds are installed.")
    console.print(open_devices_table(devices) if devices else "No devices are open in this process.")
    if config.devices:
        console.print(configured_table(config))
    elif config.path is not None:
        console.print(f"No devices are configured in {config.path}.")
    if interfaces:
        console.print(interfaces_table(interfaces, config))
    else:
        console.print("No network interfaces found (libpcap and sysfs list none).")


@click.group(cls=MapiGroup)
def devices() -> None:
    """Device kinds, open devices and network interfaces."""


@devices.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def list_devices(as_json: bool) -> None:
    """Lists the device kinds the libraries provide, the open devices, the devices of the
    configuration file and the network interfaces live capture can open."""
    runtime = default_runtime()
    kinds, open_devices, interfaces = runtime.registry.devices, runtime.devices(), capture_interfaces()
    try:
        config, config_error = runtime.config, ""
    except ConfigError as error:
        config, config_error = Config(), error.detail
    if as_json:
        echo_json({"kinds": [kind_record(k) for k in kinds], "open": [device_record(d) for d in open_devices],
                   "interfaces": interfaces, "config": str(config.path) if config.path else None,
                   "configured": [configured_record(e) for e in config.devices], "config_error": config_error})
        return
    if config_error:
        err().print(f"[red]mapi: configuration: {config_error}[/]")
    _print_devices(out(), kinds, open_devices, interfaces, config)
