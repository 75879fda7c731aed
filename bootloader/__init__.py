"""bootloader: Boot Loader Specification entries, GRUB configuration and kernel arguments.

Pure functions over values: nothing here touches a file.
"""

__version__ = "0.1.0"
