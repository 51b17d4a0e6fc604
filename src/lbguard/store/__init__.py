"""lbguard's store: the hash-chained trail of what happened, and the alert outbox.

Every command that records something (baselines, audits, alerts, actions, deploy
markers, drills) goes through this one package, so the trail is one chain and the
timeline can be built from one table.
"""

from lbguard.store.canonical import redact
from lbguard.store.engine import Store, StoreError, default_store_url, open_store
from lbguard.store.outbox import Outbox, OutboxItem
from lbguard.store.trail import TrailRecord, TrailVerdict

__all__ = [
    "Outbox",
    "OutboxItem",
    "Store",
    "StoreError",
    "TrailRecord",
    "TrailVerdict",
    "default_store_url",
    "open_store",
    "redact",
]
