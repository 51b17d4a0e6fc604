"""Health checks that see overload coming: the agent, the middlewares, the probe and the
remediation policy.

Everything here sits above the pure model: it reads /proc, opens sockets and talks to
HAProxy's runtime API. The overload score (`overload`) is shared by every source, so
the agent-check reply, `/readyz` and `lbguard probe` always agree.
"""
