"""The live top 10: access, frames, the subscriber registry, the publisher, the hub, WebSocket and SSE.

Imports `boards`; never `settlement`.
"""
