"""Who is calling: the request context and services, token lookup (identity cache),
the login limiter, subscription slots and the permission classes."""
