"""ociclient: a native OCI distribution client and image-layout reader/writer."""

__version__ = "0.1.0"
