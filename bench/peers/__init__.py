"""Peers: the same operations on another GraphQL server, measured in the same run."""
