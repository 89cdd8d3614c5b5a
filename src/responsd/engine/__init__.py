"""The agent loop: resolve context, stream the model, turn its deltas into events.

Belongs here: request semantics (what is supported, what the model sees), ids and
indices, the event sequence, the reducer. Does not: HTTP (api/), SQL (store/), any
backend's wire format (providers/).
"""
