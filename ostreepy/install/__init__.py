"""Installing a new machine (to come): ``bootc install to-filesystem`` and
``to-disk``, disk images (raw, qcow2): partition tables, filesystems, the
bootloader, and a first deployment.

Partition tables (GPT) are pure format code; filesystems are made with the
standard tools a user already has for the job. Nothing is here yet; the room
exists so that the capability starts in its place.
"""
