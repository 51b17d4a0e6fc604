"""Exact models of how HAProxy 2.6 and nginx 1.22 pick a server, request by request.

`lbguard simulate` predicts each server's share from the config alone. The models
follow the binaries' source code (see the shared algorithms specification) closely
enough to reproduce their request-by-request choices for every deterministic
algorithm; where the real choice depends on the runtime (connection durations,
random draws), the model is stated and seeded.
"""
