"""Devices: where packets come from (trace files now; NICs, DAG cards, remote probes later)."""
