"""The server process around the GraphQL surface: its settings, its command line and its
ASGI app. Nothing here is imported by schema/, resolvers/, models/ or trainer/."""
