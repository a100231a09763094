"""Cost measurement: parameters, MACs/FLOPs, latency, throughput and peak memory (``profile``)."""
from .profile import count_macs, count_parameters, format_table, profile_model

__all__ = ["count_macs", "count_parameters", "format_table", "profile_model"]
