"""Container images into the object store, and back (what ostree-ext does for bootc).

Importing this package does not import requests: the registry client is
loaded only when an image is actually fetched.
"""
