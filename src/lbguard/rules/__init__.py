"""The rule registry: an explicit tuple, so the catalogue is what this file says it is."""

from __future__ import annotations

from lbguard.rules.all_servers_backup import AllServersBackup
from lbguard.rules.all_servers_down import AllServersDown
from lbguard.rules.base import Option, Rule, RuleContext
from lbguard.rules.dominant_weight import DominantWeight
from lbguard.rules.duplicate_server_address import DuplicateServerAddress
from lbguard.rules.empty_server_address import EmptyServerAddress
from lbguard.rules.first_without_maxconn import FirstWithoutMaxconn
from lbguard.rules.frontend_without_default_backend import FrontendWithoutDefaultBackend
from lbguard.rules.ip_hash_collapse import IpHashCollapse
from lbguard.rules.low_cardinality_hash_key import LowCardinalityHashKey
from lbguard.rules.low_cardinality_key import LowCardinalityKey
from lbguard.rules.missing_timeouts import MissingTimeouts
from lbguard.rules.next_upstream_off import NextUpstreamOff
from lbguard.rules.no_overload_protection import NoOverloadProtection
from lbguard.rules.no_overload_signal import NoOverloadSignal
from lbguard.rules.passive_checks_disabled import PassiveChecksDisabled
from lbguard.rules.persistence_without_redispatch import PersistenceWithoutRedispatch
from lbguard.rules.predicted_concentration import PredictedConcentration
from lbguard.rules.proxy_pass_bypasses_upstream import ProxyPassBypassesUpstream
from lbguard.rules.quoted_heredoc import QuotedHeredoc
from lbguard.rules.reload_without_validation import ReloadWithoutValidation
from lbguard.rules.servers_without_health_check import ServersWithoutHealthCheck
from lbguard.rules.single_active_server import SingleActiveServer
from lbguard.rules.source_hash_behind_proxy import SourceHashBehindProxy
from lbguard.rules.undefined_backend import UndefinedBackend
from lbguard.rules.unreachable_backend import UnreachableBackend
from lbguard.rules.unset_variable_in_config import UnsetVariableInConfig
from lbguard.rules.wiped_runtime_variable import WipedRuntimeVariable

RULES: tuple[type[Rule], ...] = (
    SingleActiveServer,
    AllServersBackup,
    DominantWeight,
    DuplicateServerAddress,
    EmptyServerAddress,
    SourceHashBehindProxy,
    FirstWithoutMaxconn,
    AllServersDown,
    IpHashCollapse,
    LowCardinalityHashKey,
    PredictedConcentration,
    LowCardinalityKey,
    ServersWithoutHealthCheck,
    NoOverloadProtection,
    PersistenceWithoutRedispatch,
    MissingTimeouts,
    PassiveChecksDisabled,
    NextUpstreamOff,
    UndefinedBackend,
    UnreachableBackend,
    FrontendWithoutDefaultBackend,
    ProxyPassBypassesUpstream,
    UnsetVariableInConfig,
    QuotedHeredoc,
    WipedRuntimeVariable,
    ReloadWithoutValidation,
    NoOverloadSignal,
)


def rule_by_key(key: str) -> type[Rule] | None:
    """Find a rule by code (LBG101) or name (single-active-server)."""
    for rule in RULES:
        if key.upper() == rule.code or key == rule.name:
            return rule
    return None


__all__ = ["RULES", "Option", "Rule", "RuleContext", "rule_by_key"]
