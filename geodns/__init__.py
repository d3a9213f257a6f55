"""geodns: an authoritative smart-DNS load balancer."""

__version__ = "0.1.0"
