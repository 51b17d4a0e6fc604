"""The loopback sandbox: the user's config in the real balancer, against local stubs."""
