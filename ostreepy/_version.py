"""The version of ostreepy, in the base room so that every layer can name it."""

__version__ = "0.1.0"
