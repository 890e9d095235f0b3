"""Live events: written in the ingest's transaction (outbox), relayed after commit, fanned out."""
