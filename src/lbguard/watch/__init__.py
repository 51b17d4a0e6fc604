"""`lbguard watch`: live balancer statistics compared, continuously, with what the config promises.

The package is layered like the rest of lbguard: `snapshot`, `expected`, `detect`,
`sequential` and `alerts` are pure (no I/O, unit-testable on numbers alone);
`collectors`, `receivers`, `outbox`, `metrics` and `daemon` do the I/O; `cli` only
wires them. Importing this package imports nothing heavy, so `lbguard check` stays
fast when settings mention a `[watch]` table.
"""
