import os

# timm retries hub downloads for ~45 s when offline; nothing in the tests may touch the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
