"""The ASGI application around the GraphQL schema: app factory, view, transport,
middleware, WebSockets, downloads, health and metrics endpoints."""
