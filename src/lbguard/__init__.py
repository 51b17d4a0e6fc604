"""lbguard: keeps load balancers honest."""

__version__ = "0.1.0"
