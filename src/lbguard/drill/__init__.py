"""`lbguard drill`: staged balancer incidents on loopback, for practising the diagnosis."""
