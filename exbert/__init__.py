"""exbert: explore what a transformer's attention heads and layers have learned."""

__version__ = "0.1.0"
