"""``mapi devices``: device kinds, open devices and the machine's network interfaces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from mapi_core import constants
from mapi_core.cli._common import MapiGroup, echo_json, out
from mapi_core.constants import DEVICE_STATUS_NAMES
from mapi_core.devices.base import Device
from mapi_core.plugins.types import DeviceDef
from mapi_core.runtime import default_runtime

SYS_NET = Path("/sys/class/net")
LIVE_NOTE = "live capture from network interfaces comes in a later version; this version reads trace files"


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


def interfaces_table(interfaces: list[dict[str, Any]]) -> Table:
    table = Table(title="Network interfaces", title_justify="left")
    for column in ("Name", "State", "MTU", "MAC"):
        table.add_column(column, no_wrap=True)
    for interface in interfaces:
        table.add_row(interface["name"], interface["operstate"], str(interface["mtu"] or "-"), interface["mac"] or "-")
    return table


def _print_devices(console: Console, kinds: list[DeviceDef], devices: list[Device],
                   interfaces: list[dict[str, Any]]) -> None:
    console.print(kinds_table(kinds) if kinds else "No device kinds are installed.")
    console.print(open_devices_table(devices) if devices else "No devices are open in this process.")
    if interfaces:
        console.print(interfaces_table(interfaces))
    else:
        console.print(f"No network interfaces found in {SYS_NET}.")
    console.print(f"[dim]Note: {LIVE_NOTE}.[/]")


@click.group(cls=MapiGroup)
def devices() -> None:
    """Device kinds, open devices and network interfaces."""


@devices.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def list_devices(as_json: bool) -> None:
    """Lists the device kinds the libraries provide, the open devices and the network interfaces."""
    runtime = default_runtime()
    kinds, open_devices, interfaces = runtime.registry.devices, runtime.devices(), network_interfaces()
    if as_json:
        echo_json({"kinds": [kind_record(k) for k in kinds], "open": [device_record(d) for d in open_devices],
                   "interfaces": interfaces, "note": LIVE_NOTE})
        return
    _print_devices(out(), kinds, open_devices, interfaces)
